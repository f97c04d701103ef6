// CIFAR-10 binary batches: from memory, or (byte 0 odd) through the path-based loader,
// which also takes gzip.
#include <cstdint>
#include <span>

#include "bpr/data/cifar10.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static bpr_fuzz::memory_file file;
    const std::span<const unsigned char> bytes(data + 1, size - 1);
    bpr_fuzz::expect_parse_or_error([&] {
        if (data[0] & 1)
            bpr::data::load_cifar10_files({file.set(bytes.data(), bytes.size())}, 10);
        else
            bpr::data::parse_cifar10(bytes, "fuzz.bin", 10);
    });
    return 0;
}
