#include <catch2/catch.hpp>

#include "bpr/core/rng.hpp"
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/conv2d_reference.hpp"

#include "../support/random_values.hpp"

TEST_CASE("im2col convolution equals the direct convolution", "[kernels][conv2d]") {
    struct config {
        int c, o, h, w, k, stride, pad, groups;
    };
    const config cases[] = {{3, 4, 7, 6, 3, 1, 1, 1},  {4, 6, 8, 8, 3, 2, 1, 2},
                            {6, 6, 9, 7, 3, 1, 1, 6},  {5, 3, 6, 6, 1, 1, 0, 1},
                            {2, 4, 10, 9, 5, 2, 2, 1}, {4, 8, 5, 5, 3, 2, 0, 4}};
    bpr::rng r(3);
    for (const auto& c : cases) {
        bpr::kernels::conv2d_geometry g;
        g.batch = 3, g.in_channels = c.c, g.in_h = c.h, g.in_w = c.w, g.out_channels = c.o;
        g.kernel_h = g.kernel_w = c.k, g.stride_h = g.stride_w = c.stride;
        g.pad_h = g.pad_w = c.pad, g.groups = c.groups;
        g.validate("test");
        bpr::tensor<double> input(g.input_shape()), weight(g.weight_shape()), bias({c.o});
        bpr_test::fill_uniform(input, r), bpr_test::fill_uniform(weight, r),
            bpr_test::fill_uniform(bias, r);
        bpr::tensor<double> expected(g.output_shape()), actual(g.output_shape());
        bpr::kernels::conv2d_reference_forward(g, input.data(), weight.data(), bias.data(),
                                               expected.data());
        bpr::kernels::conv2d_workspace<double> workspace;
        bpr::kernels::conv2d_forward(g, input.data(), weight.data(), bias.data(), actual.data(),
                                     workspace);
        for (bpr::index_t i = 0; i < expected.size(); ++i)
            REQUIRE(actual[i] == Approx(expected[i]).epsilon(1e-12).margin(1e-12));

        // Backward passes are the adjoints: <conv(x), y> = <x, conv^T(y)> = <w, dW(x, y)>.
        bpr::tensor<double> grad_out(g.output_shape());
        bpr_test::fill_uniform(grad_out, r);
        bpr::tensor<double> grad_in(g.input_shape()), grad_w(g.weight_shape()), grad_b({c.o});
        bpr::kernels::conv2d_backward_data(g, grad_out.data(), weight.data(), grad_in.data(),
                                           workspace);
        bpr::kernels::conv2d_backward_weight(g, input.data(), grad_out.data(), grad_w.data(),
                                             grad_b.data(), workspace);
        bpr::kernels::conv2d_reference_forward<double>(g, input.data(), weight.data(), nullptr,
                                                       expected.data());
        double lhs = 0, rhs_data = 0, rhs_weight = 0;
        for (bpr::index_t i = 0; i < expected.size(); ++i)
            lhs += expected[i] * grad_out[i];
        for (bpr::index_t i = 0; i < input.size(); ++i)
            rhs_data += input[i] * grad_in[i];
        for (bpr::index_t i = 0; i < weight.size(); ++i)
            rhs_weight += weight[i] * grad_w[i];
        CHECK(rhs_data == Approx(lhs).epsilon(1e-10));
        CHECK(rhs_weight == Approx(lhs).epsilon(1e-10));
        double bias_sum = 0;
        for (bpr::index_t i = 0; i < grad_out.size(); ++i)
            bias_sum += grad_out[i];
        double grad_b_sum = 0;
        for (bpr::index_t o = 0; o < c.o; ++o)
            grad_b_sum += grad_b[o];
        CHECK(grad_b_sum == Approx(bias_sum).epsilon(1e-10));
    }
}

TEST_CASE("conv2d geometry names the inconsistent field", "[kernels][conv2d]") {
    bpr::kernels::conv2d_geometry g;
    g.in_channels = 6, g.out_channels = 4, g.groups = 4;
    CHECK_THROWS_WITH(g.validate("conv2d"), Catch::Contains("in_channels 6"));
    g.groups = 1, g.in_h = 2, g.in_w = 2, g.kernel_h = g.kernel_w = 3;
    CHECK_THROWS_WITH(g.validate("conv2d"), Catch::Contains("smaller than the kernel"));

    bpr::kernels::conv2d_geometry empty;  // sizes the sparse packer would divide or clamp by
    empty.in_channels = 0;
    CHECK_THROWS_WITH(empty.validate("conv2d"), Catch::Contains("in_channels 0"));
    empty.in_channels = 3, empty.out_channels = 0;
    CHECK_THROWS_WITH(empty.validate("conv2d"), Catch::Contains("out_channels 0"));
    empty.out_channels = 2, empty.kernel_w = 0;
    CHECK_THROWS_WITH(empty.validate("conv2d"), Catch::Contains("kernel must be at least 1x1"));
    empty.kernel_w = 1, empty.in_h = 0;
    CHECK_THROWS_WITH(empty.validate("conv2d"), Catch::Contains("input must be at least 1x1"));
    empty.in_h = 1;
    CHECK_NOTHROW(empty.validate("conv2d"));
}
