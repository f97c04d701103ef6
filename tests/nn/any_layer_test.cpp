#include "bpr/nn/any_layer.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/dropout.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/testing/gradient_check.hpp"

#include "../support/random_values.hpp"

namespace {

template <typename T>
using small_net =
    bpr::sequential<bpr::named<"conv", bpr::conv2d<T>>, bpr::named<"bn", bpr::batchnorm<T>>,
                    bpr::relu<T>, bpr::global_avg_pool<T>, bpr::dropout<T>,
                    bpr::named<"fc", bpr::linear<T>>>;

template <typename T>
small_net<T> make_small_net() {
    return small_net<T>(bpr::conv2d<T>(2, 4, 3, 1, 1), bpr::batchnorm<T>(4), bpr::relu<T>{},
                        bpr::global_avg_pool<T>{}, bpr::dropout<T>(0.0), bpr::linear<T>(4, 3));
}

template <typename Layer>
std::vector<std::string> buffer_names(Layer& layer) {
    std::vector<std::string> names;
    bpr::visit_buffers(layer, [&](const std::string& name, auto&) { names.push_back(name); });
    return names;
}

template <typename Layer>
std::size_t generator_count(Layer& layer) {
    std::size_t count = 0;
    bpr::visit_generators(layer, [&](const std::string&, bpr::rng&) { ++count; });
    return count;
}

}  // namespace

TEST_CASE("any_layer computes what the layer it holds computes", "[nn][any_layer]") {
    small_net<float> concrete = make_small_net<float>();
    bpr_test::randomize_params(concrete, 3);
    bpr::any_layer<float> erased(concrete);  // a copy: the two must agree bit for bit

    bpr::rng generator(5);
    bpr::tensor<float> x = bpr_test::uniform_tensor<float>({2, 2, 5, 5}, generator);
    bpr::tensor<float> y_concrete, y_erased;
    concrete.forward(x, y_concrete, bpr::mode::train);
    erased.forward(x, y_erased, bpr::mode::train);
    REQUIRE(erased.output_shape(x.shape()) == y_concrete.shape());
    REQUIRE(y_erased.shape() == y_concrete.shape());
    for (bpr::index_t i = 0; i < y_concrete.size(); ++i)
        CHECK(y_erased[i] == y_concrete[i]);

    bpr::tensor<float> dy = bpr_test::uniform_tensor<float>(y_concrete.shape(), generator);
    bpr::tensor<float> dx_concrete, dx_erased;
    concrete.backward(x, y_concrete, dy, dx_concrete);
    erased.backward(x, y_erased, dy, dx_erased);
    for (bpr::index_t i = 0; i < x.size(); ++i)
        CHECK(dx_erased[i] == dx_concrete[i]);

    // The same parameters in the same order under the same names, with the same gradients.
    std::vector<const bpr::param<float>*> concrete_params;
    bpr::visit_params(
        concrete, [&](std::size_t, const std::string&, auto& p) { concrete_params.push_back(&p); });
    REQUIRE(bpr_test::param_names(erased) == bpr_test::param_names(concrete));
    REQUIRE(bpr_test::param_names(erased) == std::vector<std::string>{"conv.weight", "bn.weight",
                                                                      "bn.bias", "fc.weight",
                                                                      "fc.bias"});
    bpr::visit_params(erased, [&](std::size_t index, const std::string& name, auto& p) {
        INFO(name);
        const bpr::param<float>& twin = *concrete_params.at(index);
        REQUIRE(p.grad.shape() == twin.grad.shape());
        for (bpr::index_t i = 0; i < p.grad.size(); ++i)
            CHECK(p.grad[i] == twin.grad[i]);
    });
    CHECK(buffer_names(erased) == buffer_names(concrete));
    CHECK(buffer_names(erased) == std::vector<std::string>{"bn.running_mean", "bn.running_var"});
    CHECK(generator_count(erased) == 1);
    CHECK(bpr::count_params(erased) == bpr::count_params(concrete));
}

TEST_CASE("any_layer's backward passes the finite-difference check", "[nn][any_layer]") {
    bpr::any_layer<double> erased(make_small_net<double>());
    bpr_test::randomize_params_with_unit_scales(erased, 7);
    bpr::rng generator(11);
    const auto report = bpr::testing::check_gradients(erased, {3, 2, 4, 4}, generator);
    INFO(report.str());
    CHECK(report.entries_checked > 0);
    CHECK(report.max_relative_error < 1e-5);
}

TEST_CASE("any_layer copies deeply and forwards set_sparse_density", "[nn][any_layer]") {
    bpr::any_layer<float> original(make_small_net<float>());
    bpr_test::randomize_params(original, 13);
    bpr::any_layer<float> copy = original;
    bpr::visit_params(copy, [](std::size_t, const std::string&, auto& p) { p.value.fill(0.0f); });
    double original_sum = 0.0;
    bpr::visit_params(original, [&](std::size_t, const std::string&, auto& p) {
        for (float v : p.value)
            original_sum += std::abs(double(v));
    });
    CHECK(original_sum > 0.0);  // zeroing the copy left the original alone

    // Through the wrapper, visit_layers sees one layer with set_sparse_density, which
    // reaches the conv2d inside; an out-of-range density is conv2d's own error.
    CHECK_NOTHROW(bpr::set_sparse_density(copy, 0.5));
    CHECK_THROWS_WITH(bpr::set_sparse_density(copy, 1.5),
                      Catch::Contains("density must be in [0, 1], got 1.5"));

    // target<L>() gives the held layer back, only as its own type.
    REQUIRE(original.target<small_net<float>>() != nullptr);
    CHECK(original.target<bpr::relu<float>>() == nullptr);
    bpr::visit_params(*original.target<small_net<float>>(),
                      [](std::size_t, const std::string&, auto& p) { p.value.fill(2.0f); });
    bpr::visit_params(original, [](std::size_t, const std::string&, auto& p) {
        for (float v : p.value)
            CHECK(v == 2.0f);
    });

    bpr::any_layer<float> moved = std::move(copy);
    CHECK(bpr::count_params(moved) == bpr::count_params(original));
    // NOLINTNEXTLINE(bugprone-use-after-move): the moved-from wrapper's error is the point
    CHECK_THROWS_WITH(copy.output_shape({1, 2, 5, 5}), Catch::Contains("moved from"));
}
