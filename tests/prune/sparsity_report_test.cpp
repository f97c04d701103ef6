#include "bpr/report/sparsity_report.hpp"

#include <catch2/catch.hpp>
#include <sstream>

#include "../sparse/tiny_model.hpp"
#include "bpr/prune/pruner.hpp"

using namespace bpr;

TEST_CASE("sparsity report rows and totals match the masks and the accounting", "[prune][report]") {
    auto net = test::make_tiny_net();
    auto masks = mask_set<>::dense(net);
    pruner<magnitude, uniform_allocation>{}.run(net, masks, budget::sparsity(0.9));
    const auto r = make_sparsity_report(net, masks, storage_format::csr16);
    REQUIRE(r.layers.size() == 3);
    CHECK(r.layers[1].name == "conv2.weight");
    CHECK(r.layers[1].extents == shape{16, 8, 3, 3});
    CHECK(r.layers[1].params == 1152);
    CHECK(r.layers[1].nonzeros == 115);
    CHECK(r.layers[1].density == Approx(115.0 / 1152));
    CHECK(r.layers[1].bytes == 4 * 17 + 6 * 115);
    CHECK(r.prunable == 1528);
    CHECK(r.nonzeros == 152);
    CHECK(r.sparsity == Approx(1 - 152.0 / 1528));
    CHECK(r.dense_params == 16 + 32 + 10);
    CHECK(r.buffer_values == 24);
    CHECK(r.bytes == model_bytes(net, masks, storage_format::csr16));
    index_t sum = 4 * (r.dense_params + r.buffer_values);
    for (const auto& l : r.layers)
        sum += l.bytes;
    CHECK(sum == r.bytes);

    std::ostringstream text;
    r.print(text);
    CHECK_THAT(text.str(), Catch::Contains("conv2.weight") && Catch::Contains("[16, 8, 3, 3]") &&
                               Catch::Contains("9.983%") && Catch::Contains("csr16"));
    const std::string json = r.to_json().str();
    CHECK_THAT(json, Catch::Contains("\"nonzeros\": 152") &&
                         Catch::Contains("\"shape\": [16, 8, 3, 3]") &&
                         Catch::Contains("\"format\": \"csr16\""));
}
