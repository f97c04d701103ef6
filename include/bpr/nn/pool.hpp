#pragma once
// Spatial pooling: max_pool2d, avg_pool2d and global_avg_pool over NCHW input.

#include <algorithm>
#include <limits>

#include "bpr/core/error.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

namespace detail {

// Square window, equal stride and padding on both axes, floor output size (PyTorch's
// ceil_mode=False).
struct pool_window {
    index_t kernel, stride, padding;

    void validate(const char* where) const {
        BPR_REQUIRE(kernel >= 1, where, ": kernel must be >= 1, got ", kernel);
        BPR_REQUIRE(stride >= 1, where, ": stride must be >= 1, got ", stride);
        BPR_REQUIRE(padding >= 0 && 2 * padding <= kernel, where,
                    ": padding must be in [0, kernel / 2], got ", padding, " for kernel ", kernel);
    }

    shape output_shape(const shape& in, const char* where) const {
        BPR_REQUIRE(in.rank() == 4, where, ": input has rank ", in.rank(), " (shape ", in.str(),
                    "), expected 4 (NCHW)");
        BPR_REQUIRE(in[2] + 2 * padding >= kernel && in[3] + 2 * padding >= kernel, where,
                    ": input ", in[2], "x", in[3], " with padding ", padding,
                    " is smaller than the kernel ", kernel);
        return {in[0], in[1], (in[2] + 2 * padding - kernel) / stride + 1,
                (in[3] + 2 * padding - kernel) / stride + 1};
    }

    // Calls body(out_index, plane_offset, y0, y1, x0, x1, width) for every output element,
    // where [y0, y1) x [x0, x1) is the in-bounds part of its window inside the input plane
    // starting at plane_offset. Planes run in parallel and windows of one plane in order,
    // so per-plane accumulation is deterministic.
    template <typename Body>
    void for_each(const shape& in, const char* where, Body&& body) const {
        const shape out = output_shape(in, where);
        const index_t planes = in[0] * in[1], h = in[2], w = in[3];
        const index_t oh = out[2], ow = out[3];
#pragma omp parallel for schedule(static) if (in.numel() > detail::min_parallel_elements)
        for (index_t plane = 0; plane < planes; ++plane)
            for (index_t y = 0; y < oh; ++y) {
                const index_t y0 = std::max<index_t>(y * stride - padding, 0);
                const index_t y1 = std::min<index_t>(y * stride - padding + kernel, h);
                for (index_t x = 0; x < ow; ++x) {
                    const index_t x0 = std::max<index_t>(x * stride - padding, 0);
                    const index_t x1 = std::min<index_t>(x * stride - padding + kernel, w);
                    body((plane * oh + y) * ow + x, plane * h * w, y0, y1, x0, x1, w);
                }
            }
    }
};

// Offset (within its plane) of the first maximum of a window, in row-major order.
template <typename T>
index_t window_argmax(const T* plane, index_t y0, index_t y1, index_t x0, index_t x1,
                      index_t width) {
    index_t best = y0 * width + x0;
    for (index_t y = y0; y < y1; ++y)
        for (index_t x = x0; x < x1; ++x)
            if (plane[y * width + x] > plane[best]) best = y * width + x;
    return best;
}

}  // namespace detail

// What it represents: torch.nn.MaxPool2d(kernel, stride, padding): the maximum of each
// window; padded positions never win.
// Requires: NCHW input at least as large as the kernel; padding <= kernel / 2.
// Guarantees: backward routes each output gradient to the first maximum of its window
// in row-major order (recomputed from `in`, so no state is kept); gradients of
// overlapping windows add up.
template <typename T = float>
class max_pool2d {
  public:
    using value_type = T;

    // stride 0 means stride = kernel, PyTorch's default.
    explicit max_pool2d(index_t kernel, index_t stride = 0, index_t padding = 0)
        : window_{kernel, stride == 0 ? kernel : stride, padding} {
        window_.validate("max_pool2d");
    }

    index_t kernel_size() const { return window_.kernel; }
    index_t stride() const { return window_.stride; }
    index_t padding() const { return window_.padding; }

    shape output_shape(const shape& in) const { return window_.output_shape(in, "max_pool2d"); }

    void forward(const tensor<T>& in, tensor<T>& out, mode) {
        out.resize(output_shape(in.shape()));
        const T* x = in.data();
        T* y = out.data();
        window_.for_each(in.shape(), "max_pool2d",
                         [&](index_t o, index_t base, index_t y0, index_t y1, index_t x0,
                             index_t x1, index_t w) {
                             y[o] = x[base + detail::window_argmax(x + base, y0, y1, x0, x1, w)];
                         });
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        require_shape(grad_out, output_shape(in.shape()), "max_pool2d::backward", "grad_out");
        grad_in.resize(in.shape());
        grad_in.zero();
        const T* x = in.data();
        const T* dy = grad_out.data();
        T* dx = grad_in.data();
        window_.for_each(in.shape(), "max_pool2d",
                         [&](index_t o, index_t base, index_t y0, index_t y1, index_t x0,
                             index_t x1, index_t w) {
                             dx[base + detail::window_argmax(x + base, y0, y1, x0, x1, w)] += dy[o];
                         });
    }

