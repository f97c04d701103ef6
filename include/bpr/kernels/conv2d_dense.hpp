#pragma once
// Dense 2-D convolution: forward, backward-data, backward-weights. conv2d_forward & co.
// pick the direct xsimd kernels (conv2d_direct.hpp) where they apply and fall back to
// im2col + Eigen GEMM (grouped/depthwise, strided backward-data); both paths are public
// so that tests and benchmarks can compare them.

#include <vector>

#include "bpr/core/parallel.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/kernels/conv2d_direct.hpp"
#include "bpr/kernels/conv2d_geometry.hpp"

namespace bpr::kernels {

// Scratch memory reused across calls so that the training loop does not allocate:
// one im2col buffer and one weight-gradient partial per thread, and the direct kernels'.
template <typename T>
struct conv2d_workspace {
    std::vector<tensor<T>> columns;
    std::vector<tensor<T>> weight_partials;
    conv2d_direct_workspace<T> direct;

    void prepare(int thread_count, index_t column_elements) {
        if (static_cast<int>(columns.size()) < thread_count) columns.resize(thread_count);
        for (auto& c : columns)
            c.resize({column_elements});
    }
};

namespace detail {

// Unfolds the channels [first_channel, first_channel + channels) of one image into a
// (channels * kh * kw) x (out_h * out_w) matrix.
template <typename T>
void im2col(const conv2d_geometry& g, const T* image, index_t first_channel, T* columns) {
    const index_t oh = g.out_h(), ow = g.out_w();
    const index_t channels = g.in_channels_per_group();
    for (index_t c = 0; c < channels; ++c) {
        const T* plane = image + (first_channel + c) * g.in_h * g.in_w;
        for (index_t ky = 0; ky < g.kernel_h; ++ky)
            for (index_t kx = 0; kx < g.kernel_w; ++kx) {
                T* row = columns + ((c * g.kernel_h + ky) * g.kernel_w + kx) * oh * ow;
                for (index_t y = 0; y < oh; ++y) {
                    const index_t iy = y * g.stride_h - g.pad_h + ky;
                    T* out_row = row + y * ow;
                    if (iy < 0 || iy >= g.in_h) {
                        for (index_t x = 0; x < ow; ++x)
                            out_row[x] = T(0);
                        continue;
                    }
                    const T* in_row = plane + iy * g.in_w;
                    for (index_t x = 0; x < ow; ++x) {
                        const index_t ix = x * g.stride_w - g.pad_w + kx;
                        out_row[x] = (ix >= 0 && ix < g.in_w) ? in_row[ix] : T(0);
                    }
                }
            }
    }
}

// The adjoint of im2col: accumulates a column matrix back into the image channels.
template <typename T>
void col2im_add(const conv2d_geometry& g, const T* columns, index_t first_channel, T* image) {
    const index_t oh = g.out_h(), ow = g.out_w();
    const index_t channels = g.in_channels_per_group();
    for (index_t c = 0; c < channels; ++c) {
        T* plane = image + (first_channel + c) * g.in_h * g.in_w;
        for (index_t ky = 0; ky < g.kernel_h; ++ky)
            for (index_t kx = 0; kx < g.kernel_w; ++kx) {
                const T* row = columns + ((c * g.kernel_h + ky) * g.kernel_w + kx) * oh * ow;
                for (index_t y = 0; y < oh; ++y) {
                    const index_t iy = y * g.stride_h - g.pad_h + ky;
                    if (iy < 0 || iy >= g.in_h) continue;
                    T* in_row = plane + iy * g.in_w;
                    const T* col_row = row + y * ow;
                    for (index_t x = 0; x < ow; ++x) {
                        const index_t ix = x * g.stride_w - g.pad_w + kx;
                        if (ix >= 0 && ix < g.in_w) in_row[ix] += col_row[x];
                    }
                }
            }
    }
}

}  // namespace detail

// output = conv(input, weight) + bias by im2col + GEMM; `bias` may be null.
template <typename T>
void conv2d_im2col_forward(const conv2d_geometry& g, const T* input, const T* weight, const T* bias,
                           T* output, conv2d_workspace<T>& workspace) {
    const index_t spatial = g.out_h() * g.out_w();
    const index_t patch = g.patch_size();
    const index_t opg = g.out_channels_per_group();
    workspace.prepare(threads(), patch * spatial);
    parallel_for(g.batch, [&](index_t n, int worker) {
        T* columns = workspace.columns[worker].data();
        const T* image = input + n * g.in_channels * g.in_h * g.in_w;
        for (index_t group = 0; group < g.groups; ++group) {
            detail::im2col(g, image, group * g.in_channels_per_group(), columns);
            const_matrix_map<T> w(weight + group * opg * patch, opg, patch);
            const_matrix_map<T> col(columns, patch, spatial);
            matrix_map<T> out(output + (n * g.out_channels + group * opg) * spatial, opg, spatial);
            out.noalias() = w * col;
            if (bias)
                for (index_t o = 0; o < opg; ++o)
                    out.row(o).array() += bias[group * opg + o];
        }
    });
}

// grad_input = conv_transpose(grad_output, weight) by GEMM + col2im.
template <typename T>
void conv2d_im2col_backward_data(const conv2d_geometry& g, const T* grad_output, const T* weight,
                                 T* grad_input, conv2d_workspace<T>& workspace) {
    const index_t spatial = g.out_h() * g.out_w();
    const index_t patch = g.patch_size();
    const index_t opg = g.out_channels_per_group();
    workspace.prepare(threads(), patch * spatial);
    parallel_for(g.batch, [&](index_t n, int worker) {
        T* columns = workspace.columns[worker].data();
        T* image = grad_input + n * g.in_channels * g.in_h * g.in_w;
        std::fill(image, image + g.in_channels * g.in_h * g.in_w, T(0));
        for (index_t group = 0; group < g.groups; ++group) {
            const_matrix_map<T> w(weight + group * opg * patch, opg, patch);
            const_matrix_map<T> gout(grad_output + (n * g.out_channels + group * opg) * spatial,
                                     opg, spatial);
            matrix_map<T> col(columns, patch, spatial);
            col.noalias() = w.transpose() * gout;
            detail::col2im_add(g, columns, group * g.in_channels_per_group(), image);
        }
    });
}

// grad_weight = sum over the batch of grad_output x im2col(input)^T; grad_bias (may be
// null) = sum of grad_output over batch and positions. Per-thread partials are reduced
// in thread order, so the result is deterministic for a given thread count.
template <typename T>
void conv2d_im2col_backward_weight(const conv2d_geometry& g, const T* input, const T* grad_output,
                                   T* grad_weight, T* grad_bias, conv2d_workspace<T>& workspace) {
    const index_t spatial = g.out_h() * g.out_w();
    const index_t patch = g.patch_size();
    const index_t opg = g.out_channels_per_group();
    const int thread_count = threads();
    workspace.prepare(thread_count, patch * spatial);
    if (static_cast<int>(workspace.weight_partials.size()) < thread_count)
        workspace.weight_partials.resize(thread_count);
    const index_t weight_elements = g.out_channels * patch;
    for (auto& partial : workspace.weight_partials) {
        partial.resize({weight_elements});
        partial.zero();
    }
    parallel_for(g.batch, [&](index_t n, int worker) {
        T* columns = workspace.columns[worker].data();
        T* partial = workspace.weight_partials[worker].data();
        const T* image = input + n * g.in_channels * g.in_h * g.in_w;
        for (index_t group = 0; group < g.groups; ++group) {
            detail::im2col(g, image, group * g.in_channels_per_group(), columns);
            const_matrix_map<T> col(columns, patch, spatial);
            const_matrix_map<T> gout(grad_output + (n * g.out_channels + group * opg) * spatial,
                                     opg, spatial);
            matrix_map<T> gw(partial + group * opg * patch, opg, patch);
            gw.noalias() += gout * col.transpose();
        }
    });
    std::fill(grad_weight, grad_weight + weight_elements, T(0));
    for (const auto& partial : workspace.weight_partials)
        for (index_t i = 0; i < weight_elements; ++i)
            grad_weight[i] += partial[i];
    if (grad_bias) {
        for (index_t o = 0; o < g.out_channels; ++o) {
            T sum = 0;
            for (index_t n = 0; n < g.batch; ++n) {
                const T* plane = grad_output + (n * g.out_channels + o) * spatial;
                for (index_t i = 0; i < spatial; ++i)
                    sum += plane[i];
            }
            grad_bias[o] = sum;
        }
    }
}

// output = transform(conv(input, weight) + bias); `bias` may be null, the default
// transform is the identity. Requires a validated `g` and buffers of g.input_shape(),
// g.weight_shape(), [out_channels], g.output_shape().
template <typename T>
void conv2d_forward(const conv2d_geometry& g, const T* input, const T* weight, const T* bias,
                    T* output, conv2d_workspace<T>& workspace,
                    const conv2d_output_transform<T>& transform = {}) {
    if (conv2d_direct_supported(g)) {
        conv2d_direct_forward(g, input, weight, bias, output, workspace.direct, transform);
        return;
    }
    conv2d_im2col_forward(g, input, weight, bias, output, workspace);
    if (!transform.scale && !transform.shift && !transform.relu) return;
    // im2col has no epilogue: apply the transform in place (bias is already added).
    conv2d_output_transform<T> after = transform;
    after.bias = nullptr;
    const index_t spatial = g.out_h() * g.out_w();
    for (index_t n = 0; n < g.batch; ++n)
        for (index_t o = 0; o < g.out_channels; ++o) {
            T* plane = output + (n * g.out_channels + o) * spatial;
            after.write_channel(o, plane, spatial, 1, spatial, plane);
        }
}

// grad_input = conv_transpose(grad_output, weight), overwriting grad_input.
template <typename T>
void conv2d_backward_data(const conv2d_geometry& g, const T* grad_output, const T* weight,
                          T* grad_input, conv2d_workspace<T>& workspace) {
    if (conv2d_direct_backward_data_supported(g))
        conv2d_direct_backward_data(g, grad_output, weight, grad_input, workspace.direct);
    else
        conv2d_im2col_backward_data(g, grad_output, weight, grad_input, workspace);
}

// grad_weight (and grad_bias unless null) from input and grad_output, overwriting both;
// deterministic for a given thread count.
template <typename T>
void conv2d_backward_weight(const conv2d_geometry& g, const T* input, const T* grad_output,
                            T* grad_weight, T* grad_bias, conv2d_workspace<T>& workspace) {
    if (conv2d_direct_supported(g))
        conv2d_direct_backward_weight(g, input, grad_output, grad_weight, grad_bias,
                                      workspace.direct);
    else
        conv2d_im2col_backward_weight(g, input, grad_output, grad_weight, grad_bias, workspace);
}

}  // namespace bpr::kernels
