#include <catch2/catch.hpp>

#include <cmath>

#include "bpr/core/rng.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/sequential.hpp"

namespace {

using model_t = bpr::sequential<bpr::conv2d<float>, bpr::batchnorm<float>, bpr::linear<float>>;

model_t make_model() {
    return model_t(bpr::conv2d<float>(16, 32, 3, 1, 1, 1, true), bpr::batchnorm<float>(32),
                   bpr::linear<float>(200, 10));
}

struct moments {
    double mean, stddev, max_abs;
};

moments moments_of(const bpr::tensor<float>& t) {
    double sum = 0, squares = 0, max_abs = 0;
    for (float v : t) {
        sum += v;
        squares += double(v) * v;
        max_abs = std::max(max_abs, std::abs(double(v)));
    }
    const double n = static_cast<double>(t.size());
    const double mean = sum / n;
    return {mean, std::sqrt(squares / n - mean * mean), max_abs};
}

}  // namespace

TEST_CASE("kaiming_normal draws std sqrt(2 / fan_in) and resets the rest", "[nn][init]") {
    auto model = make_model();
    model.get<1>().weight().value.fill(3.0f);
    model.get<1>().bias().value.fill(3.0f);
    model.get<0>().bias().value.fill(3.0f);
    model.get<0>().weight().grad.fill(1.0f);
    bpr::rng r(1);
    bpr::initialize(model, r, bpr::init_scheme::kaiming_normal);
    const auto conv = moments_of(model.get<0>().weight().value);  // 4608 draws, fan_in 144
    CHECK(conv.mean == Approx(0.0).margin(0.01));
    CHECK(conv.stddev == Approx(std::sqrt(2.0 / 144)).epsilon(0.05));
    const auto fc = moments_of(model.get<2>().weight().value);  // 2000 draws, fan_in 200
    CHECK(fc.stddev == Approx(std::sqrt(2.0 / 200)).epsilon(0.06));
    for (float v : model.get<0>().bias().value)
        CHECK(v == 0.0f);
    for (float v : model.get<0>().weight().grad)
        CHECK(v == 0.0f);
    for (float v : model.get<1>().weight().value)
        CHECK(v == 1.0f);
    for (float v : model.get<1>().bias().value)
        CHECK(v == 0.0f);
}

TEST_CASE("kaiming_normal_fan_out uses out_channels * k * k", "[nn][init]") {
    bpr::conv2d<float> conv(8, 64, 3);  // fan_in 72, fan_out 576
    bpr::rng r(2);
    bpr::initialize(conv, r, bpr::init_scheme::kaiming_normal_fan_out);
    CHECK(moments_of(conv.weight().value).stddev == Approx(std::sqrt(2.0 / 576)).epsilon(0.05));
}

TEST_CASE("pytorch_default is uniform in +-1/sqrt(fan_in) for weights and biases", "[nn][init]") {
    bpr::linear<float> fc(100, 40);
    bpr::rng r(3);
    bpr::initialize(fc, r, bpr::init_scheme::pytorch_default);
    const auto w = moments_of(fc.weight().value);
    CHECK(w.max_abs <= 0.1);
    CHECK(w.max_abs > 0.099);
    // Uniform(-b, b) has std b / sqrt(3).
    CHECK(w.stddev == Approx(0.1 / std::sqrt(3.0)).epsilon(0.05));
    const auto b = moments_of(fc.bias().value);
    CHECK(b.max_abs <= 0.1);
    CHECK(b.max_abs > 0.0);
}

TEST_CASE("initialize is reproducible from the seed", "[nn][init]") {
    auto a = make_model(), b = make_model(), c = make_model();
    bpr::rng ra(7), rb(7), rc(8);
    bpr::initialize(a, ra);
    bpr::initialize(b, rb);
    bpr::initialize(c, rc);
    const auto& wa = a.get<0>().weight().value;
    const auto& wb = b.get<0>().weight().value;
    const auto& wc = c.get<0>().weight().value;
    int differ = 0;
    for (bpr::index_t i = 0; i < wa.size(); ++i) {
        REQUIRE(wa[i] == wb[i]);
        differ += wa[i] != wc[i];
    }
    CHECK(differ > wa.size() / 2);
    CHECK(a.get<2>().weight().value[5] == b.get<2>().weight().value[5]);
}
