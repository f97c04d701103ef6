#include "bpr/pipeline/cliff.hpp"

#include <catch2/catch.hpp>
#include <vector>

using namespace bpr;

TEST_CASE("find_cliff finds where accuracy leaves the gentle line", "[pipeline][cliff]") {
    // Issue 3's LeNet-5 / Fashion-MNIST sweep (PyTorch, one-shot L1 + 2 epochs), unsorted.
    const std::vector<sweep_point> sweep{{0.95, 0.888}, {0.0, 0.909},  {0.5, 0.908}, {0.8, 0.906},
                                         {0.9, 0.903},  {0.98, 0.835}, {0.99, 0.654}};
    const cliff_result c = find_cliff(sweep);
    REQUIRE(c.found);
    CHECK(c.cliff_sparsity == Approx(0.95));
    CHECK(c.suggested_target == Approx(0.9));
    CHECK(c.index == 4);
    CHECK(c.slope < 0);

    // A straight line has no cliff; the suggestion is the sparsest point.
    const std::vector<sweep_point> line{{0.0, 0.9}, {0.2, 0.89}, {0.4, 0.88}, {0.6, 0.87}};
    const cliff_result none = find_cliff(line);
    CHECK_FALSE(none.found);
    CHECK(none.suggested_target == Approx(0.6));

    // A larger factor tolerates a bigger drop.
    const cliff_result tolerant = find_cliff(sweep, {.factor = 10.0});
    CHECK(tolerant.cliff_sparsity == Approx(0.98));
}

TEST_CASE("find_cliff rejects short or invalid sweeps", "[pipeline][cliff]") {
    const std::vector<sweep_point> short_sweep{{0.1, 0.9}, {0.2, 0.9}, {0.3, 0.9}};
    CHECK_THROWS_WITH(find_cliff(short_sweep), Catch::Contains("3 points"));
    const std::vector<sweep_point> bad{{0.1, 0.9}, {0.2, 0.9}, {0.3, 0.9}, {1.5, 0.2}};
    CHECK_THROWS_WITH(find_cliff(bad), Catch::Contains("1.5"));
    // Accuracies are fractions: a sweep in percent is refused, not fitted.
    const std::vector<sweep_point> percent{{0.0, 90.9}, {0.5, 90.8}, {0.8, 90.6}, {0.9, 90.3}};
    CHECK_THROWS_WITH(find_cliff(percent), Catch::Contains("accuracy 90.9"));
}
