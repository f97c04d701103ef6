#pragma once
// bpr::conv2d: a 2-D convolution layer (stride, zero padding, groups incl. depthwise).

#include <string>
#include <string_view>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/conv2d_geometry.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// What it represents: out = conv(in, weight) (+ bias) over NCHW input, square kernel,
// equal stride and zero padding on both axes, dilation 1, as torch.nn.Conv2d.
// Requires: in_channels and out_channels divisible by groups; input [N, in_channels, H, W]
// with H, W + 2 * padding >= kernel.
// Guarantees: weight is OIHW [out, in / groups, k, k] (role weight, named "weight"),
// the optional bias [out] (role bias, named "bias"); parameters start at zero (see
// bpr::initialize); backward overwrites the parameter gradients. Scratch memory is
// reused across batches.
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

    void forward(const tensor<T>& in, tensor<T>& out, mode) {
        const auto g = geometry(in.shape());
        out.resize(g.output_shape());
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
        kernels::conv2d_backward_data(g, grad_out.data(), weight_.value.data(), grad_in.data(),
                                      workspace_);
        kernels::conv2d_backward_weight(g, in.data(), grad_out.data(), weight_.grad.data(),
                                        has_bias_ ? bias_.grad.data() : nullptr, workspace_);
    }

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "weight"), weight_);
        if (has_bias_) f(detail::join_name(prefix, "bias"), bias_);
    }

  private:
    index_t in_channels_, out_channels_, kernel_, stride_, padding_, groups_;
    bool has_bias_;
    param<T> weight_;
    param<T> bias_;
    kernels::conv2d_workspace<T> workspace_;
};

}  // namespace bpr
