#include "bpr/nn/residual.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/testing/gradient_check.hpp"

#include "../support/random_values.hpp"

namespace {

template <typename T>
using main_path =
    bpr::sequential<bpr::named<"conv1", bpr::conv2d<T>>, bpr::named<"bn1", bpr::batchnorm<T>>,
                    bpr::relu<T>, bpr::named<"conv2", bpr::conv2d<T>>,
                    bpr::named<"bn2", bpr::batchnorm<T>>>;

template <typename T>
main_path<T> make_main(bpr::index_t in, bpr::index_t out, bpr::index_t stride) {
    return main_path<T>(bpr::conv2d<T>(in, out, 3, stride, 1), bpr::batchnorm<T>(out),
                        bpr::relu<T>{}, bpr::conv2d<T>(out, out, 3, 1, 1), bpr::batchnorm<T>(out));
}

template <typename T>
using projection = bpr::sequential<bpr::conv2d<T>, bpr::batchnorm<T>>;

}  // namespace

TEST_CASE("identity passes values and gradients through", "[nn][residual]") {
    bpr::identity<float> id;
    bpr::tensor<float> x({2, 3}), y, dy({2, 3}), dx;
    for (int i = 0; i < 6; ++i)
        x[i] = float(i) - 2.5f, dy[i] = float(i * i);
    id.forward(x, y, bpr::mode::train);
    id.backward(x, y, dy, dx);
    for (int i = 0; i < 6; ++i) {
        CHECK(y[i] == x[i]);
        CHECK(dx[i] == dy[i]);
    }
}

TEST_CASE("channel_pad_shortcut subsamples and pads channels evenly", "[nn][residual]") {
    bpr::channel_pad_shortcut<float> shortcut(2, 4, 2);
    bpr::tensor<float> x({1, 2, 3, 3});
    for (bpr::index_t i = 0; i < x.size(); ++i)
        x[i] = float(i + 1);
    REQUIRE(shortcut.output_shape(x.shape()) == bpr::shape({1, 4, 2, 2}));
    bpr::tensor<float> y;
    shortcut.forward(x, y, bpr::mode::train);
    REQUIRE(y.shape() == bpr::shape({1, 4, 2, 2}));
    // Channels 0 and 3 are the padding; channel c of x lands in c + 1 at pixels (0,2)^2.
    for (bpr::index_t h = 0; h < 2; ++h)
        for (bpr::index_t w = 0; w < 2; ++w) {
            CHECK(y(0, 0, h, w) == 0.0f);
            CHECK(y(0, 3, h, w) == 0.0f);
            CHECK(y(0, 1, h, w) == x(0, 0, 2 * h, 2 * w));
            CHECK(y(0, 2, h, w) == x(0, 1, 2 * h, 2 * w));
        }
    bpr::tensor<float> dy(y.shape(), 1.0f), dx;
    shortcut.backward(x, y, dy, dx);
    REQUIRE(dx.shape() == x.shape());
    float total = 0;
    for (float v : dx)
        total += v;
    CHECK(total == 8.0f);  // 2 channels x 4 sampled pixels
    CHECK(dx(0, 1, 1, 1) == 0.0f);
    CHECK(dx(0, 1, 2, 2) == 1.0f);

    CHECK_THROWS_WITH(bpr::channel_pad_shortcut<float>(4, 7, 2), Catch::Contains("out_channels 7"));
    CHECK_THROWS_WITH(shortcut.output_shape({1, 3, 4, 4}), Catch::Contains("3 channels"));
}

TEST_CASE("residual adds main and shortcut and applies after", "[nn][residual]") {
    // main = relu (no params), shortcut identity, after relu: out = relu(relu(x) + x).
    bpr::residual<bpr::relu<float>, bpr::identity<float>, bpr::relu<float>> block;
    bpr::tensor<float> x({1, 4});
    x[0] = -2, x[1] = -0.5, x[2] = 1, x[3] = 3;
    bpr::tensor<float> y;
    block.forward(x, y, bpr::mode::train);
    CHECK(y[0] == 0.0f);
    CHECK(y[1] == 0.0f);
    CHECK(y[2] == 2.0f);
    CHECK(y[3] == 6.0f);
    bpr::tensor<float> dy({1, 4}, 1.0f), dx;
    block.backward(x, y, dy, dx);
    CHECK(dx[0] == 0.0f);  // after's relu is off
    CHECK(dx[2] == 2.0f);  // main and shortcut both pass
}

