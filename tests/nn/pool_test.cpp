#include <catch2/catch.hpp>

#include "bpr/core/rng.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/testing/gradient_check.hpp"

static_assert(bpr::layer<bpr::max_pool2d<float>>);
static_assert(bpr::layer<bpr::avg_pool2d<float>>);
static_assert(bpr::layer<bpr::global_avg_pool<float>>);

namespace {

// 1x1x3x3 image holding 1..9.
bpr::tensor<double> one_to_nine() {
    bpr::tensor<double> x({1, 1, 3, 3});
    for (int i = 0; i < 9; ++i)
        x[i] = i + 1;
    return x;
}

}  // namespace

TEST_CASE("max_pool2d forward by hand, with and without padding", "[nn][pool]") {
    bpr::tensor<double> out;
    SECTION("kernel 2, default stride 2") {
        bpr::tensor<double> x({1, 2, 4, 4});
        for (int i = 0; i < 32; ++i)
            x[i] = (i * 7) % 11 - 5.0;
        bpr::max_pool2d<double> pool(2);
        pool.forward(x, out, bpr::mode::eval);
        REQUIRE(out.shape() == bpr::shape{1, 2, 2, 2});
        for (int c = 0; c < 2; ++c)
            for (int y = 0; y < 2; ++y)
                for (int xo = 0; xo < 2; ++xo) {
                    double best = -1e9;
                    for (int dy = 0; dy < 2; ++dy)
                        for (int dx = 0; dx < 2; ++dx)
                            best = std::max(best, x(0, c, 2 * y + dy, 2 * xo + dx));
                    CHECK(out(0, c, y, xo) == best);
                }
    }
    SECTION("kernel 3, stride 2, padding 1: padded positions never win") {
        bpr::max_pool2d<double> pool(3, 2, 1);
        auto x = one_to_nine();
        for (auto& v : x)
            v = -v;  // all negative, so a zero pad would win if it were counted
        pool.forward(x, out, bpr::mode::eval);
        REQUIRE(out.shape() == bpr::shape{1, 1, 2, 2});
        CHECK(out[0] == -1.0);
        CHECK(out[1] == -2.0);
        CHECK(out[2] == -4.0);
        CHECK(out[3] == -5.0);
        pool.forward(one_to_nine(), out, bpr::mode::eval);
        CHECK(out[0] == 5.0);
        CHECK(out[1] == 6.0);
        CHECK(out[2] == 8.0);
        CHECK(out[3] == 9.0);
    }
}

TEST_CASE("avg_pool2d counts padded zeros like PyTorch", "[nn][pool]") {
    bpr::avg_pool2d<double> pool(3, 2, 1);
    bpr::tensor<double> out;
    pool.forward(one_to_nine(), out, bpr::mode::eval);
    REQUIRE(out.shape() == bpr::shape{1, 1, 2, 2});
    CHECK(out[0] == Approx(12.0 / 9));
    CHECK(out[1] == Approx(16.0 / 9));
    CHECK(out[2] == Approx(24.0 / 9));
    CHECK(out[3] == Approx(28.0 / 9));
    bpr::avg_pool2d<double> plain(2, 1);
    plain.forward(one_to_nine(), out, bpr::mode::eval);
    REQUIRE(out.shape() == bpr::shape{1, 1, 2, 2});
    CHECK(out[0] == Approx(3.0));
    CHECK(out[3] == Approx(7.0));
}

TEST_CASE("global_avg_pool averages each channel", "[nn][pool]") {
    bpr::tensor<double> x({2, 3, 2, 2}), out;
    for (int i = 0; i < 24; ++i)
        x[i] = i;
    bpr::global_avg_pool<double> pool;
    pool.forward(x, out, bpr::mode::eval);
    REQUIRE(out.shape() == bpr::shape{2, 3});
    for (int i = 0; i < 6; ++i)
        CHECK(out[i] == Approx(4 * i + 1.5));
}

TEST_CASE("pool backward passes the gradient check", "[nn][pool]") {
    bpr::rng r(17);
    auto check = [&](auto& layer, bpr::shape in) {
        const auto report = bpr::testing::check_gradients(layer, in, r);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
        REQUIRE(report.entries_checked == in.numel());
    };
    SECTION("max 2x2") {
        bpr::max_pool2d<double> l(2);
        check(l, {2, 2, 4, 5});
    }
    SECTION("max 3x3, stride 2, padding 1 (overlapping windows)") {
        bpr::max_pool2d<double> l(3, 2, 1);
        check(l, {2, 2, 5, 6});
    }
    SECTION("avg 3x3, stride 1, padding 1") {
        bpr::avg_pool2d<double> l(3, 1, 1);
        check(l, {2, 2, 4, 4});
    }
    SECTION("avg 2x2") {
        bpr::avg_pool2d<double> l(2);
        check(l, {1, 3, 4, 4});
    }
    SECTION("global average") {
        bpr::global_avg_pool<double> l;
        check(l, {2, 3, 3, 2});
    }
}

TEST_CASE("max_pool2d sends a tied window's gradient to its first maximum", "[nn][pool]") {
    bpr::max_pool2d<double> pool(2);
    bpr::tensor<double> x({1, 1, 2, 2}, 1.0), out, grad_out({1, 1, 1, 1}, 3.0), grad_in;
    pool.forward(x, out, bpr::mode::train);
    pool.backward(x, out, grad_out, grad_in);
    CHECK(grad_in[0] == 3.0);
    CHECK(grad_in[1] == 0.0);
    CHECK(grad_in[2] == 0.0);
    CHECK(grad_in[3] == 0.0);
}

TEST_CASE("pools reject bad configurations and inputs", "[nn][pool]") {
    using Catch::Matchers::Contains;
    REQUIRE_THROWS_WITH(bpr::max_pool2d<float>(2, 2, 2),
                        Contains("max_pool2d") && Contains("padding") && Contains("2"));
    REQUIRE_THROWS_WITH(bpr::avg_pool2d<float>(0), Contains("avg_pool2d") && Contains("kernel"));
    REQUIRE_THROWS_WITH(bpr::max_pool2d<float>(2).output_shape({4, 3, 8}),
                        Contains("max_pool2d") && Contains("rank 3"));
    REQUIRE_THROWS_WITH(bpr::avg_pool2d<float>(5).output_shape({1, 3, 4, 4}),
                        Contains("avg_pool2d") && Contains("smaller than the kernel 5"));
    REQUIRE_THROWS_WITH(bpr::global_avg_pool<float>().output_shape({4, 3}),
                        Contains("global_avg_pool") && Contains("rank 2"));
}
