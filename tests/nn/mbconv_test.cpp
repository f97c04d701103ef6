#include "bpr/nn/mbconv.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/testing/gradient_check.hpp"

#include "../support/random_values.hpp"

TEST_CASE("mbconv names its parameters as the reference", "[nn][mbconv]") {
    bpr::mbconv<float> plain({.in_channels = 4, .out_channels = 4, .kernel = 3, .expansion = 1});
    CHECK(plain.has_skip());
    CHECK(bpr_test::param_names(plain) ==
          std::vector<std::string>{"conv2.weight", "bn2.weight", "bn2.bias", "se.se1.weight",
                                   "se.se1.bias", "se.se2.weight", "se.se2.bias", "conv3.weight",
                                   "bn3.weight", "bn3.bias"});
    bpr::mbconv<float> expanded(
        {.in_channels = 4, .out_channels = 6, .kernel = 5, .stride = 2, .expansion = 6});
    CHECK_FALSE(expanded.has_skip());
    const auto names = bpr_test::param_names(expanded);
    REQUIRE(names.size() == 13);
    CHECK(names[0] == "conv1.weight");
    CHECK(expanded.output_shape({2, 4, 7, 7}) == bpr::shape({2, 6, 4, 4}));
    // 4*24 + 2*24 + 24*25 + 2*24 + (1*24+1) + (24*1+24) + 24*6 + 2*6
    CHECK(bpr::count_params(expanded) == 96 + 48 + 600 + 48 + 25 + 48 + 144 + 12);
    CHECK_THROWS_WITH(bpr::mbconv<float>({.in_channels = 4, .out_channels = 4, .kernel = 4}),
                      Catch::Contains("kernel must be odd"));
    CHECK_THROWS_WITH(expanded.output_shape({2, 3, 7, 7}), Catch::Contains("mbconv"));
}

TEST_CASE("mbconv passes the gradient check", "[nn][mbconv]") {
    bpr::rng g(4);
    SECTION("expansion 1 with skip") {
        bpr::mbconv<double> block({.in_channels = 4, .out_channels = 4, .kernel = 3});
        bpr_test::randomize_params_with_unit_scales(block, 1);
        const auto report = bpr::testing::check_gradients(block, {2, 4, 3, 3}, g);
        INFO(report.str());
        CHECK(report.max_relative_error < 1e-5);
    }
    SECTION("expansion 3, stride 2, no skip") {
        bpr::mbconv<double> block(
            {.in_channels = 2, .out_channels = 3, .kernel = 5, .stride = 2, .expansion = 3});
        bpr_test::randomize_params_with_unit_scales(block, 2);
        const auto report = bpr::testing::check_gradients(block, {2, 2, 5, 5}, g);
        INFO(report.str());
        CHECK(report.max_relative_error < 1e-5);
    }
    SECTION("expansion 2 with skip and drop-connect") {
        bpr::mbconv<double> block(
            {.in_channels = 2, .out_channels = 2, .kernel = 3, .expansion = 2, .drop_rate = 0.5});
        bpr_test::randomize_params_with_unit_scales(block, 3);
        const auto report = bpr::testing::check_gradients(block, {4, 2, 3, 3}, g);
        INFO(report.str());
        CHECK(report.max_relative_error < 1e-5);
    }
}

TEST_CASE("mbconv drop-connect zeroes whole samples of the branch in train mode only",
          "[nn][mbconv]") {
    bpr::mbconv<float> block({.in_channels = 2, .out_channels = 2, .drop_rate = 0.5});
    bpr_test::randomize_params_with_unit_scales(block, 4);
    bpr::tensor<float> x({16, 2, 3, 3});
    bpr::rng g(1);
    for (auto& v : x)
        v = static_cast<float>(g.uniform(-1, 1));
    bpr::tensor<float> y;
    block.seed(42);
    block.forward(x, y, bpr::mode::train);
    int dropped = 0;
    const bpr::index_t per_sample = 18;
    for (bpr::index_t n = 0; n < 16; ++n) {
        bool same = true;
        for (bpr::index_t j = 0; j < per_sample; ++j)
            same = same && y[n * per_sample + j] == x[n * per_sample + j];
        dropped += same;
    }
    CHECK(dropped > 0);
    CHECK(dropped < 16);
    // Same seed, same mask.
    bpr::tensor<float> again;
    block.seed(42);
    block.forward(x, again, bpr::mode::train);
    for (bpr::index_t i = 0; i < y.size(); ++i)
        REQUIRE(again[i] == y[i]);
}
