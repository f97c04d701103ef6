#include <catch2/catch.hpp>

#include <cmath>

#include "bpr/core/rng.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/testing/gradient_check.hpp"

static_assert(bpr::layer<bpr::relu<float>>);
static_assert(bpr::layer<bpr::relu6<float>>);
static_assert(bpr::layer<bpr::silu<float>>);
static_assert(bpr::layer<bpr::sigmoid<float>>);

namespace {

template <typename Layer>
bpr::tensor<double> apply(const std::vector<double>& values) {
    Layer l;
    bpr::tensor<double> in({static_cast<bpr::index_t>(values.size())}), out;
    for (std::size_t i = 0; i < values.size(); ++i)
        in[static_cast<bpr::index_t>(i)] = values[i];
    l.forward(in, out, bpr::mode::train);
    return out;
}

}  // namespace

TEST_CASE("activations forward match hand-computed values", "[nn][activation]") {
    const std::vector<double> x = {-7.0, -1.0, 0.0, 0.5, 6.5};
    const auto relu = apply<bpr::relu<double>>(x);
    const auto relu6 = apply<bpr::relu6<double>>(x);
    const auto sigmoid = apply<bpr::sigmoid<double>>(x);
    const auto silu = apply<bpr::silu<double>>(x);
    const double relu_expected[] = {0, 0, 0, 0.5, 6.5};
    const double relu6_expected[] = {0, 0, 0, 0.5, 6.0};
    for (int i = 0; i < 5; ++i) {
        CHECK(relu[i] == relu_expected[i]);
        CHECK(relu6[i] == relu6_expected[i]);
        const double s = 1.0 / (1.0 + std::exp(-x[i]));
        CHECK(sigmoid[i] == Approx(s).epsilon(1e-14));
        CHECK(silu[i] == Approx(x[i] * s).epsilon(1e-14).margin(1e-300));
    }
    CHECK(sigmoid[2] == 0.5);
}

TEST_CASE("sigmoid and silu stay finite for huge inputs", "[nn][activation]") {
    const std::vector<double> x = {-1000.0, 1000.0};
    const auto sigmoid = apply<bpr::sigmoid<double>>(x);
    const auto silu = apply<bpr::silu<double>>(x);
    CHECK(sigmoid[0] == 0.0);
    CHECK(sigmoid[1] == 1.0);
    CHECK(silu[0] == 0.0);  // -1000 * 0, not NaN
    CHECK(silu[1] == 1000.0);
}

TEST_CASE("activation backward passes the gradient check", "[nn][activation]") {
    bpr::rng r(13);
    bpr::testing::gradient_check_options options;
    options.max_magnitude = 8.0;  // crosses relu6's upper kink at 6 too
    SECTION("relu") {
        bpr::relu<double> l;
        const auto report = bpr::testing::check_gradients(l, {2, 3, 4, 4}, r, options);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
    }
    SECTION("relu6") {
        bpr::relu6<double> l;
        const auto report = bpr::testing::check_gradients(l, {2, 3, 4, 4}, r, options);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
    }
    SECTION("sigmoid") {
        bpr::sigmoid<double> l;
        const auto report = bpr::testing::check_gradients(l, {3, 10}, r, options);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
    }
    SECTION("silu") {
        bpr::silu<double> l;
        const auto report = bpr::testing::check_gradients(l, {3, 10}, r, options);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
    }
}

TEST_CASE("activation backward zeroes the gradient where the function is flat",
          "[nn][activation]") {
    bpr::relu6<double> l;
    bpr::tensor<double> in({4}), out, grad_out({4}, 1.0), grad_in;
    in[0] = -1.0, in[1] = 3.0, in[2] = 7.0, in[3] = 0.0;
    l.forward(in, out, bpr::mode::train);
    l.backward(in, out, grad_out, grad_in);
    CHECK(grad_in[0] == 0.0);
    CHECK(grad_in[1] == 1.0);
    CHECK(grad_in[2] == 0.0);
    CHECK(grad_in[3] == 0.0);
}
