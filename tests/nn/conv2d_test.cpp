#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/kernels/conv2d_reference.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/testing/gradient_check.hpp"

#include "../support/random_values.hpp"

namespace {

// The same uniform values in [-1, 1] into a float and a double tensor.
void fill_same(bpr::tensor<float>& f, bpr::tensor<double>& d, bpr::rng& r) {
    REQUIRE(f.size() == d.size());
    for (bpr::index_t i = 0; i < f.size(); ++i)
        d[i] = f[i] = static_cast<float>(r.uniform(-1, 1));
}

// A float result against the same computation in double: relative 1e-4, or `margin`.
template <typename A, typename B>
void require_close(const A& a, const B& b, double margin) {
    REQUIRE(a.size() == b.size());
    for (bpr::index_t i = 0; i < a.size(); ++i)
        REQUIRE(a[i] == Approx(b[i]).epsilon(1e-4).margin(margin));
}

}  // namespace

static_assert(bpr::layer<bpr::conv2d<float>>);
static_assert(bpr::layer<bpr::conv2d<double>>);

TEST_CASE("conv2d forward matches a hand computation", "[nn][conv2d]") {
    bpr::conv2d<float> conv(1, 2, 2, 1, 0, 1, true);
    conv.weight().value.fill(1.0f);
    conv.weight().value[4 + 3] = 2.0f;  // second filter: bottom-right tap counts twice
    conv.bias().value[0] = 0.5f;
    conv.bias().value[1] = -1.0f;
    bpr::tensor<float> in({1, 1, 3, 3});
    for (int i = 0; i < 9; ++i)
        in[i] = static_cast<float>(i + 1);
    bpr::tensor<float> out;
    conv.forward(in, out, bpr::mode::eval);
    REQUIRE(out.shape() == bpr::shape{1, 2, 2, 2});
    // Windows {1,2,4,5}, {2,3,5,6}, {4,5,7,8}, {5,6,8,9}.
    const float first[] = {12.5f, 16.5f, 24.5f, 28.5f};
    const float second[] = {16.0f, 21.0f, 31.0f, 36.0f};
    for (int i = 0; i < 4; ++i) {
        CHECK(out[i] == first[i]);
        CHECK(out[4 + i] == second[i]);
    }
}

TEST_CASE("conv2d forward equals the direct convolution for strides, padding and groups",
          "[nn][conv2d]") {
    struct config {
        int in, out, kernel, stride, padding, groups;
        bool bias;
    };
    const config cases[] = {{3, 4, 3, 1, 1, 1, true},
                            {4, 6, 3, 2, 1, 2, false},
                            {6, 6, 3, 1, 1, 6, true},  // depthwise
                            {4, 8, 3, 2, 0, 4, false},
                            {5, 3, 1, 1, 0, 1, true}};
    bpr::rng r(7);
    for (const auto& c : cases) {
        bpr::conv2d<double> conv(c.in, c.out, c.kernel, c.stride, c.padding, c.groups, c.bias);
        bpr_test::fill_uniform(conv.weight().value, r);
        if (c.bias) bpr_test::fill_uniform(conv.bias().value, r);
        bpr::tensor<double> in({2, c.in, 7, 6});
        bpr_test::fill_uniform(in, r);
        bpr::tensor<double> out;
        conv.forward(in, out, bpr::mode::train);
        const auto g = conv.geometry(in.shape());
        REQUIRE(out.shape() == g.output_shape());
        REQUIRE(out.shape() == conv.output_shape(in.shape()));
        bpr::tensor<double> expected(g.output_shape());
        bpr::kernels::conv2d_reference_forward(g, in.data(), conv.weight().value.data(),
                                               c.bias ? conv.bias().value.data() : nullptr,
                                               expected.data());
        for (bpr::index_t i = 0; i < out.size(); ++i)
            REQUIRE(out[i] == Approx(expected[i]).margin(1e-12));
    }
}

