#include "bpr/sparse/format.hpp"

#include <catch2/catch.hpp>

#include "tiny_model.hpp"

using namespace bpr;

TEST_CASE("csr16 and bitmap byte accounting per tensor", "[sparse][format]") {
    // [16, 8, 3, 3]: 16 rows of 72 columns.
    const auto csr = tensor_cost(storage_format::csr16, {16, 8, 3, 3});
    CHECK(csr.fixed == 4 * (16 + 1));
    CHECK(csr.per_nonzero == 6);
    CHECK(csr.bytes(100) == 68 + 600);
    const auto bitmap = tensor_cost(storage_format::bitmap, {16, 8, 3, 3});
    CHECK(bitmap.fixed == 144);  // 1152 bits
    CHECK(bitmap.bytes(100) == 144 + 400);
    CHECK(tensor_cost(storage_format::bitmap, {3, 3}).fixed == 2);  // 9 bits round up
}

TEST_CASE("csr16 splits rows longer than 65536 columns into segments", "[sparse][format]") {
    CHECK(csr16_segments(1) == 1);
    CHECK(csr16_segments(65536) == 1);
    CHECK(csr16_segments(65537) == 2);
    CHECK(csr16_segments(3 * 65536) == 3);
    // 2 rows of 70000 columns: 2 segments each, 4 CSR rows, 5 row pointers.
    CHECK(tensor_cost(storage_format::csr16, {2, 70000}).fixed == 4 * 5);
}

TEST_CASE("model cost counts dense parameters and buffers as fp32", "[sparse][format]") {
    auto net = test::make_tiny_net();
    // Dense: bn scale/shift 2*8 + 2*16, running means 8 + 16, fc bias 10.
    const index_t dense = 4 * (16 + 32 + 24 + 10);
    const auto csr = model_cost(net, storage_format::csr16);
    CHECK(csr.fixed == dense + 4 * (9 + 17 + 11));
    CHECK(csr.per_nonzero == 6);
    const auto bitmap = model_cost(net, storage_format::bitmap);
    CHECK(bitmap.fixed == dense + 27 + 144 + 20);
    CHECK(bitmap.per_nonzero == 4);
    auto masks = mask_set<>::dense(net);
    CHECK(model_bytes(net, masks, storage_format::bitmap) == bitmap.fixed + 4 * 1528);
}

TEST_CASE("format names parse and unknown names are errors", "[sparse][format]") {
    CHECK(parse_format("csr16") == storage_format::csr16);
    CHECK(parse_format("bitmap") == storage_format::bitmap);
    CHECK(format_name(storage_format::bitmap) == "bitmap");
    CHECK_THROWS_WITH(parse_format("coo"), Catch::Contains("'coo'"));
}
