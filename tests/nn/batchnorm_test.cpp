#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/testing/gradient_check.hpp"

static_assert(bpr::layer<bpr::batchnorm<float>>);

namespace {

bpr::tensor<float> pytorch_input() {
    // torch.arange(16).reshape(2, 2, 2, 2) ** 1.5
    bpr::tensor<float> x({2, 2, 2, 2});
    for (int i = 0; i < 16; ++i)
        x[i] = std::pow(static_cast<float>(i), 1.5f);
    return x;
}

}  // namespace

TEST_CASE("batchnorm train forward and running statistics match PyTorch", "[nn][batchnorm]") {
    bpr::batchnorm<float> bn(2);
    bpr::tensor<float> out;
    bn.forward(pytorch_input(), out, bpr::mode::train);
    // Values printed by torch 1.13: torch.nn.BatchNorm2d(2) on the input above.
    const float expected[] = {
        -1.120543122291565f,  -1.0498228073120117f, -0.920515775680542f, -0.7530694007873535f,
        -1.2304368019104004f, -1.0633100271224976f, -0.878512978553772f, -0.6775975823402405f,
        0.4796757400035858f,  0.7889063954353333f,  1.1158307790756226f, 1.459538459777832f,
        0.5336241722106934f,  0.8122938871383667f,  1.1018985509872437f, 1.4020402431488037f};
    for (int i = 0; i < 16; ++i)
        CHECK(out[i] == Approx(expected[i]).epsilon(1e-5));
    // running_mean = 0.1 * batch mean; running_var = 0.9 + 0.1 * unbiased batch variance.
    CHECK(bn.running_mean()[0] == Approx(1.5844706296920776).epsilon(1e-6));
    CHECK(bn.running_mean()[1] == Approx(3.141461133956909).epsilon(1e-6));
    CHECK(bn.running_var()[0] == Approx(23.750890731811523).epsilon(1e-6));
    CHECK(bn.running_var()[1] == Approx(42.285404205322266).epsilon(1e-6));
}

TEST_CASE("batchnorm 1-D forward by hand, scale and shift applied", "[nn][batchnorm]") {
    bpr::batchnorm<double> bn(1, 0.5, 1e-5);
    bn.weight().value[0] = 2.0;
    bn.bias().value[0] = 0.25;
    bpr::tensor<double> in({4, 1}), out;
    for (int i = 0; i < 4; ++i)
        in[i] = i + 1;  // mean 2.5, biased var 1.25, unbiased 5/3
    bn.forward(in, out, bpr::mode::train);
    for (int i = 0; i < 4; ++i)
        CHECK(out[i] == Approx(2.0 * (in[i] - 2.5) / std::sqrt(1.25 + 1e-5) + 0.25));
    CHECK(bn.running_mean()[0] == Approx(1.25));
    CHECK(bn.running_var()[0] == Approx(0.5 + 0.5 * 5.0 / 3.0));
}

TEST_CASE("batchnorm eval mode uses the running statistics", "[nn][batchnorm]") {
    bpr::batchnorm<double> bn(2);
    bn.running_mean()[0] = 1.0, bn.running_mean()[1] = -2.0;
    bn.running_var()[0] = 4.0, bn.running_var()[1] = 0.25;
    bn.weight().value[1] = 3.0;
    bn.bias().value[0] = 0.5;
    bpr::tensor<double> in({1, 2, 1, 2}), out;
    in[0] = 3.0, in[1] = 1.0, in[2] = -1.0, in[3] = -2.0;
    bn.forward(in, out, bpr::mode::eval);
    CHECK(out[0] == Approx(2.0 / std::sqrt(4.0 + 1e-5) + 0.5));
    CHECK(out[1] == Approx(0.5));
    CHECK(out[2] == Approx(3.0 * 1.0 / std::sqrt(0.25 + 1e-5)));
    CHECK(out[3] == Approx(0.0).margin(1e-12));
    // Eval mode leaves the running statistics alone and accepts a single value.
    CHECK(bn.running_mean()[0] == 1.0);
    CHECK(bn.running_var()[1] == 0.25);
}

