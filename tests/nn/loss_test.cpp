#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "bpr/nn/loss.hpp"

namespace {

bpr::tensor<double> logits_3x3() {
    bpr::tensor<double> z({3, 3});
    const double values[] = {1, 2, 3, 0.5, -1, 4, 1000, 0, -1000};
    for (int i = 0; i < 9; ++i)
        z[i] = values[i];
    return z;
}

const std::vector<int> labels_3 = {2, 0, 1};

}  // namespace

TEST_CASE("softmax cross-entropy without smoothing matches a hand computation", "[nn][loss]") {
    bpr::softmax_cross_entropy<double> loss;
    bpr::tensor<double> z({1, 3});
    z[0] = 1, z[1] = 2, z[2] = 3;
    const int label[] = {2};
    const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
    CHECK(loss.forward(z, label) == Approx(lse - 3.0).epsilon(1e-14));
    bpr::tensor<double> grad;
    loss.backward(grad);
    CHECK(grad[0] == Approx(std::exp(1.0 - lse)));
    CHECK(grad[2] == Approx(std::exp(3.0 - lse) - 1.0));
}

TEST_CASE("softmax cross-entropy with label smoothing matches PyTorch", "[nn][loss]") {
    // Reference values from torch 1.13: F.cross_entropy(z, y, label_smoothing=s), float64.
    const auto z = logits_3x3();
    for (double smoothing : {0.0, 0.1}) {
        bpr::softmax_cross_entropy<double> loss(smoothing);
        const double value = loss.forward(z, labels_3);
        bpr::tensor<double> grad;
        loss.backward(grad);
        REQUIRE(grad.shape() == bpr::shape{3, 3});
        if (smoothing == 0.0) {
            CHECK(value == Approx(334.64795850985644).epsilon(1e-14));
            const double expected[] = {
                0.030010191056793478, 0.08157615701826587,   -0.1115863480750594,
                -0.32362607948750716, 0.0021659811052206473, 0.3214600983822865,
                0.3333333333333333,   -0.3333333333333333,   0.0};
            for (int i = 0; i < 9; ++i)
                CHECK(grad[i] == Approx(expected[i]).epsilon(1e-12).margin(1e-15));
        } else {
            CHECK(value == Approx(334.65906962096756).epsilon(1e-14));
            const double expected[] = {
                0.018899079945682365, 0.07046504590715476,   -0.0893641258528372,
                -0.30140385726528496, -0.008945130005890464, 0.3103489872711755,
                0.32222222222222224,  -0.3111111111111111,   -0.011111111111111112};
            for (int i = 0; i < 9; ++i)
                CHECK(grad[i] == Approx(expected[i]).epsilon(1e-12).margin(1e-15));
        }
    }
}

TEST_CASE("softmax cross-entropy gradient equals finite differences", "[nn][loss]") {
    bpr::tensor<double> z({2, 4});
    const double values[] = {0.3, -1.2, 2.0, 0.1, -0.5, 0.7, 0.2, -2.0};
    for (int i = 0; i < 8; ++i)
        z[i] = values[i];
    const std::vector<int> labels = {1, 3};
    bpr::softmax_cross_entropy<double> loss(0.2);
    loss.forward(z, labels);
    bpr::tensor<double> grad;
    loss.backward(grad);
    const double h = 1e-5;
    for (int i = 0; i < 8; ++i) {
        bpr::tensor<double> plus = z, minus = z;
        plus[i] += h, minus[i] -= h;
        const double numeric = (loss.forward(plus, labels) - loss.forward(minus, labels)) / (2 * h);
        CHECK(grad[i] == Approx(numeric).epsilon(1e-7).margin(1e-9));
    }
}

TEST_CASE("softmax cross-entropy is stable in float for huge logits", "[nn][loss]") {
    bpr::tensor<float> z({1, 2});
    z[0] = 1e30f, z[1] = -1e30f;
    const int label[] = {1};
    bpr::softmax_cross_entropy<float> loss;
    const float value = loss.forward(z, label);
    CHECK(std::isfinite(value));
    CHECK(value == Approx(2e30f));
    bpr::tensor<float> grad;
    loss.backward(grad);
    CHECK(grad[0] == 1.0f);
    CHECK(grad[1] == -1.0f);
}

TEST_CASE("loss rejects bad labels and shapes, naming the value", "[nn][loss]") {
    using Catch::Matchers::Contains;
    bpr::softmax_cross_entropy<double> loss;
    const auto z = logits_3x3();
    const std::vector<int> bad = {2, 3, 0};
    REQUIRE_THROWS_WITH(loss.forward(z, bad),
                        Contains("label 3") && Contains("position 1") && Contains("[0, 3)"));
    const std::vector<int> negative = {2, 0, -1};
    REQUIRE_THROWS_WITH(loss.forward(z, negative), Contains("label -1"));
    const std::vector<int> short_labels = {1, 2};
    REQUIRE_THROWS_WITH(loss.forward(z, short_labels), Contains("2 labels for 3 rows"));
    bpr::tensor<double> rank4({3, 3, 1, 1});
    REQUIRE_THROWS_WITH(loss.forward(rank4, labels_3), Contains("rank 4"));
    REQUIRE_THROWS_WITH(bpr::softmax_cross_entropy<double>(1.0), Contains("label_smoothing"));
    bpr::tensor<double> grad;
    REQUIRE_THROWS_WITH(bpr::softmax_cross_entropy<double>().backward(grad),
                        Contains("no forward"));
}

TEST_CASE("count_correct counts arg-max hits", "[nn][loss]") {
    const auto z = logits_3x3();  // arg-max per row: 2, 2, 0
    CHECK(bpr::count_correct(z, std::vector<int>{2, 0, 1}) == 1);
    CHECK(bpr::count_correct(z, std::vector<int>{2, 2, 0}) == 3);
    CHECK(bpr::count_correct(z, std::vector<int>{0, 0, 1}) == 0);
    REQUIRE_THROWS_AS(bpr::count_correct(z, std::vector<int>{0, 9, 1}), bpr::error);
}
