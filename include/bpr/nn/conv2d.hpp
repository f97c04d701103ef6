#pragma once
// bpr::conv2d: a 2-D convolution layer (stride, zero padding, groups incl. depthwise).

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/conv2d_geometry.hpp"
#include "bpr/kernels/sparse_conv2d.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

namespace detail {

// sum a[i] * b[i] for i < n: vectors of floats (a fixed order, so reproducible), plain
// loop otherwise.
template <typename T>
double dot(const T* a, const T* b, index_t n) {
    if constexpr (std::is_same_v<T, float>) {
        using batch = xsimd::batch<float>;
        constexpr index_t lanes = batch::size;
        batch acc(0.0f);
        index_t i = 0;
        for (; i + lanes <= n; i += lanes)
            acc = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc);
        double sum = xsimd::hadd(acc);
        for (; i < n; ++i)
            sum += a[i] * b[i];
        return sum;
    } else {
        double sum = 0.0;
        for (index_t i = 0; i < n; ++i)
            sum += a[i] * b[i];
        return sum;
    }
}

}  // namespace detail

// What it represents: out = conv(in, weight) (+ bias) over NCHW input, square kernel,
// equal stride and zero padding on both axes, dilation 1, as torch.nn.Conv2d.
// Requires: in_channels and out_channels divisible by groups; input [N, in_channels, H, W]
// with H, W + 2 * padding >= kernel.
// Guarantees: weight is OIHW [out, in / groups, k, k] (role weight, named "weight"),
// the optional bias [out] (role bias, named "bias"); parameters start at zero (see
// bpr::initialize); backward overwrites the parameter gradients. Scratch memory is
// reused across batches. With set_sparse_density(d) (float, groups 1), forward and, at
// stride 1, backward-data run the direct sparse kernel whenever at most a fraction d of
// the weights are nonzero: zeros contribute nothing, so only the summation order
// changes. The weight gradient follows weight().grad_needed instead (a zero weight may
// be alive, e.g. regrown with zero init): when it marks at most a fraction d, only
// those gradients are computed, one dot product each, and the rest are 0.
template <typename T = float>
class conv2d {
  public:
    using value_type = T;

    conv2d(index_t in_channels, index_t out_channels, index_t kernel, index_t stride = 1,
           index_t padding = 0, index_t groups = 1, bool bias = false)
        : in_channels_(in_channels),
          out_channels_(out_channels),
          kernel_(kernel),
          stride_(stride),
          padding_(padding),
          groups_(groups),
          has_bias_(bias) {
        BPR_REQUIRE(in_channels >= 1, "conv2d: in_channels must be >= 1, got ", in_channels);
        BPR_REQUIRE(out_channels >= 1, "conv2d: out_channels must be >= 1, got ", out_channels);
        BPR_REQUIRE(kernel >= 1, "conv2d: kernel must be >= 1, got ", kernel);
        BPR_REQUIRE(stride >= 1, "conv2d: stride must be >= 1, got ", stride);
        BPR_REQUIRE(padding >= 0, "conv2d: padding must be >= 0, got ", padding);
        BPR_REQUIRE(groups >= 1, "conv2d: groups must be >= 1, got ", groups);
        BPR_REQUIRE(in_channels % groups == 0, "conv2d: in_channels ", in_channels,
                    " is not divisible by groups ", groups);
        BPR_REQUIRE(out_channels % groups == 0, "conv2d: out_channels ", out_channels,
                    " is not divisible by groups ", groups);
        weight_ =
            param<T>({out_channels, in_channels / groups, kernel, kernel}, param_role::weight);
        if (has_bias_) bias_ = param<T>({out_channels}, param_role::bias);
    }

    index_t in_channels() const { return in_channels_; }
    index_t out_channels() const { return out_channels_; }
    index_t kernel_size() const { return kernel_; }
    index_t stride() const { return stride_; }
    index_t padding() const { return padding_; }
    index_t groups() const { return groups_; }
    bool has_bias() const { return has_bias_; }

