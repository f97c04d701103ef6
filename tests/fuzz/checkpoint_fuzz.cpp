// Checkpoints, through the public load_checkpoint only (the format is H1's and may
// change; seeds come from save_checkpoint). Byte 0 odd also restores SGD state.
#include <cstdint>

#include "../sparse/tiny_model.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/optim/sgd.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static bpr_fuzz::memory_file file;
    const std::string& path = file.set(data + 1, size - 1);
    static auto model = bpr::test::make_tiny_mlp(1);
    bpr_fuzz::expect_parse_or_error([&] {
        if (data[0] & 1) {
            bpr::sgd optimizer({.momentum = 0.9});
            (void)bpr::load_checkpoint(path, model, optimizer);
        } else {
            (void)bpr::load_checkpoint(path, model);
        }
    });
    return 0;
}