  private:
    detail::pool_window window_;
};

// What it represents: torch.nn.AvgPool2d(kernel, stride, padding) with PyTorch's
// defaults count_include_pad=True and ceil_mode=False: every window sum is divided by
// kernel * kernel, padded zeros included.
// Requires: NCHW input at least as large as the kernel; padding <= kernel / 2.
template <typename T = float>
class avg_pool2d {
  public:
    using value_type = T;

    // stride 0 means stride = kernel, PyTorch's default.
    explicit avg_pool2d(index_t kernel, index_t stride = 0, index_t padding = 0)
        : window_{kernel, stride == 0 ? kernel : stride, padding} {
        window_.validate("avg_pool2d");
    }

    index_t kernel_size() const { return window_.kernel; }
    index_t stride() const { return window_.stride; }
    index_t padding() const { return window_.padding; }

    shape output_shape(const shape& in) const { return window_.output_shape(in, "avg_pool2d"); }

    void forward(const tensor<T>& in, tensor<T>& out, mode) {
        out.resize(output_shape(in.shape()));
        const T scale = T(1) / static_cast<T>(window_.kernel * window_.kernel);
        const T* x = in.data();
        T* y = out.data();
        window_.for_each(in.shape(), "avg_pool2d",
                         [&](index_t o, index_t base, index_t y0, index_t y1, index_t x0,
                             index_t x1, index_t w) {
                             T sum = 0;
                             for (index_t iy = y0; iy < y1; ++iy)
                                 for (index_t ix = x0; ix < x1; ++ix)
                                     sum += x[base + iy * w + ix];
                             y[o] = sum * scale;
                         });
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        require_shape(grad_out, output_shape(in.shape()), "avg_pool2d::backward", "grad_out");
        grad_in.resize(in.shape());
        grad_in.zero();
        const T scale = T(1) / static_cast<T>(window_.kernel * window_.kernel);
        const T* dy = grad_out.data();
        T* dx = grad_in.data();
        window_.for_each(in.shape(), "avg_pool2d",
                         [&](index_t o, index_t base, index_t y0, index_t y1, index_t x0,
                             index_t x1, index_t w) {
                             const T g = dy[o] * scale;
                             for (index_t iy = y0; iy < y1; ++iy)
                                 for (index_t ix = x0; ix < x1; ++ix)
                                     dx[base + iy * w + ix] += g;
                         });
    }

  private:
    detail::pool_window window_;
};

// What it represents: the mean of each channel over its spatial positions,
// [N, C, H, W] -> [N, C] (torch's AdaptiveAvgPool2d(1) followed by flatten).
template <typename T = float>
class global_avg_pool {
  public:
    using value_type = T;

    shape output_shape(const shape& in) const {
        BPR_REQUIRE(in.rank() == 4, "global_avg_pool: input has rank ", in.rank(), " (shape ",
                    in.str(), "), expected 4 (NCHW)");
        BPR_REQUIRE(in[2] * in[3] > 0, "global_avg_pool: input has no spatial positions (shape ",
                    in.str(), ")");
        return {in[0], in[1]};
    }

    void forward(const tensor<T>& in, tensor<T>& out, mode) {
        out.resize(output_shape(in.shape()));
        const index_t planes = out.size(), plane = in.extent(2) * in.extent(3);
        const T scale = T(1) / static_cast<T>(plane);
#pragma omp parallel for schedule(static) if (in.size() > detail::min_parallel_elements)
        for (index_t i = 0; i < planes; ++i) {
            out[i] = const_array_map<T>(in.data() + i * plane, plane).sum() * scale;
        }
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        require_shape(grad_out, output_shape(in.shape()), "global_avg_pool::backward", "grad_out");
        grad_in.resize(in.shape());
        const index_t planes = grad_out.size(), plane = in.extent(2) * in.extent(3);
        const T scale = T(1) / static_cast<T>(plane);
#pragma omp parallel for schedule(static) if (in.size() > detail::min_parallel_elements)
        for (index_t i = 0; i < planes; ++i) {
            const T g = grad_out[i] * scale;
            std::fill(grad_in.data() + i * plane, grad_in.data() + (i + 1) * plane, g);
        }
    }
};

}  // namespace bpr
