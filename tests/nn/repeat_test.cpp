#include "bpr/nn/repeat.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/residual.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/testing/gradient_check.hpp"

#include "../support/random_values.hpp"

namespace {

template <typename T>
using unit = bpr::residual<bpr::sequential<bpr::named<"conv1", bpr::conv2d<T>>>,
                           bpr::channel_pad_shortcut<T>, bpr::relu<T>>;

template <typename T>
unit<T> make_unit(bpr::index_t in, bpr::index_t out, bpr::index_t stride) {
    return unit<T>(
        bpr::sequential<bpr::named<"conv1", bpr::conv2d<T>>>(bpr::conv2d<T>(in, out, 3, stride, 1)),
        bpr::channel_pad_shortcut<T>(in, out, stride));
}

}  // namespace

TEST_CASE("repeat chains blocks whose sizes differ at run time", "[nn][repeat]") {
    bpr::repeat<unit<float>> stage;
    stage.push_back(make_unit<float>(2, 4, 2));
    stage.push_back(make_unit<float>(4, 4, 1));
    stage.push_back(make_unit<float>(4, 4, 1));
    REQUIRE(stage.size() == 3);
    CHECK(stage.output_shape({2, 2, 8, 8}) == bpr::shape({2, 4, 4, 4}));

    std::vector<std::string> names;
    bpr::visit_params(stage, [&](std::size_t, const std::string& n, auto&) { names.push_back(n); });
    CHECK(names == std::vector<std::string>{"0.conv1.weight", "1.conv1.weight", "2.conv1.weight"});

    // Each block's output feeds the next: compare with running the blocks by hand.
    bpr_test::randomize_params(stage, 3);
    bpr::tensor<float> x({2, 2, 8, 8});
    bpr::rng g(1);
    for (auto& v : x)
        v = static_cast<float>(g.uniform(-1, 1));
    bpr::tensor<float> y, a, b, c;
    stage.forward(x, y, bpr::mode::eval);
    stage[0].forward(x, a, bpr::mode::eval);
    stage[1].forward(a, b, bpr::mode::eval);
    stage[2].forward(b, c, bpr::mode::eval);
    REQUIRE(y.shape() == c.shape());
    for (bpr::index_t i = 0; i < y.size(); ++i)
        CHECK(y[i] == c[i]);
}

TEST_CASE("repeat passes the gradient check", "[nn][repeat]") {
    bpr::repeat<unit<double>> stage(
        std::vector<unit<double>>{make_unit<double>(2, 4, 2), make_unit<double>(4, 4, 1)});
    bpr_test::randomize_params(stage, 5);
    bpr::rng g(9);
    const auto report = bpr::testing::check_gradients(stage, {2, 2, 5, 5}, g);
    INFO(report.str());
    CHECK(report.max_relative_error < 1e-5);
}

TEST_CASE("repeat reports which block failed and refuses to be empty", "[nn][repeat]") {
    bpr::repeat<unit<float>> stage;
    CHECK_THROWS_WITH(stage.output_shape({1, 2, 4, 4}), Catch::Contains("repeat: has no blocks"));
    stage.push_back(make_unit<float>(2, 4, 2));
    stage.push_back(make_unit<float>(2, 4, 1));  // wrong: expects 2 channels after block 0
    CHECK_THROWS_WITH(stage.output_shape({1, 2, 4, 4}),
                      Catch::StartsWith("repeat block 1:") && Catch::Contains("4 channels"));
}
