// IDX image and label files: from memory (plain) and through the path-based loaders
// (which also take gzip, so the seeds include .gz files). Byte 0 picks the mode.
#include <cstdint>
#include <span>

#include "bpr/data/idx.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static bpr_fuzz::memory_file file;
    const std::uint8_t mode = data[0];
    const std::span<const unsigned char> bytes(data + 1, size - 1);
    bpr_fuzz::expect_parse_or_error([&] {
        const bool labels = mode & 1;
        if (mode & 2) {
            const std::string& path = file.set(bytes.data(), bytes.size());
            if (labels)
                bpr::data::load_idx_labels(path, 10);
            else
                bpr::data::load_idx_images(path);
        } else if (labels) {
            bpr::data::parse_idx_labels(bytes, 10, "fuzz.idx");
        } else {
            bpr::data::parse_idx_images(bytes, "fuzz.idx");
        }
    });
    return 0;
}
