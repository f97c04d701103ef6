// safetensors files: parsing and validation, conversion of every tensor, and (byte 0
// odd) loading into a small model with masks, by PyTorch-style names.
#include <cstdint>
#include <string>

#include "../sparse/tiny_model.hpp"
#include "bpr/io/safetensors.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
    bpr_fuzz::expect_parse_or_error([&] {
        const auto file = bpr::safetensors_file::parse(bytes, "fuzz.safetensors");
        if (data[0] & 1) {
            auto model = bpr::test::make_tiny_mlp(1);
            bpr::mask_set<> masks;
            bpr::load_safetensors(file, model, &masks);
            return;
        }
        // A named loop variable, not a structured binding: clang 14 cannot capture those.
        for (const auto& entry : file.tensors()) {
            const std::string& name = entry.first;
            (void)entry.second.element_count();
            bpr_fuzz::expect_parse_or_error([&] { (void)file.to_tensor<float>(name); });
            bpr_fuzz::expect_parse_or_error([&] { (void)file.values<double>(name); });
        }
    });
    return 0;
}
