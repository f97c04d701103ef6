// Sparse model files, read into the small test network. Byte 0 bit 0 makes the
// harness recompute the checksum field (bytes 56..63) first, so that mutations reach
// the payload decoder instead of stopping at the checksum; bit 1 reads channel masks.
#include <cstdint>
#include <cstring>
#include <string>

#include "../sparse/tiny_model.hpp"
#include "bpr/io/sparse_model.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
    if ((mode & 1) && bytes.size() >= bpr::sparse_header_bytes) {
        bpr::detail::fnv1a checksum;
        checksum.add(bytes.data(), bpr::sparse_header_bytes - 8);
        checksum.add(bytes.data() + bpr::sparse_header_bytes,
                     bytes.size() - bpr::sparse_header_bytes);
        std::memcpy(bytes.data() + bpr::sparse_header_bytes - 8, &checksum.hash, 8);
    }
    static auto model = bpr::test::make_tiny_net(1);
    bpr_fuzz::expect_parse_or_error([&] {
        if (mode & 2)
            (void)bpr::parse_sparse_model<bpr::channel>(bytes, model, "fuzz.bprs");
        else
            (void)bpr::parse_sparse_model(bytes, model, "fuzz.bprs");
    });
    return 0;
}