TEST_CASE("batchnorm backward passes the gradient check", "[nn][batchnorm]") {
    bpr::rng r(9);
    auto randomize = [&](bpr::batchnorm<double>& bn) {
        for (auto& v : bn.weight().value)
            v = r.uniform(0.5, 1.5);
        for (auto& v : bn.bias().value)
            v = r.uniform(-0.5, 0.5);
        for (auto& v : bn.running_mean())
            v = r.uniform(-0.5, 0.5);
        for (auto& v : bn.running_var())
            v = r.uniform(0.5, 2.0);
    };
    SECTION("train mode, NCHW") {
        bpr::batchnorm<double> bn(3);
        randomize(bn);
        const auto report = bpr::testing::check_gradients(bn, {2, 3, 3, 2}, r);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
    }
    SECTION("train mode, [N, C]") {
        bpr::batchnorm<double> bn(4);
        randomize(bn);
        const auto report = bpr::testing::check_gradients(bn, {5, 4}, r);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
    }
    SECTION("eval mode") {
        bpr::batchnorm<double> bn(3);
        randomize(bn);
        bpr::testing::gradient_check_options options;
        options.forward_mode = bpr::mode::eval;
        const auto report = bpr::testing::check_gradients(bn, {2, 3, 2, 2}, r, options);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
    }
}

TEST_CASE("batchnorm names parameters and buffers like PyTorch", "[nn][batchnorm]") {
    bpr::batchnorm<float> bn(3);
    std::vector<std::string> names;
    std::vector<bpr::param_role> roles;
    bpr::visit_params(bn, [&](std::size_t, const std::string& name, auto& p) {
        names.push_back(name);
        roles.push_back(p.role);
    });
    CHECK(names == std::vector<std::string>{"weight", "bias"});
    CHECK(roles ==
          std::vector<bpr::param_role>{bpr::param_role::norm_scale, bpr::param_role::norm_shift});
    std::vector<std::string> buffers;
    bpr::visit_buffers(bn, [&](const std::string& name, auto& t) {
        buffers.push_back(name);
        CHECK(t.shape() == bpr::shape{3});
    });
    CHECK(buffers == std::vector<std::string>{"running_mean", "running_var"});
    CHECK(bn.weight().value[2] == 1.0f);
    CHECK(bn.bias().value[2] == 0.0f);
    CHECK(bn.running_var()[2] == 1.0f);
}

TEST_CASE("batchnorm rejects bad inputs, naming field and value", "[nn][batchnorm]") {
    using Catch::Matchers::Contains;
    bpr::batchnorm<float> bn(4);
    REQUIRE_THROWS_WITH(bn.output_shape({2, 3, 5, 5}),
                        Contains("batchnorm") && Contains("3 channels") && Contains("expected 4"));
    REQUIRE_THROWS_WITH(bn.output_shape({2, 4, 5}), Contains("batchnorm") && Contains("rank 3"));
    bpr::tensor<float> single({1, 4}), out;
    REQUIRE_THROWS_WITH(bn.forward(single, out, bpr::mode::train),
                        Contains("more than 1 value per channel") && Contains("[1, 4]"));
    REQUIRE_NOTHROW(bn.forward(single, out, bpr::mode::eval));
    REQUIRE_THROWS_WITH(bpr::batchnorm<float>(4, 1.5), Contains("momentum") && Contains("1.5"));
}

TEST_CASE("batchnorm in float stays accurate for inputs with a large mean", "[nn][batchnorm]") {
    // One-pass E[x^2] - E[x]^2 in float would lose all digits here; the two-pass
    // statistics must not.
    bpr::rng r(31);
    const bpr::shape s{8, 2, 16, 16};
    bpr::tensor<float> xf(s), yf, gf(s), dxf;
    bpr::tensor<double> xd(s), yd, gd(s), dxd;
    for (bpr::index_t i = 0; i < xf.size(); ++i) {
        xd[i] = xf[i] = static_cast<float>(1000.0 + r.normal());
        gd[i] = gf[i] = static_cast<float>(r.normal());
    }
    bpr::batchnorm<float> bf(2);
    bpr::batchnorm<double> bd(2);
    bf.forward(xf, yf, bpr::mode::train);
    bd.forward(xd, yd, bpr::mode::train);
    bf.backward(xf, yf, gf, dxf);
    bd.backward(xd, yd, gd, dxd);
    for (bpr::index_t i = 0; i < yf.size(); ++i) {
        REQUIRE(yf[i] == Approx(yd[i]).margin(2e-3));
        REQUIRE(dxf[i] == Approx(dxd[i]).margin(2e-3));
    }
    for (int c = 0; c < 2; ++c) {
        CHECK(bf.running_var()[c] == Approx(bd.running_var()[c]).epsilon(1e-3));
        CHECK(bf.weight().grad[c] == Approx(bd.weight().grad[c]).epsilon(1e-3).margin(1e-2));
    }
}