TEST_CASE("conv2d output shape follows stride and padding", "[nn][conv2d]") {
    CHECK(bpr::conv2d<>(3, 16, 3, 1, 1).output_shape({8, 3, 32, 32}) == bpr::shape{8, 16, 32, 32});
    CHECK(bpr::conv2d<>(16, 32, 3, 2, 1).output_shape({8, 16, 32, 32}) ==
          bpr::shape{8, 32, 16, 16});
    CHECK(bpr::conv2d<>(16, 32, 1, 2, 0).output_shape({8, 16, 32, 32}) ==
          bpr::shape{8, 32, 16, 16});
    CHECK(bpr::conv2d<>(1, 6, 5).output_shape({2, 1, 28, 28}) == bpr::shape{2, 6, 24, 24});
}

TEST_CASE("conv2d backward passes the gradient check", "[nn][conv2d]") {
    struct config {
        int in, out, kernel, stride, padding, groups;
        bool bias;
        int h, w;
    };
    const config cases[] = {{2, 3, 3, 1, 1, 1, true, 5, 4},
                            {4, 6, 3, 2, 1, 2, false, 6, 5},
                            {3, 3, 3, 1, 1, 3, true, 4, 4},  // depthwise
                            {3, 2, 1, 2, 0, 1, true, 5, 5},
                            {2, 2, 2, 2, 1, 1, false, 5, 6}};
    bpr::rng r(11);
    for (const auto& c : cases) {
        bpr::conv2d<double> conv(c.in, c.out, c.kernel, c.stride, c.padding, c.groups, c.bias);
        bpr_test::fill_uniform(conv.weight().value, r);
        if (c.bias) bpr_test::fill_uniform(conv.bias().value, r);
        const auto report = bpr::testing::check_gradients(conv, {2, c.in, c.h, c.w}, r);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
        REQUIRE(report.entries_checked ==
                2 * c.in * c.h * c.w + conv.weight().value.size() + (c.bias ? c.out : 0));
    }
}

TEST_CASE("conv2d names its parameters like PyTorch", "[nn][conv2d]") {
    std::vector<std::string> names;
    std::vector<bpr::param_role> roles;
    bpr::sequential<bpr::named<"conv1", bpr::conv2d<float>>, bpr::conv2d<float>> net(
        bpr::conv2d<float>(3, 4, 3, 1, 1, 1, true), bpr::conv2d<float>(4, 4, 1));
    bpr::visit_params(net, [&](std::size_t, const std::string& name, auto& p) {
        names.push_back(name);
        roles.push_back(p.role);
    });
    REQUIRE(names == std::vector<std::string>{"conv1.weight", "conv1.bias", "1.weight"});
    CHECK(roles[0] == bpr::param_role::weight);
    CHECK(roles[1] == bpr::param_role::bias);
    CHECK(net.get<0>().weight().value.shape() == bpr::shape{4, 3, 3, 3});
    CHECK(bpr::conv2d<float>(8, 8, 3, 1, 1, 8).weight().value.shape() == bpr::shape{8, 1, 3, 3});
}

TEST_CASE("conv2d rejects bad configurations and inputs, naming field and value", "[nn][conv2d]") {
    using Catch::Matchers::Contains;
    REQUIRE_THROWS_WITH(bpr::conv2d<>(6, 4, 3, 1, 1, 4),
                        Contains("conv2d") && Contains("in_channels 6") && Contains("groups 4"));
    REQUIRE_THROWS_WITH(bpr::conv2d<>(4, 4, 0), Contains("kernel") && Contains("0"));
    REQUIRE_THROWS_WITH(bpr::conv2d<>(4, 4, 3, 0), Contains("stride") && Contains("0"));
    bpr::conv2d<float> conv(4, 8, 3, 1, 1);
    REQUIRE_THROWS_WITH(conv.output_shape({2, 4, 8}),
                        Contains("conv2d") && Contains("rank 3") && Contains("[2, 4, 8]"));
    REQUIRE_THROWS_WITH(conv.output_shape({2, 3, 8, 8}),
                        Contains("conv2d") && Contains("3 channels") && Contains("expected 4"));
    REQUIRE_THROWS_WITH(bpr::conv2d<>(4, 8, 5).output_shape({1, 4, 3, 3}),
                        Contains("smaller than the kernel"));
    bpr::tensor<float> in({2, 3, 8, 8}), out;
    REQUIRE_THROWS_AS(conv.forward(in, out, bpr::mode::train), bpr::error);
}

