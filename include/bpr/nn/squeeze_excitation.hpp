#pragma once
// bpr::squeeze_excitation: channel attention, x * sigmoid(fc2(act(fc1(mean_hw(x))))).

#include <string_view>
#include <type_traits>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// What it represents: the squeeze-and-excitation block of Hu et al. (2018) as
// EfficientNet uses it: s = global average of x over H, W; g = sigmoid(W2 act(W1 s +
// b1) + b2); out[n, c] = x[n, c] * g[n, c]. Activation is a layer over [N, squeezed]
// (silu for EfficientNet, relu for SENet).
// Requires: input [N, channels, H, W]; squeezed >= 1.
// Guarantees: parameters stored as PyTorch's 1x1 convolutions: "se1.weight"
// [squeezed, channels, 1, 1] (role weight), "se1.bias" [squeezed], "se2.weight"
// [channels, squeezed, 1, 1], "se2.bias" [channels]; they start at zero (see
// bpr::initialize). The excitation of the last forward is kept for backward.
template <typename T = float, layer Activation = silu<T>>
class squeeze_excitation {
  public:
    using value_type = T;
    static_assert(std::is_same_v<typename Activation::value_type, T>,
                  "bpr::squeeze_excitation: Activation must have value_type T");

    squeeze_excitation(index_t channels, index_t squeezed)
        : channels_(channels), squeezed_(squeezed) {
        BPR_REQUIRE(channels >= 1, "squeeze_excitation: channels must be >= 1, got ", channels);
        BPR_REQUIRE(squeezed >= 1, "squeeze_excitation: squeezed must be >= 1, got ", squeezed);
        w1_ = param<T>({squeezed, channels, 1, 1}, param_role::weight);
        b1_ = param<T>({squeezed}, param_role::bias);
        w2_ = param<T>({channels, squeezed, 1, 1}, param_role::weight);
        b2_ = param<T>({channels}, param_role::bias);
    }

    index_t channels() const { return channels_; }
    index_t squeezed() const { return squeezed_; }

    shape output_shape(const shape& in) const {
        BPR_REQUIRE(in.rank() == 4, "squeeze_excitation: input has rank ", in.rank(), " (shape ",
                    in.str(), "), expected 4 (NCHW)");
        BPR_REQUIRE(in[1] == channels_, "squeeze_excitation: input has ", in[1],
                    " channels (shape ", in.str(), "), expected ", channels_);
        BPR_REQUIRE(in[2] * in[3] >= 1, "squeeze_excitation: input has an empty plane (shape ",
                    in.str(), ")");
        return in;
    }

    void forward(const tensor<T>& in, tensor<T>& out, mode m) {
        output_shape(in.shape());
        const index_t n = in.extent(0), c = channels_, plane = in.extent(2) * in.extent(3);
        // Squeeze: per-sample channel means.
        pooled_.resize({n, c});
        pooled_.as_matrix(n * c, 1) =
            in.as_matrix(n * c, plane).rowwise().sum() / static_cast<T>(plane);
        // Excite: two small fully connected layers.
        hidden_.resize({n, squeezed_});
        hidden_.as_matrix(n, squeezed_).noalias() =
            pooled_.as_matrix(n, c) * w1_.value.as_matrix(squeezed_, c).transpose();
        hidden_.as_matrix(n, squeezed_).rowwise() += b1_.value.as_matrix(1, squeezed_).row(0);
        activation_.forward(hidden_, activated_, m);
        gate_.resize({n, c});
        auto gate = gate_.as_matrix(n, c);
        gate.noalias() =
            activated_.as_matrix(n, squeezed_) * w2_.value.as_matrix(c, squeezed_).transpose();
        gate.rowwise() += b2_.value.as_matrix(1, c).row(0);
        for (T& v : gate_)
            v = detail::sigmoid_fn::value(v);
        // Scale every plane by its gate.
        out.resize(in.shape());
        out.as_matrix(n * c, plane) =
            in.as_matrix(n * c, plane).array().colwise() * gate_.as_array();
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        output_shape(in.shape());
        require_shape(grad_out, in.shape(), "squeeze_excitation::backward", "grad_out");
        const index_t n = in.extent(0), c = channels_, plane = in.extent(2) * in.extent(3);
        const auto x = in.as_matrix(n * c, plane);
        const auto dy = grad_out.as_matrix(n * c, plane);
        // d gate = sum over the plane of dy * x; through the sigmoid: * g (1 - g).
        grad_gate_.resize({n, c});
        grad_gate_.as_matrix(n * c, 1) = (dy.array() * x.array()).rowwise().sum().matrix();
        grad_gate_.as_array() *= gate_.as_array() * (T(1) - gate_.as_array());
        const auto dz2 = grad_gate_.as_matrix(n, c);
        w2_.grad.as_matrix(c, squeezed_).noalias() =
            dz2.transpose() * activated_.as_matrix(n, squeezed_);
        b2_.grad.as_matrix(1, c).noalias() = dz2.colwise().sum();
        grad_activated_.resize({n, squeezed_});
        grad_activated_.as_matrix(n, squeezed_).noalias() = dz2 * w2_.value.as_matrix(c, squeezed_);
        activation_.backward(hidden_, activated_, grad_activated_, grad_hidden_);
        const auto dz1 = grad_hidden_.as_matrix(n, squeezed_);
        w1_.grad.as_matrix(squeezed_, c).noalias() = dz1.transpose() * pooled_.as_matrix(n, c);
        b1_.grad.as_matrix(1, squeezed_).noalias() = dz1.colwise().sum();
        grad_pooled_.resize({n, c});
        grad_pooled_.as_matrix(n, c).noalias() = dz1 * w1_.value.as_matrix(squeezed_, c);
        // dx = dy * g (the direct path) + d pooled / plane (through the mean).
        grad_in.resize(in.shape());
        grad_in.as_matrix(n * c, plane) = (dy.array().colwise() * gate_.as_array()).colwise() +
                                          grad_pooled_.as_array() / static_cast<T>(plane);
    }

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "se1.weight"), w1_);
        f(detail::join_name(prefix, "se1.bias"), b1_);
        f(detail::join_name(prefix, "se2.weight"), w2_);
        f(detail::join_name(prefix, "se2.bias"), b2_);
    }

  private:
    index_t channels_, squeezed_;
    param<T> w1_, b1_, w2_, b2_;
    Activation activation_;
    // From the last forward, for backward: means, pre- and post-activation, gates.
    tensor<T> pooled_, hidden_, activated_, gate_;
    tensor<T> grad_gate_, grad_activated_, grad_hidden_, grad_pooled_;
};

}  // namespace bpr
