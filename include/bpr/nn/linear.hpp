#pragma once
// bpr::linear: a fully connected layer, out = in * weight^T + bias.

#include <string_view>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// What it represents: torch.nn.Linear over a batch of row vectors.
// Requires: input [N, in_features] (use bpr::flatten before it for images).
// Guarantees: weight [out, in] in PyTorch's layout (role weight, "weight"), optional
// bias [out] (role bias, "bias"); parameters start at zero (see bpr::initialize);
// products go through Eigen's GEMM; backward overwrites the parameter gradients.
template <typename T = float>
class linear {
  public:
    using value_type = T;

    linear(index_t in_features, index_t out_features, bool bias = true)
        : in_(in_features), out_(out_features), has_bias_(bias) {
        BPR_REQUIRE(in_features >= 1, "linear: in_features must be >= 1, got ", in_features);
        BPR_REQUIRE(out_features >= 1, "linear: out_features must be >= 1, got ", out_features);
        weight_ = param<T>({out_features, in_features}, param_role::weight);
        if (has_bias_) bias_ = param<T>({out_features}, param_role::bias);
    }

    index_t in_features() const { return in_; }
    index_t out_features() const { return out_; }
    bool has_bias() const { return has_bias_; }

    param<T>& weight() { return weight_; }
    const param<T>& weight() const { return weight_; }
    // Only meaningful when has_bias(); otherwise an empty parameter.
    param<T>& bias() { return bias_; }
    const param<T>& bias() const { return bias_; }

    shape output_shape(const shape& in) const {
        BPR_REQUIRE(in.rank() == 2, "linear: input has rank ", in.rank(), " (shape ", in.str(),
                    "), expected 2 ([N, features]; add bpr::flatten before it)");
        BPR_REQUIRE(in[1] == in_, "linear: input has ", in[1], " features (shape ", in.str(),
                    "), expected ", in_);
        return {in[0], out_};
    }

    void forward(const tensor<T>& in, tensor<T>& out, mode) {
        out.resize(output_shape(in.shape()));
        const index_t n = in.extent(0);
        auto y = out.as_matrix(n, out_);
        y.noalias() = in.as_matrix(n, in_) * weight_.value.as_matrix(out_, in_).transpose();
        if (has_bias_) y.rowwise() += row_vector_map(bias_.value.data(), out_);
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        const shape out_shape = output_shape(in.shape());
        require_shape(grad_out, out_shape, "linear::backward", "grad_out");
        const index_t n = in.extent(0);
        const auto dy = grad_out.as_matrix(n, out_);
        weight_.grad.as_matrix(out_, in_).noalias() = dy.transpose() * in.as_matrix(n, in_);
        if (has_bias_) bias_.grad.as_matrix(1, out_).noalias() = dy.colwise().sum();
        grad_in.resize(in.shape());
        grad_in.as_matrix(n, in_).noalias() = dy * weight_.value.as_matrix(out_, in_);
    }

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "weight"), weight_);
        if (has_bias_) f(detail::join_name(prefix, "bias"), bias_);
    }

  private:
    using row_vector_map = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>;

    index_t in_, out_;
    bool has_bias_;
    param<T> weight_;
    param<T> bias_;
};

}  // namespace bpr
