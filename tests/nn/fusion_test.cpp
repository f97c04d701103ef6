// Eval-mode fusion in bpr::sequential (conv2d -> batchnorm -> relu in one pass) and the
// copy-free residual paths: same values as the layer-by-layer computation.

#include <catch2/catch.hpp>

#include <cmath>

#include "bpr/core/rng.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/residual.hpp"
#include "bpr/nn/sequential.hpp"

#include "../support/random_values.hpp"

namespace {

// Non-trivial running statistics and affine parameters, so that the folded map is not
// close to the identity.
template <typename T>
void randomize(bpr::batchnorm<T>& bn, bpr::rng& r) {
    bpr_test::fill_uniform(bn.weight().value, r, 0.5, 1.5);
    bpr_test::fill_uniform(bn.bias().value, r);
    bpr_test::fill_uniform(bn.running_mean(), r);
    bpr_test::fill_uniform(bn.running_var(), r, 0.2, 2.0);
}

template <typename T>
void require_close(const bpr::tensor<T>& a, const bpr::tensor<T>& b, double tolerance) {
    REQUIRE(a.shape() == b.shape());
    for (bpr::index_t i = 0; i < a.size(); ++i)
        REQUIRE(a[i] == Approx(b[i]).margin(tolerance));
}

}  // namespace

TEST_CASE("sequential eval forward with conv-bn-relu fused equals the layer-by-layer result",
          "[nn][fusion]") {
    // 16 channels at 10x10 takes the direct kernel; groups 2 takes im2col.
    for (const bpr::index_t groups : {1, 2}) {
        bpr::rng r(41);
        using net_t = bpr::sequential<bpr::named<"conv1", bpr::conv2d<float>>,
                                      bpr::named<"bn1", bpr::batchnorm<float>>, bpr::relu<float>,
                                      bpr::conv2d<float>, bpr::batchnorm<float>>;
        net_t net(bpr::conv2d<float>(4, 16, 3, 1, 1, groups, true), bpr::batchnorm<float>(16),
                  bpr::relu<float>{}, bpr::conv2d<float>(16, 8, 3, 2, 1), bpr::batchnorm<float>(8));
        bpr_test::fill_uniform(net.get<0>().weight().value, r);
        bpr_test::fill_uniform(net.get<0>().bias().value, r);
        bpr_test::fill_uniform(net.get<3>().weight().value, r);
        randomize(net.get<1>(), r);
        randomize(net.get<4>(), r);
        bpr::tensor<float> x({3, 4, 10, 10});
        bpr_test::fill_uniform(x, r);

        bpr::tensor<float> fused;
        net.forward(x, fused, bpr::mode::eval);

        bpr::tensor<float> a, b, c, d, expected;
        net.get<0>().forward(x, a, bpr::mode::eval);
        net.get<1>().forward(a, b, bpr::mode::eval);
        net.get<2>().forward(b, c, bpr::mode::eval);
        net.get<3>().forward(c, d, bpr::mode::eval);
        net.get<4>().forward(d, expected, bpr::mode::eval);
        REQUIRE(fused.shape() == bpr::shape{3, 8, 5, 5});
        require_close(fused, expected, 1e-5);
        // The relu really was applied inside: some pre-relu values were negative.
        bool any_negative = false;
        for (const float v : b)
            any_negative = any_negative || v < 0.0f;
        CHECK(any_negative);
    }
}

TEST_CASE("sequential backward after a fused eval forward recomputes the skipped activations",
          "[nn][fusion]") {
    bpr::rng r(43);
    using net_t = bpr::sequential<bpr::conv2d<double>, bpr::batchnorm<double>, bpr::relu<double>>;
    net_t fused(bpr::conv2d<double>(3, 5, 3, 1, 1), bpr::batchnorm<double>(5), bpr::relu<double>{});
    bpr_test::fill_uniform(fused.get<0>().weight().value, r);
    randomize(fused.get<1>(), r);
    bpr::tensor<double> x({2, 3, 6, 6}), grad_out({2, 5, 6, 6});
    bpr_test::fill_uniform(x, r);
    bpr_test::fill_uniform(grad_out, r);

    // Train forward first, so that stale train-mode activations would be visible (it
    // also moves the running statistics: copy the reference after it).
    bpr::tensor<double> y, y_ref, dx, dx_ref, scratch;
    fused.forward(x, scratch, bpr::mode::train);
    net_t reference = fused;
    fused.forward(x, y, bpr::mode::eval);
    fused.backward(x, y, grad_out, dx);

    // Reference: the layers one by one, eval mode, then their backward in order.
    auto& conv = reference.get<0>();
    auto& bn = reference.get<1>();
    auto& act = reference.get<2>();
    bpr::tensor<double> a, b, gb, ga;
    conv.forward(x, a, bpr::mode::eval);
    bn.forward(a, b, bpr::mode::eval);
    act.forward(b, y_ref, bpr::mode::eval);
    act.backward(b, y_ref, grad_out, gb);
    bn.backward(a, b, gb, ga);
    conv.backward(x, a, ga, dx_ref);

    require_close(y, y_ref, 1e-12);
    require_close(dx, dx_ref, 1e-12);
    require_close(fused.get<0>().weight().grad, conv.weight().grad, 1e-12);
    require_close(fused.get<1>().weight().grad, bn.weight().grad, 1e-12);
}

