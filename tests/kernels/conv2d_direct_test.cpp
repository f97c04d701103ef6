#include <catch2/catch.hpp>

#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/conv2d_direct.hpp"
#include "bpr/kernels/conv2d_reference.hpp"

#include "../support/random_values.hpp"

namespace {

struct config {
    int batch, c, o, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w;
};

// Odd sizes on purpose: channel counts that are not multiples of the register blocks,
// grids that are not multiples of the vector width, asymmetric kernels and strides.
const config cases[] = {
    {2, 3, 16, 32, 32, 3, 3, 1, 1, 1, 1}, {3, 5, 7, 9, 11, 3, 3, 1, 1, 1, 1},
    {2, 4, 9, 10, 10, 3, 3, 2, 2, 1, 1},  {1, 3, 5, 7, 6, 1, 1, 1, 1, 0, 0},
    {2, 2, 3, 11, 9, 5, 3, 1, 2, 2, 1},   {3, 6, 4, 8, 8, 3, 3, 3, 3, 0, 0},
    {1, 7, 13, 5, 4, 3, 3, 1, 1, 0, 0},   {2, 17, 11, 6, 6, 3, 3, 1, 1, 2, 2},
    {1, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0},    {2, 8, 24, 16, 16, 3, 3, 2, 2, 1, 1},
};

bpr::kernels::conv2d_geometry geometry_of(const config& c) {
    bpr::kernels::conv2d_geometry g;
    g.batch = c.batch, g.in_channels = c.c, g.in_h = c.h, g.in_w = c.w, g.out_channels = c.o;
    g.kernel_h = c.kh, g.kernel_w = c.kw, g.stride_h = c.stride_h, g.stride_w = c.stride_w;
    g.pad_h = c.pad_h, g.pad_w = c.pad_w;
    g.validate("conv2d_direct_test");
    return g;
}

template <typename T>
T tolerance() {
    return std::is_same_v<T, float> ? T(2e-5) : T(1e-12);
}

}  // namespace

TEMPLATE_TEST_CASE("direct convolution equals the reference and its adjoints",
                   "[kernels][conv2d_direct]", float, double) {
    using T = TestType;
    bpr::rng r(11);
    for (const auto& c : cases) {
        CAPTURE(c.c, c.o, c.h, c.w, c.kh, c.kw, c.stride_h, c.stride_w, c.pad_h, c.pad_w);
        const auto g = geometry_of(c);
        REQUIRE(bpr::kernels::conv2d_direct_supported(g));
        bpr::tensor<T> input(g.input_shape()), weight(g.weight_shape()), bias({g.out_channels});
        bpr_test::fill_uniform(input, r), bpr_test::fill_uniform(weight, r),
            bpr_test::fill_uniform(bias, r);
        bpr::tensor<T> expected(g.output_shape()), actual(g.output_shape());
        // Poison the outputs: every element must be written, none accumulated into.
        actual.fill(T(1e30));
        bpr::kernels::conv2d_reference_forward(g, input.data(), weight.data(), bias.data(),
                                               expected.data());
        bpr::kernels::conv2d_direct_workspace<T> workspace;
        bpr::kernels::conv2d_direct_forward(g, input.data(), weight.data(), bias.data(),
                                            actual.data(), workspace);
        const T scale = T(c.c * c.kh * c.kw);
        for (bpr::index_t i = 0; i < expected.size(); ++i)
            REQUIRE(actual[i] == Approx(expected[i]).margin(tolerance<T>() * scale));

        // Backward passes against the im2col ones, and the adjoint identities
        // <conv(x), y> = <x, conv^T(y)> = <w, dW(x, y)>.
        bpr::tensor<T> grad_out(g.output_shape());
        bpr_test::fill_uniform(grad_out, r);
        bpr::kernels::conv2d_workspace<T> gemm_workspace;
        bpr::tensor<T> grad_w(g.weight_shape(), T(1e30)), grad_b({g.out_channels}, T(1e30));
        bpr::tensor<T> gemm_w(g.weight_shape()), gemm_b({g.out_channels});
        bpr::kernels::conv2d_direct_backward_weight(g, input.data(), grad_out.data(), grad_w.data(),
                                                    grad_b.data(), workspace);
        bpr::kernels::conv2d_im2col_backward_weight(g, input.data(), grad_out.data(), gemm_w.data(),
                                                    gemm_b.data(), gemm_workspace);
        const T wscale = T(g.batch * g.out_h() * g.out_w());
        for (bpr::index_t i = 0; i < grad_w.size(); ++i)
            REQUIRE(grad_w[i] == Approx(gemm_w[i]).margin(tolerance<T>() * wscale));
        for (bpr::index_t i = 0; i < grad_b.size(); ++i)
            REQUIRE(grad_b[i] == Approx(gemm_b[i]).margin(tolerance<T>() * wscale));

        bpr::kernels::conv2d_reference_forward<T>(g, input.data(), weight.data(), nullptr,
                                                  expected.data());
        double lhs = 0, rhs_weight = 0;
        for (bpr::index_t i = 0; i < expected.size(); ++i)
            lhs += double(expected[i]) * double(grad_out[i]);
        for (bpr::index_t i = 0; i < weight.size(); ++i)
            rhs_weight += double(weight[i]) * double(grad_w[i]);
        CHECK(rhs_weight ==
              Approx(lhs).epsilon(tolerance<T>() * 10).margin(tolerance<T>() * wscale));

        if (bpr::kernels::conv2d_direct_backward_data_supported(g)) {
            bpr::tensor<T> grad_in(g.input_shape(), T(1e30)), gemm_in(g.input_shape());
            bpr::kernels::conv2d_direct_backward_data(g, grad_out.data(), weight.data(),
                                                      grad_in.data(), workspace);
            bpr::kernels::conv2d_im2col_backward_data(g, grad_out.data(), weight.data(),
                                                      gemm_in.data(), gemm_workspace);
            for (bpr::index_t i = 0; i < grad_in.size(); ++i)
                REQUIRE(grad_in[i] == Approx(gemm_in[i]).margin(tolerance<T>() * scale * 4));
            double rhs_data = 0;
            for (bpr::index_t i = 0; i < input.size(); ++i)
                rhs_data += double(input[i]) * double(grad_in[i]);
            CHECK(rhs_data ==
                  Approx(lhs).epsilon(tolerance<T>() * 10).margin(tolerance<T>() * wscale));
        }
    }
}

