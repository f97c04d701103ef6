#include "bpr/nn/concat.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/residual.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/testing/gradient_check.hpp"

#include "../support/random_values.hpp"

namespace {

template <typename T>
using bottleneck =
    bpr::sequential<bpr::named<"bn1", bpr::batchnorm<T>>, bpr::relu<T>,
                    bpr::named<"conv1", bpr::conv2d<T>>, bpr::named<"bn2", bpr::batchnorm<T>>,
                    bpr::relu<T>, bpr::named<"conv2", bpr::conv2d<T>>>;

template <typename T>
bottleneck<T> make_bottleneck(bpr::index_t in, bpr::index_t growth) {
    return bottleneck<T>(bpr::batchnorm<T>(in), bpr::relu<T>{}, bpr::conv2d<T>(in, 2 * growth, 1),
                         bpr::batchnorm<T>(2 * growth), bpr::relu<T>{},
                         bpr::conv2d<T>(2 * growth, growth, 3, 1, 1));
}

}  // namespace

TEST_CASE("concat stacks branch outputs along the channels, in branch order", "[nn][concat]") {
    // Branch 0 doubles the input (1x1 conv with weight 2 on one channel -> one channel),
    // branch 1 is the identity.
    bpr::concat<bpr::conv2d<float>, bpr::identity<float>> layer(bpr::conv2d<float>(2, 1, 1),
                                                                bpr::identity<float>{});
    auto& w = layer.get<0>().weight().value;
    w[0] = 2.0f, w[1] = 0.0f;
    bpr::tensor<float> x({2, 2, 1, 3});
    for (bpr::index_t i = 0; i < x.size(); ++i)
        x[i] = float(i);
    REQUIRE(layer.output_shape(x.shape()) == bpr::shape({2, 3, 1, 3}));
    bpr::tensor<float> y;
    layer.forward(x, y, bpr::mode::train);
    REQUIRE(y.shape() == bpr::shape({2, 3, 1, 3}));
    for (bpr::index_t n = 0; n < 2; ++n)
        for (bpr::index_t i = 0; i < 3; ++i) {
            CHECK(y(n, 0, 0, i) == 2 * x(n, 0, 0, i));
            CHECK(y(n, 1, 0, i) == x(n, 0, 0, i));
            CHECK(y(n, 2, 0, i) == x(n, 1, 0, i));
        }
    // grad_in = identity slice + conv's backward of its slice.
    bpr::tensor<float> dy(y.shape(), 1.0f), dx;
    layer.backward(x, y, dy, dx);
    CHECK(dx(0, 0, 0, 0) == 3.0f);
    CHECK(dx(1, 1, 0, 2) == 1.0f);
}

TEST_CASE("concat of a DenseNet bottleneck and the identity passes the gradient check",
          "[nn][concat]") {
    bpr::concat<bottleneck<double>, bpr::identity<double>> layer(make_bottleneck<double>(3, 2),
                                                                 bpr::identity<double>{});
    bpr_test::randomize_params(layer, 11);
    bpr::rng g(2);
    REQUIRE(layer.output_shape({2, 3, 4, 4}) == bpr::shape({2, 5, 4, 4}));
    const auto report = bpr::testing::check_gradients(layer, {2, 3, 4, 4}, g);
    INFO(report.str());
    CHECK(report.max_relative_error < 1e-5);
    // Unnamed branches report under the prefix directly, as kuangliu's dense1.0.conv1.
    std::vector<std::string> names;
    bpr::visit_params(layer, [&](std::size_t, const std::string& n, auto&) { names.push_back(n); });
    CHECK(names == std::vector<std::string>{"bn1.weight", "bn1.bias", "conv1.weight", "bn2.weight",
                                            "bn2.bias", "conv2.weight"});
}

TEST_CASE("concat names named branches and checks their shapes", "[nn][concat]") {
    bpr::concat<bpr::named<"a", bpr::conv2d<float>>, bpr::named<"b", bpr::conv2d<float>>> layer(
        bpr::conv2d<float>(2, 1, 1), bpr::conv2d<float>(2, 1, 3, 2, 1));
    std::vector<std::string> names;
    bpr::visit_params(layer, [&](std::size_t, const std::string& n, auto&) { names.push_back(n); });
    CHECK(names == std::vector<std::string>{"a.weight", "b.weight"});
    CHECK_THROWS_WITH(layer.output_shape({1, 2, 4, 4}),
                      Catch::Contains("branch 1") && Catch::Contains("[1, 1, 2, 2]"));
    CHECK_THROWS_WITH(layer.output_shape({1, 3, 4, 4}), Catch::Contains("concat branch 0"));
}