    param<T>& weight() { return weight_; }
    const param<T>& weight() const { return weight_; }
    // Only meaningful when has_bias(); otherwise an empty parameter.
    param<T>& bias() { return bias_; }
    const param<T>& bias() const { return bias_; }

    // The kernel geometry for input extents `in` (validated), shared with sparse kernels.
    kernels::conv2d_geometry geometry(const shape& in) const {
        BPR_REQUIRE(in.rank() == 4, "conv2d: input has rank ", in.rank(), " (shape ", in.str(),
                    "), expected 4 (NCHW)");
        BPR_REQUIRE(in[1] == in_channels_, "conv2d: input has ", in[1], " channels (shape ",
                    in.str(), "), expected ", in_channels_);
        kernels::conv2d_geometry g;
        g.batch = in[0], g.in_channels = in[1], g.in_h = in[2], g.in_w = in[3];
        g.out_channels = out_channels_;
        g.kernel_h = g.kernel_w = kernel_;
        g.stride_h = g.stride_w = stride_;
        g.pad_h = g.pad_w = padding_;
        g.groups = groups_;
        g.validate("conv2d");
        return g;
    }

    shape output_shape(const shape& in) const { return geometry(in).output_shape(); }

    // The weight density at or below which the sparse kernels run (0, the default:
    // never). Requires: 0 <= d <= 1.
    void set_sparse_density(double d) {
        BPR_REQUIRE(d >= 0.0 && d <= 1.0,
                    "conv2d::set_sparse_density: density must be in [0, 1], got ", d);
        sparse_density_ = d;
    }
    double sparse_density() const { return sparse_density_; }
    // Whether the last forward / backward-data ran the sparse kernel.
    bool last_forward_sparse() const { return last_forward_sparse_; }
    bool last_backward_sparse() const { return last_backward_sparse_; }
    // Whether the last backward computed only the weight gradients in
    // weight().grad_needed (the others are 0).
    bool last_weight_grad_sparse() const { return last_weight_grad_sparse_; }

    void forward(const tensor<T>& in, tensor<T>& out, mode) {
        const auto g = geometry(in.shape());
        out.resize(g.output_shape());
        last_forward_sparse_ = use_sparse();
        if constexpr (std::is_same_v<T, float>) {
            if (last_forward_sparse_) {
                sparse_.weights = kernels::sparse_conv2d_weights::pack(g, weight_.value.data());
                kernels::epilogue e;
                e.bias = has_bias_ ? bias_.value.data() : nullptr;
                kernels::sparse_conv2d_forward(sparse_.weights, g.batch, in.data(), out.data(), e,
                                               sparse_.forward_workspace);
                return;
            }
        }
        kernels::conv2d_forward(g, in.data(), weight_.value.data(),
                                has_bias_ ? bias_.value.data() : nullptr, out.data(), workspace_);
    }