TEMPLATE_TEST_CASE("residual basic blocks pass the gradient check", "[nn][residual]", double) {
    using T = TestType;
    bpr::rng g(7);
    SECTION("identity shortcut") {
        bpr::residual<main_path<T>, bpr::identity<T>, bpr::relu<T>> block(make_main<T>(3, 3, 1));
        bpr_test::randomize_params_with_unit_scales(block, 1);
        const auto report = bpr::testing::check_gradients(block, {2, 3, 4, 4}, g);
        INFO(report.str());
        CHECK(report.max_relative_error < 1e-5);
        CHECK(bpr_test::param_names(block) == std::vector<std::string>{"conv1.weight", "bn1.weight",
                                                                       "bn1.bias", "conv2.weight",
                                                                       "bn2.weight", "bn2.bias"});
    }
    SECTION("option A: channel padding shortcut") {
        bpr::residual<main_path<T>, bpr::channel_pad_shortcut<T>, bpr::relu<T>> block(
            make_main<T>(2, 4, 2), bpr::channel_pad_shortcut<T>(2, 4, 2));
        bpr_test::randomize_params_with_unit_scales(block, 2);
        REQUIRE(block.output_shape({2, 2, 5, 5}) == bpr::shape({2, 4, 3, 3}));
        const auto report = bpr::testing::check_gradients(block, {2, 2, 5, 5}, g);
        INFO(report.str());
        CHECK(report.max_relative_error < 1e-5);
    }
    SECTION("option B: projection shortcut, named as PyTorch") {
        using block_t = bpr::residual<main_path<T>, bpr::maybe<projection<T>>, bpr::relu<T>>;
        block_t block(make_main<T>(2, 4, 2),
                      bpr::maybe<projection<T>>(
                          projection<T>(bpr::conv2d<T>(2, 4, 1, 2), bpr::batchnorm<T>(4))));
        bpr_test::randomize_params_with_unit_scales(block, 3);
        const auto report = bpr::testing::check_gradients(block, {2, 2, 4, 4}, g);
        INFO(report.str());
        CHECK(report.max_relative_error < 1e-5);
        const auto names = bpr_test::param_names(block);
        REQUIRE(names.size() == 9);
        CHECK(names[6] == "shortcut.0.weight");
        CHECK(names[7] == "shortcut.1.weight");
        std::vector<std::string> buffers;
        bpr::visit_buffers(block, [&](const std::string& name, auto&) { buffers.push_back(name); });
        CHECK(buffers.back() == "shortcut.1.running_var");
    }
    SECTION("empty maybe is the identity") {
        bpr::residual<main_path<T>, bpr::maybe<projection<T>>, bpr::relu<T>> block(
            make_main<T>(3, 3, 1));
        bpr_test::randomize_params_with_unit_scales(block, 4);
        CHECK(bpr_test::param_names(block).size() == 6);
        const auto report = bpr::testing::check_gradients(block, {2, 3, 3, 3}, g);
        INFO(report.str());
        CHECK(report.max_relative_error < 1e-5);
    }
}

TEST_CASE("residual reports mismatched branches", "[nn][residual]") {
    bpr::residual<main_path<float>> block(make_main<float>(2, 4, 2));
    CHECK_THROWS_WITH(block.output_shape({1, 2, 4, 4}),
                      Catch::Contains("residual") && Catch::Contains("[1, 2, 4, 4]"));
    bpr::tensor<float> x({1, 2, 4, 4}), y;
    CHECK_THROWS_AS(block.forward(x, y, bpr::mode::train), bpr::error);
    CHECK_THROWS_WITH(block.output_shape({1, 5, 4, 4}), Catch::Contains("residual (main)"));
}