TEST_CASE("conv2d in float agrees with conv2d in double", "[nn][conv2d]") {
    // The float path may use different (vectorized) kernels than double; both must
    // compute the same convolution.
    struct config {
        int in, out, kernel, stride, padding, groups;
        bool bias;
    };
    const config cases[] = {{3, 16, 3, 1, 1, 1, true},
                            {16, 32, 3, 2, 1, 1, false},
                            {16, 16, 3, 1, 1, 16, false},
                            {8, 16, 1, 1, 0, 1, true}};
    bpr::rng r(29);
    for (const auto& c : cases) {
        bpr::conv2d<float> cf(c.in, c.out, c.kernel, c.stride, c.padding, c.groups, c.bias);
        bpr::conv2d<double> cd(c.in, c.out, c.kernel, c.stride, c.padding, c.groups, c.bias);
        fill_same(cf.weight().value, cd.weight().value, r);
        if (c.bias) fill_same(cf.bias().value, cd.bias().value, r);
        const bpr::shape in_shape{3, c.in, 8, 8};
        bpr::tensor<float> xf(in_shape), yf, gf(cf.output_shape(in_shape)), dxf;
        bpr::tensor<double> xd(in_shape), yd, gd(cd.output_shape(in_shape)), dxd;
        fill_same(xf, xd, r);
        fill_same(gf, gd, r);
        cf.forward(xf, yf, bpr::mode::train);
        cd.forward(xd, yd, bpr::mode::train);
        cf.backward(xf, yf, gf, dxf);
        cd.backward(xd, yd, gd, dxd);
        require_close(yf, yd, 1e-4);
        require_close(dxf, dxd, 1e-4);
        require_close(cf.weight().grad, cd.weight().grad, 1e-4);
        if (c.bias) require_close(cf.bias().grad, cd.bias().grad, 1e-4);
    }
}

