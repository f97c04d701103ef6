#include "bpr/regrow/allocation.hpp"

#include <catch2/catch.hpp>
#include <vector>

using namespace bpr;

static_assert(allocation<top_k>);
static_assert(allocation<proportional>);
static_assert(allocation<capped_top_k>);

namespace {
allocation_layer dead_layer(std::vector<double> scores) {
    allocation_layer l;
    l.extents = shape{static_cast<index_t>(scores.size())};
    l.unit_scores = std::move(scores);
    l.unit_sizes.assign(l.unit_scores.size(), 1);
    l.eligible.assign(l.unit_scores.size(), 1);
    l.cap = l.extents.numel();
    return l;
}
}  // namespace

TEST_CASE("capped top-k limits each layer's share of one step", "[regrow][allocation]") {
    // Layer 0 has all the best scores; plain top-k gives it everything.
    std::vector<allocation_layer> layers{dead_layer({9, 9, 9, 9, 9, 9}), dead_layer({1, 2, 3, 4})};
    top_k{}.allocate(layers, 4);
    CHECK(layers[0].kept_weights() == 4);
    CHECK(layers[1].kept_weights() == 0);

    std::vector<allocation_layer> capped{dead_layer({9, 9, 9, 9, 9, 9}), dead_layer({1, 2, 3, 4})};
    capped_top_k{.max_share = 0.5}.allocate(capped, 4);
    CHECK(capped[0].kept_weights() == 2);
    CHECK(capped[1].kept_weights() == 2);
    CHECK(capped[1].keep == std::vector<std::uint8_t>{0, 0, 1, 1});  // its best two

    CHECK_THROWS_WITH(capped_top_k{.max_share = 0}.allocate(capped, 4),
                      Catch::Contains("max_share"));
}

TEST_CASE("proportional splits by layer size", "[regrow][allocation]") {
    std::vector<allocation_layer> layers{dead_layer(std::vector<double>(30, 1.0)),
                                         dead_layer(std::vector<double>(10, 5.0))};
    proportional{}.allocate(layers, 8);
    CHECK(layers[0].kept_weights() == 6);
    CHECK(layers[1].kept_weights() == 2);
}
