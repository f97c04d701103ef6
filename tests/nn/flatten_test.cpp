#include <catch2/catch.hpp>

#include "bpr/core/rng.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/testing/gradient_check.hpp"

static_assert(bpr::layer<bpr::flatten<float>>);

TEST_CASE("flatten keeps the batch axis and the element order", "[nn][flatten]") {
    bpr::flatten<float> f;
    CHECK(f.output_shape({8, 16, 4, 4}) == bpr::shape{8, 256});
    CHECK(f.output_shape({8, 10}) == bpr::shape{8, 10});
    CHECK(f.output_shape({5}) == bpr::shape{5, 1});
    bpr::tensor<float> x({2, 3, 1, 2}), out;
    for (int i = 0; i < 12; ++i)
        x[i] = static_cast<float>(i);
    f.forward(x, out, bpr::mode::train);
    REQUIRE(out.shape() == bpr::shape{2, 6});
    for (int i = 0; i < 12; ++i)
        CHECK(out[i] == static_cast<float>(i));
    REQUIRE_THROWS_WITH(f.output_shape(bpr::shape{}), Catch::Matchers::Contains("flatten"));
}

TEST_CASE("flatten backward passes the gradient check", "[nn][flatten]") {
    bpr::rng r(19);
    bpr::flatten<double> f;
    const auto report = bpr::testing::check_gradients(f, {2, 3, 2, 2}, r);
    INFO(report.str());
    REQUIRE(report.max_relative_error < 1e-6);
}
