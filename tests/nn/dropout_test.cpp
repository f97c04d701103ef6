#include <catch2/catch.hpp>

#include "bpr/core/rng.hpp"
#include "bpr/nn/dropout.hpp"
#include "bpr/testing/gradient_check.hpp"

static_assert(bpr::layer<bpr::dropout<float>>);

TEST_CASE("dropout zeroes about p of the values and rescales the rest", "[nn][dropout]") {
    bpr::dropout<double> d(0.25, 42);
    bpr::tensor<double> x({4, 2500}, 2.0), out;
    d.forward(x, out, bpr::mode::train);
    int zeros = 0;
    for (double v : out) {
        if (v == 0.0)
            ++zeros;
        else
            REQUIRE(v == Approx(2.0 / 0.75));
    }
    // 10,000 Bernoulli(0.25) draws: standard deviation ~43, so +-300 never fails by chance.
    CHECK(zeros > 2200);
    CHECK(zeros < 2800);
}

TEST_CASE("dropout is the identity in eval mode and for p = 0", "[nn][dropout]") {
    bpr::tensor<float> x({3, 5}), out, grad_in;
    for (int i = 0; i < 15; ++i)
        x[i] = static_cast<float>(i) - 7.0f;
    bpr::dropout<float> d(0.5);
    d.forward(x, out, bpr::mode::eval);
    for (int i = 0; i < 15; ++i)
        CHECK(out[i] == x[i]);
    d.backward(x, out, x, grad_in);
    for (int i = 0; i < 15; ++i)
        CHECK(grad_in[i] == x[i]);
    bpr::dropout<float> none(0.0);
    none.forward(x, out, bpr::mode::train);
    for (int i = 0; i < 15; ++i)
        CHECK(out[i] == x[i]);
}

TEST_CASE("dropout masks are reproducible from the seed", "[nn][dropout]") {
    bpr::tensor<float> x({2, 64}, 1.0f), a, b, c;
    bpr::dropout<float> d(0.5, 7);
    d.forward(x, a, bpr::mode::train);
    d.forward(x, b, bpr::mode::train);
    d.seed(7);
    d.forward(x, c, bpr::mode::train);
    int same_ab = 0;
    for (int i = 0; i < 128; ++i) {
        CHECK(a[i] == c[i]);
        same_ab += a[i] == b[i];
    }
    CHECK(same_ab < 128);  // the stream moves on between batches
}

TEST_CASE("dropout backward applies the forward mask", "[nn][dropout]") {
    bpr::rng r(23);
    bpr::dropout<double> d(0.3, 5);
    const auto report = bpr::testing::check_gradients(d, {3, 4, 2, 2}, r);
    INFO(report.str());
    REQUIRE(report.max_relative_error < 1e-6);
    REQUIRE_THROWS_WITH(bpr::dropout<float>(1.0), Catch::Matchers::Contains("p must be in [0, 1)"));
}