    // out = scale[o] * forward(in) + shift[o] per output channel o, then max(., 0) if
    // relu, applied as the output is written: an eval-mode batchnorm (+ relu) folded
    // in. Same values as forward -> batchnorm (eval) -> relu up to float rounding.
    void forward_affine(const tensor<T>& in, tensor<T>& out, const T* scale, const T* shift,
                        bool relu) {
        const auto g = geometry(in.shape());
        out.resize(g.output_shape());
        last_forward_sparse_ = use_sparse();
        if constexpr (std::is_same_v<T, float>) {
            if (last_forward_sparse_) {
                // scale * (conv + bias) + shift = scale * conv + (scale * bias + shift).
                sparse_.shift.resize({out_channels_});
                for (index_t o = 0; o < out_channels_; ++o)
                    sparse_.shift[o] =
                        (scale ? scale[o] : T(1)) * (has_bias_ ? bias_.value[o] : T(0)) +
                        (shift ? shift[o] : T(0));
                sparse_.weights = kernels::sparse_conv2d_weights::pack(g, weight_.value.data());
                const kernels::epilogue e{
                    scale, sparse_.shift.data(),
                    relu ? kernels::activation::relu : kernels::activation::none};
                kernels::sparse_conv2d_forward(sparse_.weights, g.batch, in.data(), out.data(), e,
                                               sparse_.forward_workspace);
                return;
            }
        }
        kernels::conv2d_output_transform<T> transform;
        transform.scale = scale;
        transform.shift = shift;
        transform.relu = relu;
        kernels::conv2d_forward(g, in.data(), weight_.value.data(),
                                has_bias_ ? bias_.value.data() : nullptr, out.data(), workspace_,
                                transform);
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        const auto g = geometry(in.shape());
        require_shape(grad_out, g.output_shape(), "conv2d::backward", "grad_out");
        grad_in.resize(in.shape());
        last_backward_sparse_ = stride_ == 1 && padding_ <= kernel_ - 1 && use_sparse();
        if constexpr (std::is_same_v<T, float>) {
            if (last_backward_sparse_) {
                sparse_backward_data(g, grad_out, grad_in);
            }
        }
        if (!last_backward_sparse_)
            kernels::conv2d_backward_data(g, grad_out.data(), weight_.value.data(), grad_in.data(),
                                          workspace_);
        last_weight_grad_sparse_ = use_sparse_weight_grad();
        if (last_weight_grad_sparse_)
            sparse_backward_weight(g, in, grad_out);
        else
            kernels::conv2d_backward_weight(g, in.data(), grad_out.data(), weight_.grad.data(),
                                            has_bias_ ? bias_.grad.data() : nullptr, workspace_);
    }

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "weight"), weight_);
        if (has_bias_) f(detail::join_name(prefix, "bias"), bias_);
    }

  private:
    bool use_sparse() const {
        if (!std::is_same_v<T, float> || groups_ != 1 || sparse_density_ <= 0.0) return false;
        const auto nonzeros = std::count_if(weight_.value.begin(), weight_.value.end(),
                                            [](T v) { return v != T(0); });
        return static_cast<double>(nonzeros) <=
               sparse_density_ * static_cast<double>(weight_.value.size());
    }

    // At stride 1, grad_in = conv(grad_out, W') padded by k - 1 - p, with W' the weight
    // with input and output channels swapped and both spatial axes flipped.
    void sparse_backward_data(const kernels::conv2d_geometry& g, const tensor<T>& grad_out,
                              tensor<T>& grad_in) {
        const index_t k = kernel_, taps = k * k;
        sparse_.transposed.resize({in_channels_, out_channels_, k, k});
        const T* w = weight_.value.data();
        T* t = sparse_.transposed.data();
        for (index_t o = 0; o < out_channels_; ++o)
            for (index_t c = 0; c < in_channels_; ++c)
                for (index_t tap = 0; tap < taps; ++tap)
                    t[(c * out_channels_ + o) * taps + (taps - 1 - tap)] =
                        w[(o * in_channels_ + c) * taps + tap];
        kernels::conv2d_geometry back;
        back.batch = g.batch, back.in_channels = out_channels_, back.out_channels = in_channels_;
        back.in_h = g.out_h(), back.in_w = g.out_w();
        back.kernel_h = back.kernel_w = k;
        back.stride_h = back.stride_w = 1;
        back.pad_h = back.pad_w = k - 1 - padding_;
        sparse_.backward = kernels::sparse_conv2d_weights::pack(back, t);
        kernels::sparse_conv2d_forward(sparse_.backward, g.batch, grad_out.data(), grad_in.data(),
                                       {}, sparse_.backward_workspace);
    }

    bool use_sparse_weight_grad() const {
        const auto& needed = weight_.grad_needed;
        if (groups_ != 1 || sparse_density_ <= 0.0 || needed.empty()) return false;
        BPR_REQUIRE(static_cast<index_t>(needed.size()) == weight_.value.size(),
                    "conv2d: weight grad_needed has ", needed.size(), " entries, weight has ",
                    weight_.value.size());
        const auto count =
            std::count_if(needed.begin(), needed.end(), [](std::uint8_t b) { return b != 0; });
        return static_cast<double>(count) <=
               sparse_density_ * static_cast<double>(weight_.value.size());
    }

    // grad[o, c, ky, kx] = sum over images and output positions of
    // grad_out[n, o, y, x] * in[n, c, y * s + ky - p, x * s + kx - p], for the needed
    // entries only (one thread per entry: the same sums whatever the thread count).
    void sparse_backward_weight(const kernels::conv2d_geometry& g, const tensor<T>& in,
                                const tensor<T>& grad_out) {
        const index_t k = kernel_, taps = k * k, s = stride_, p = padding_;
        const index_t oh = g.out_h(), ow = g.out_w(), ih = g.in_h, iw = g.in_w;
        const auto& needed = weight_.grad_needed;
        sparse_.needed.clear();
        for (std::size_t i = 0; i < needed.size(); ++i)
            if (needed[i]) sparse_.needed.push_back(static_cast<index_t>(i));
        T* grad = weight_.grad.data();
        std::fill(grad, grad + weight_.grad.size(), T(0));
        // Output positions [first, last) whose input row/column lies inside the image.
        auto valid = [s, p](index_t tap, index_t in_extent, index_t out_extent) {
            const index_t lo = p - tap, hi = in_extent - 1 + p - tap;
            const index_t first = lo > 0 ? (lo + s - 1) / s : 0;
            const index_t last = hi < 0 ? 0 : std::min(out_extent, hi / s + 1);
            return std::pair<index_t, index_t>{first, std::max(first, last)};
        };
        const T* x_all = in.data();
        const T* dy_all = grad_out.data();
        const auto entries = static_cast<index_t>(sparse_.needed.size());
#pragma omp parallel for schedule(static)
        for (index_t e = 0; e < entries; ++e) {
            const index_t i = sparse_.needed[static_cast<std::size_t>(e)];
            const index_t o = i / (in_channels_ * taps), c = i / taps % in_channels_;
            const index_t ky = i % taps / k, kx = i % k;
            const auto [y0, y1] = valid(ky, ih, oh);
            const auto [x0, x1] = valid(kx, iw, ow);
            double sum = 0.0;
            for (index_t n = 0; n < g.batch; ++n)
                for (index_t y = y0; y < y1; ++y) {
                    const T* dy = dy_all + ((n * out_channels_ + o) * oh + y) * ow;
                    const T* x = x_all + ((n * in_channels_ + c) * ih + y * s + ky - p) * iw;
                    if (s == 1) {
                        sum += detail::dot(dy + x0, x + x0 + kx - p, x1 - x0);
                    } else {
                        for (index_t j = x0; j < x1; ++j)
                            sum += dy[j] * x[j * s + kx - p];
                    }
                }
            grad[i] = static_cast<T>(sum);
        }
        if (!has_bias_) return;
        for (index_t o = 0; o < out_channels_; ++o) {
            double sum = 0.0;
            for (index_t n = 0; n < g.batch; ++n) {
                const T* dy = dy_all + (n * out_channels_ + o) * oh * ow;
                for (index_t j = 0; j < oh * ow; ++j)
                    sum += dy[j];
            }
            bias_.grad[o] = static_cast<T>(sum);
        }
    }

    struct sparse_state {
        kernels::sparse_conv2d_weights weights, backward;
        tensor<T> transposed;
        tensor<T> shift;              // forward_affine's bias folded into its shift
        std::vector<index_t> needed;  // flat indices of the needed weight gradients
        // One each: a workspace re-zeroes its buffers when the layout changes.
        kernels::sparse_conv2d_workspace forward_workspace, backward_workspace;
    };

    index_t in_channels_, out_channels_, kernel_, stride_, padding_, groups_;
    bool has_bias_;
    param<T> weight_;
    param<T> bias_;
    kernels::conv2d_workspace<T> workspace_;
    double sparse_density_ = 0.0;
    bool last_forward_sparse_ = false, last_backward_sparse_ = false,
         last_weight_grad_sparse_ = false;
    sparse_state sparse_;
};

// Sets the sparse-kernel density of every conv2d in `model` (see conv2d::set_sparse_density).
template <typename Model>
void set_sparse_density(Model& model, double density) {
    visit_layers(model, [&](std::string_view, auto& l) {
        if constexpr (requires { l.set_sparse_density(density); }) l.set_sparse_density(density);
    });
}

}  // namespace bpr