TEST_CASE("fused eval forward reports shape errors with the layer path", "[nn][fusion]") {
    using Catch::Matchers::Contains;
    bpr::sequential<bpr::named<"conv1", bpr::conv2d<float>>,
                    bpr::named<"bn1", bpr::batchnorm<float>>>
        net(bpr::conv2d<float>(3, 4, 3, 1, 1), bpr::batchnorm<float>(5));
    bpr::tensor<float> x({1, 3, 5, 5}), y;
    REQUIRE_THROWS_WITH(net.forward(x, y, bpr::mode::eval), Contains("layer 1 (bn1)") &&
                                                                Contains("4 channels") &&
                                                                Contains("expected 5"));
    bpr::tensor<float> wrong({1, 2, 5, 5});
    REQUIRE_THROWS_WITH(net.forward(wrong, y, bpr::mode::eval),
                        Contains("layer 0 (conv1)") && Contains("2 channels"));
}

TEST_CASE("a subclass of conv2d is not fused", "[nn][fusion]") {
    // A subclass may override forward; fusion would silently skip it.
    struct doubled_conv : bpr::conv2d<float> {
        using bpr::conv2d<float>::conv2d;
        void forward(const bpr::tensor<float>& in, bpr::tensor<float>& out, bpr::mode m) {
            bpr::conv2d<float>::forward(in, out, m);
            out.as_array() *= 2.0f;
        }
    };
    bpr::sequential<doubled_conv, bpr::batchnorm<float>> net(doubled_conv(1, 1, 1),
                                                             bpr::batchnorm<float>(1));
    net.get<0>().weight().value.fill(1.0f);
    bpr::tensor<float> x({1, 1, 2, 2}, 1.5f), y;
    net.forward(x, y, bpr::mode::eval);
    // Running stats are mean 0, var 1: y = 2 * 1.5 / sqrt(1 + eps).
    CHECK(y[0] == Approx(3.0f / std::sqrt(1.0f + 1e-5f)));
}

TEST_CASE("a ResNet basic block in eval mode equals its layers run one by one", "[nn][fusion]") {
    using T = float;
    using main_t = bpr::sequential<bpr::conv2d<T>, bpr::batchnorm<T>, bpr::relu<T>, bpr::conv2d<T>,
                                   bpr::batchnorm<T>>;
    bpr::rng r(47);
    for (const bpr::index_t stride : {1, 2}) {
        const bpr::index_t in = stride == 1 ? 16 : 8;
        bpr::residual<main_t, bpr::channel_pad_shortcut<T>, bpr::relu<T>> block(
            main_t(bpr::conv2d<T>(in, 16, 3, stride, 1), bpr::batchnorm<T>(16), bpr::relu<T>{},
                   bpr::conv2d<T>(16, 16, 3, 1, 1), bpr::batchnorm<T>(16)),
            bpr::channel_pad_shortcut<T>(in, 16, stride));
        auto& m = block.main();
        bpr_test::fill_uniform(m.get<0>().weight().value, r, -0.3, 0.3);
        bpr_test::fill_uniform(m.get<3>().weight().value, r, -0.3, 0.3);
        randomize(m.get<1>(), r);
        randomize(m.get<4>(), r);
        bpr::tensor<T> x({2, in, 8, 8});
        bpr_test::fill_uniform(x, r);
        bpr::tensor<T> y;
        block.forward(x, y, bpr::mode::eval);

        bpr::tensor<T> a, b, c, d, e, s, expected;
        m.get<0>().forward(x, a, bpr::mode::eval);
        m.get<1>().forward(a, b, bpr::mode::eval);
        m.get<2>().forward(b, c, bpr::mode::eval);
        m.get<3>().forward(c, d, bpr::mode::eval);
        m.get<4>().forward(d, e, bpr::mode::eval);
        block.shortcut().forward(x, s, bpr::mode::eval);
        e.as_array() += s.as_array();
        block.after().forward(e, expected, bpr::mode::eval);
        require_close(y, expected, 1e-5);
    }
}
