#pragma once
// bpr::dropout: zeroes random activations during training (inverted dropout).

#include <cstdint>
#include <cstring>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// What it represents: torch.nn.Dropout(p): in train mode each element is zeroed with
// probability p and the survivors are scaled by 1 / (1 - p); in eval mode the identity.
// Requires: 0 <= p < 1.
// Guarantees: the masks come from the layer's own bpr::rng, drawn serially, so a given
// seed (constructor or seed()) gives the same masks on every platform and thread count;
// backward applies the mask of the last train-mode forward.
template <typename T = float>
class dropout {
  public:
    using value_type = T;

    explicit dropout(double p, std::uint64_t seed = 0) : p_(p), generator_(seed) {
        BPR_REQUIRE(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got ", p);
    }

    double p() const { return p_; }
    // Restarts the mask stream (e.g. per run, or for gradient checks).
    void seed(std::uint64_t value) { generator_.reseed(value); }
    rng& generator() { return generator_; }

    shape output_shape(const shape& in) const { return in; }

    template <typename F>
    void for_each_generator(std::string_view prefix, F&& f) {
        f(std::string(prefix), generator_);
    }

    void forward(const tensor<T>& in, tensor<T>& out, mode m) {
        out.resize(in.shape());
        last_train_ = m == mode::train && p_ > 0.0;
        if (!last_train_) {
            if (in.size() > 0) std::memcpy(out.data(), in.data(), sizeof(T) * in.size());
            return;
        }
        mask_.resize(in.shape());
        const T keep_scale = static_cast<T>(1.0 / (1.0 - p_));
        for (index_t i = 0; i < in.size(); ++i) {
            mask_[i] = generator_.uniform() < p_ ? T(0) : keep_scale;
            out[i] = in[i] * mask_[i];
        }
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        require_shape(grad_out, in.shape(), "dropout::backward", "grad_out");
        grad_in.resize(in.shape());
        if (!last_train_) {
            if (in.size() > 0) std::memcpy(grad_in.data(), grad_out.data(), sizeof(T) * in.size());
            return;
        }
        require_shape(mask_, in.shape(), "dropout::backward", "mask of the last forward");
        for (index_t i = 0; i < in.size(); ++i)
            grad_in[i] = grad_out[i] * mask_[i];
    }

  private:
    double p_;
    rng generator_;
    tensor<T> mask_;
    bool last_train_ = false;
};

}  // namespace bpr
