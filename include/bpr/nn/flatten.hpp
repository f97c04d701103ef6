#pragma once
// bpr::flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...], between convolutions and linear.

#include <cstring>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// What it represents: torch.nn.Flatten(): keeps the batch axis, merges the others.
// Requires: input of rank >= 1 (rank 1 gives [N, 1]).
// Guarantees: values keep their row-major order; backward restores the input shape.
template <typename T = float>
class flatten {
  public:
    using value_type = T;

    shape output_shape(const shape& in) const {
        BPR_REQUIRE(in.rank() >= 1, "flatten: input has rank 0, expected at least 1 (the batch)");
        return {in[0], in[0] == 0 ? 0 : in.numel() / in[0]};
    }

    void forward(const tensor<T>& in, tensor<T>& out, mode) {
        out.resize(output_shape(in.shape()));
        if (in.size() > 0) std::memcpy(out.data(), in.data(), sizeof(T) * in.size());
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        require_shape(grad_out, output_shape(in.shape()), "flatten::backward", "grad_out");
        grad_in.resize(in.shape());
        if (in.size() > 0) std::memcpy(grad_in.data(), grad_out.data(), sizeof(T) * in.size());
    }
};

}  // namespace bpr