TEST_CASE("direct kernels refuse the geometries they do not handle", "[kernels][conv2d_direct]") {
    bpr::kernels::conv2d_geometry g;
    g.in_channels = 4, g.out_channels = 4, g.groups = 2, g.in_h = g.in_w = 4;
    CHECK_FALSE(bpr::kernels::conv2d_direct_supported(g));
    bpr::tensor<float> x(g.input_shape()), w(g.weight_shape()), y(g.output_shape());
    bpr::kernels::conv2d_direct_workspace<float> workspace;
    CHECK_THROWS_WITH(bpr::kernels::conv2d_direct_forward<float>(g, x.data(), w.data(), nullptr,
                                                                 y.data(), workspace),
                      Catch::Contains("groups must be 1, got 2"));
    g.groups = 1, g.stride_h = 2;
    CHECK(bpr::kernels::conv2d_direct_supported(g));
    CHECK_FALSE(bpr::kernels::conv2d_direct_backward_data_supported(g));
}

TEST_CASE("direct backward-weight is deterministic for a thread count",
          "[kernels][conv2d_direct]") {
    const auto g = geometry_of({6, 5, 7, 9, 9, 3, 3, 1, 1, 1, 1});
    bpr::rng r(5);
    bpr::tensor<float> input(g.input_shape()), grad_out(g.output_shape());
    bpr_test::fill_uniform(input, r), bpr_test::fill_uniform(grad_out, r);
    bpr::kernels::conv2d_direct_workspace<float> workspace;
    bpr::tensor<float> first(g.weight_shape()), second(g.weight_shape());
    bpr::kernels::conv2d_direct_backward_weight<float>(g, input.data(), grad_out.data(),
                                                       first.data(), nullptr, workspace);
    bpr::kernels::conv2d_direct_backward_weight<float>(g, input.data(), grad_out.data(),
                                                       second.data(), nullptr, workspace);
    for (bpr::index_t i = 0; i < first.size(); ++i)
        REQUIRE(first[i] == second[i]);
}

TEST_CASE("conv2d_forward applies the output transform on the direct and im2col paths",
          "[kernels][conv2d_direct]") {
    // groups 1 takes the direct kernel (transform in its epilogue), groups 2 im2col
    // (transform applied afterwards); both must equal relu(scale * (conv + bias) + shift).
    for (const bpr::index_t groups : {1, 2}) {
        CAPTURE(groups);
        bpr::kernels::conv2d_geometry g;
        g.batch = 3, g.in_channels = 4, g.in_h = 9, g.in_w = 7, g.out_channels = 10;
        g.kernel_h = g.kernel_w = 3, g.pad_h = g.pad_w = 1, g.groups = groups;
        g.validate("conv2d_direct_test");
        bpr::rng r(17);
        bpr::tensor<float> input(g.input_shape()), weight(g.weight_shape());
        bpr::tensor<float> bias({10}), scale({10}), shift({10});
        bpr_test::fill_uniform(input, r), bpr_test::fill_uniform(weight, r),
            bpr_test::fill_uniform(bias, r);
        bpr_test::fill_uniform(scale, r), bpr_test::fill_uniform(shift, r);
        bpr::tensor<float> plain(g.output_shape());
        bpr::kernels::conv2d_reference_forward(g, input.data(), weight.data(), bias.data(),
                                               plain.data());
        for (const bool relu : {false, true}) {
            CAPTURE(relu);
            bpr::kernels::conv2d_output_transform<float> transform;
            transform.scale = scale.data();
            transform.shift = shift.data();
            transform.relu = relu;
            bpr::kernels::conv2d_workspace<float> workspace;
            bpr::tensor<float> actual(g.output_shape(), 1e30f);
            bpr::kernels::conv2d_forward(g, input.data(), weight.data(), bias.data(), actual.data(),
                                         workspace, transform);
            const bpr::index_t spatial = g.out_h() * g.out_w();
            int clipped = 0;
            for (bpr::index_t i = 0; i < actual.size(); ++i) {
                const bpr::index_t o = i / spatial % g.out_channels;
                float expected = scale[o] * plain[i] + shift[o];
                if (relu && expected < 0.0f) {
                    expected = 0.0f;
                    ++clipped;
                }
                REQUIRE(actual[i] == Approx(expected).margin(1e-4));
            }
            if (relu) CHECK(clipped > 0);
        }
    }
}
