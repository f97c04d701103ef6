#pragma once
// Tiny hand-made layers for the sparse, prune and io tests: they do not depend on the
// library's real layers, so these tests pin down masks and budgets on their own.

#include <string_view>

#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/nn/sequential.hpp"

namespace bpr::test {

// y = x * W^T + b over [N, in] inputs; weight role weight, bias role bias.
template <typename T = float>
class tiny_dense {
  public:
    using value_type = T;
    tiny_dense() : tiny_dense(1, 1) {}
    tiny_dense(index_t in, index_t out)
        : in_(in),
          out_(out),
          weight_({out, in}, param_role::weight),
          bias_({out}, param_role::bias) {}

    shape output_shape(const shape& in) const {
        BPR_REQUIRE(in.rank() == 2 && in[1] == in_, "tiny_dense: bad input ", in.str());
        return {in[0], out_};
    }
    void forward(const tensor<T>& in, tensor<T>& out, mode) {
        out.resize(output_shape(in.shape()));
        const index_t n = in.extent(0);
        for (index_t b = 0; b < n; ++b)
            for (index_t o = 0; o < out_; ++o) {
                T sum = bias_.value[o];
                for (index_t i = 0; i < in_; ++i)
                    sum += in[b * in_ + i] * weight_.value[o * in_ + i];
                out[b * out_ + o] = sum;
            }
    }
    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        const index_t n = in.extent(0);
        weight_.grad.zero();
        bias_.grad.zero();
        grad_in.resize(in.shape());
        grad_in.zero();
        for (index_t b = 0; b < n; ++b)
            for (index_t o = 0; o < out_; ++o) {
                const T g = grad_out[b * out_ + o];
                bias_.grad[o] += g;
                for (index_t i = 0; i < in_; ++i) {
                    weight_.grad[o * in_ + i] += g * in[b * in_ + i];
                    grad_in[b * in_ + i] += g * weight_.value[o * in_ + i];
                }
            }
    }
    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "weight"), weight_);
        f(detail::join_name(prefix, "bias"), bias_);
    }
    param<T>& weight() { return weight_; }
    param<T>& bias() { return bias_; }

  private:
    index_t in_, out_;
    param<T> weight_, bias_;
};

// Holds an OIHW conv-shaped weight, a norm scale/shift and a running buffer, and passes
// its input through unchanged: enough for budgets, allocations and exports.
template <index_t O, index_t I, index_t K, typename T = float>
class tiny_conv_params {
  public:
    using value_type = T;
    tiny_conv_params()
        : weight_({O, I, K, K}, param_role::weight),
          scale_({O}, param_role::norm_scale),
          shift_({O}, param_role::norm_shift),
          running_({O}) {}
    shape output_shape(const shape& in) const { return in; }
    void forward(const tensor<T>& in, tensor<T>& out, mode) { out = in; }
    void backward(const tensor<T>&, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        weight_.grad.zero();
        grad_in = grad_out;
    }
    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "weight"), weight_);
        f(detail::join_name(prefix, "bn.weight"), scale_);
        f(detail::join_name(prefix, "bn.bias"), shift_);
    }
    template <typename F>
    void for_each_buffer(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "bn.running_mean"), running_);
    }

  private:
    param<T> weight_, scale_, shift_;
    tensor<T> running_;
};

// Fills every parameter and buffer with deterministic normal values.
template <typename Model>
void randomize(Model& model, std::uint64_t seed) {
    rng generator(seed);
    visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        for (auto& v : p.value)
            v = static_cast<typename std::decay_t<decltype(p.value)>::value_type>(
                generator.normal());
    });
    visit_buffers(model, [&](const std::string&, auto& t) {
        for (auto& v : t)
            v = static_cast<typename std::decay_t<decltype(t)>::value_type>(generator.normal());
    });
}

// conv [8,3,3,3] (+bn), conv [16,8,3,3] (+bn), fc [10,16] (+bias): 216 + 1152 + 160
// prunable weights; the convs pass their input through, so inputs are [N, 16].
using tiny_net =
    sequential<named<"conv1", tiny_conv_params<8, 3, 3>>,
               named<"conv2", tiny_conv_params<16, 8, 3>>, named<"fc", tiny_dense<float>>>;
inline tiny_net make_tiny_net(std::uint64_t seed = 1) {
    tiny_net net{tiny_conv_params<8, 3, 3>{}, tiny_conv_params<16, 8, 3>{},
                 tiny_dense<float>(16, 10)};
    randomize(net, seed);
    return net;
}

// Two dense layers, trainable end to end: [N, 6] -> 12 -> 4.
using tiny_mlp = sequential<named<"fc1", tiny_dense<float>>, named<"fc2", tiny_dense<float>>>;
inline tiny_mlp make_tiny_mlp(std::uint64_t seed = 1) {
    tiny_mlp net{tiny_dense<float>(6, 12), tiny_dense<float>(12, 4)};
    randomize(net, seed);
    return net;
}

}  // namespace bpr::test