TEST_CASE("conv2d on sparse kernels computes what the dense path computes",
          "[nn][conv2d][sparse]") {
    // Sparse weights (a fraction of zeros), the float layer with set_sparse_density
    // against the same layer in double on the dense path (itself gradient-checked).
    struct config {
        int in, out, kernel, stride, padding;
        bool bias;
        int h, w;
        bool backward_sparse;  // backward-data runs sparse at stride 1 with p <= k - 1
    };
    const config cases[] = {
        {5, 7, 3, 1, 1, true, 9, 8, true},     {6, 4, 3, 1, 0, false, 7, 7, true},
        {4, 6, 3, 2, 1, true, 9, 9, false},    {8, 5, 1, 1, 0, true, 6, 5, true},
        {3, 4, 5, 1, 2, false, 8, 11, true},   {4, 4, 3, 1, 3, false, 4, 4, false},
        {16, 16, 3, 1, 1, false, 14, 14, true}};
    bpr::rng r(31);
    for (const auto& c : cases) {
        bpr::conv2d<float> cf(c.in, c.out, c.kernel, c.stride, c.padding, 1, c.bias);
        bpr::conv2d<double> cd(c.in, c.out, c.kernel, c.stride, c.padding, 1, c.bias);
        bpr::index_t nonzeros = 0;
        for (bpr::index_t i = 0; i < cf.weight().value.size(); ++i) {
            const float v = r.uniform() < 0.2 ? static_cast<float>(r.uniform(-1, 1)) : 0.0f;
            cd.weight().value[i] = cf.weight().value[i] = v;
            nonzeros += v != 0.0f;
        }
        if (c.bias) fill_same(cf.bias().value, cd.bias().value, r);
        const double density =
            static_cast<double>(nonzeros) / static_cast<double>(cf.weight().value.size());
        const bpr::shape in_shape{3, c.in, c.h, c.w};
        bpr::tensor<float> xf(in_shape), yf, gf(cf.output_shape(in_shape)), dxf;
        bpr::tensor<double> xd(in_shape), yd, gd(cd.output_shape(in_shape)), dxd;
        fill_same(xf, xd, r);
        fill_same(gf, gd, r);

        // Just below the layer's density: dense kernels; at it: sparse.
        cf.set_sparse_density(density * 0.999);
        cf.forward(xf, yf, bpr::mode::train);
        CHECK_FALSE(cf.last_forward_sparse());
        cf.set_sparse_density(density);
        // Eval's fused conv -> batchnorm -> relu, sparse against dense.
        std::vector<float> scale(static_cast<std::size_t>(c.out)), shift(scale.size());
        for (std::size_t o = 0; o < scale.size(); ++o)
            scale[o] = static_cast<float>(r.uniform(0.5, 2)),
            shift[o] = static_cast<float>(r.uniform(-1, 1));
        bpr::tensor<float> fused_sparse, fused_dense;
        cf.forward_affine(xf, fused_sparse, scale.data(), shift.data(), true);
        CHECK(cf.last_forward_sparse());
        cf.set_sparse_density(0.0);
        cf.forward_affine(xf, fused_dense, scale.data(), shift.data(), true);
        CHECK_FALSE(cf.last_forward_sparse());
        require_close(fused_sparse, fused_dense, 1e-5);
        cf.set_sparse_density(density);
        cf.forward(xf, yf, bpr::mode::train);
        CHECK(cf.last_forward_sparse());
        cf.backward(xf, yf, gf, dxf);
        CHECK(cf.last_backward_sparse() == c.backward_sparse);
        cd.forward(xd, yd, bpr::mode::train);
        cd.backward(xd, yd, gd, dxd);
        INFO("case in " << c.in << " out " << c.out << " k " << c.kernel << " s " << c.stride
                        << " p " << c.padding);
        auto close = [](const auto& a, const auto& b) { require_close(a, b, 1e-5); };
        close(yf, yd);
        close(dxf, dxd);
        close(cf.weight().grad, cd.weight().grad);
        if (c.bias) close(cf.bias().grad, cd.bias().grad);
        CHECK_FALSE(cf.last_weight_grad_sparse());

        // Weight gradients wanted for some entries only (a few of them zero weights,
        // alive as after zero-init regrowth): those equal the dense ones, the rest are 0.
        auto& needed = cf.weight().grad_needed;
        needed.assign(static_cast<std::size_t>(cf.weight().value.size()), 0);
        for (std::size_t i = 0; i < needed.size(); ++i)
            needed[i] =
                cf.weight().value[static_cast<bpr::index_t>(i)] != 0.0f || r.uniform() < 0.05;
        cf.set_sparse_density(0.5);
        cf.forward(xf, yf, bpr::mode::train);
        cf.backward(xf, yf, gf, dxf);
        CHECK(cf.last_weight_grad_sparse());
        for (std::size_t i = 0; i < needed.size(); ++i) {
            const auto at = static_cast<bpr::index_t>(i);
            if (needed[i])
                REQUIRE(cf.weight().grad[at] ==
                        Approx(cd.weight().grad[at]).epsilon(1e-4).margin(1e-5));
            else
                REQUIRE(cf.weight().grad[at] == 0.0f);
        }
        if (c.bias) close(cf.bias().grad, cd.bias().grad);
        close(dxf, dxd);
    }
}

TEST_CASE("set_sparse_density reaches every conv2d of a model", "[nn][conv2d][sparse]") {
    bpr::sequential<bpr::conv2d<float>, bpr::conv2d<float>> model(bpr::conv2d<float>(2, 3, 3),
                                                                  bpr::conv2d<float>(3, 4, 1));
    bpr::set_sparse_density(model, 0.25);
    CHECK(model.get<0>().sparse_density() == 0.25);
    CHECK(model.get<1>().sparse_density() == 0.25);
    CHECK_THROWS_WITH(model.get<0>().set_sparse_density(1.5), Catch::Contains("1.5"));
}
