#pragma once
// bpr::mbconv: EfficientNet's mobile inverted bottleneck block (expansion 1x1,
// depthwise kxk, squeeze-and-excitation, projection 1x1, residual when shapes match).

#include <cstdint>
#include <string_view>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/nn/residual.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/nn/squeeze_excitation.hpp"

namespace bpr {

// How one MBConv block is sized.
struct mbconv_options {
    index_t in_channels = 0;
    index_t out_channels = 0;
    index_t kernel = 3;      // odd; padding kernel / 2 keeps the size at stride 1
    index_t stride = 1;      // of the depthwise convolution
    index_t expansion = 1;   // hidden channels = expansion * in_channels
    double se_ratio = 0.25;  // squeezed channels = floor(in_channels * se_ratio), at least 1
    double drop_rate = 0.0;  // drop-connect probability on the residual branch (train only)
};

// What it represents: the block of Tan & Le (2019) as kuangliu's pytorch-cifar writes
// it: h = silu(bn1(conv1(x))) (skipped when expansion == 1), h = silu(bn2(dwconv2(h))),
// h = se(h), h = bn3(conv3(h)); out = h + x when stride == 1 and in == out channels,
// with drop-connect (whole samples of h zeroed with probability drop_rate, survivors
// scaled by 1 / (1 - drop_rate)) in train mode.
// Requires: valid sizes (checked at construction); input [N, in_channels, H, W].
// Guarantees: parameter names as the reference: conv1, bn1 (only with expansion > 1;
// the reference also creates them, unused, when expansion == 1), conv2, bn2,
// se.se1, se.se2, conv3, bn3. Drop-connect draws from its own bpr::rng (seed()), so a
// run is reproducible.
template <typename T = float>
class mbconv {
    using expand_t = sequential<named<"conv1", conv2d<T>>, named<"bn1", batchnorm<T>>, silu<T>>;
    using body_t = sequential<named<"conv2", conv2d<T>>, named<"bn2", batchnorm<T>>, silu<T>,
                              named<"se", squeeze_excitation<T, silu<T>>>,
                              named<"conv3", conv2d<T>>, named<"bn3", batchnorm<T>>>;

  public:
    using value_type = T;

    explicit mbconv(const mbconv_options& o)
        : options_(o),
          expand_(make_expand(o)),
          body_(make_body(o)),
          skip_(o.stride == 1 && o.in_channels == o.out_channels) {}

    const mbconv_options& options() const { return options_; }
    bool has_skip() const { return skip_; }

    // Reseeds the drop-connect generator.
    void seed(std::uint64_t s) { generator_.reseed(s); }

    shape output_shape(const shape& in) const {
        BPR_REQUIRE(in.rank() == 4 && in[1] == options_.in_channels, "mbconv: input shape ",
                    in.str(), ", expected [N, ", options_.in_channels, ", H, W]");
        return body_.output_shape(expand_.output_shape(in));
    }

    void forward(const tensor<T>& in, tensor<T>& out, mode m) {
        output_shape(in.shape());
        const tensor<T>& expanded = expanded_input(in, m);
        if (!skip_) {
            body_.forward(expanded, out, m);
            return;
        }
        body_.forward(expanded, body_out_, m);
        const index_t n = in.extent(0), per_sample = in.size() / n;
        scale_.assign(static_cast<std::size_t>(n), T(1));
        if (m == mode::train && options_.drop_rate > 0.0) {
            const double keep = 1.0 - options_.drop_rate;
            for (auto& s : scale_)
                s = generator_.uniform() < keep ? static_cast<T>(1.0 / keep) : T(0);
        }
        out.resize(in.shape());
        for (index_t i = 0; i < n; ++i) {
            const index_t offset = i * per_sample;
            const T s = scale_[static_cast<std::size_t>(i)];
            for (index_t j = 0; j < per_sample; ++j)
                out[offset + j] = s * body_out_[offset + j] + in[offset + j];
        }
    }

    void backward(const tensor<T>& in, const tensor<T>& out, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        const tensor<T>& expanded = expand_.has_value() ? expanded_ : in;
        tensor<T>& grad_expanded = expand_.has_value() ? grad_expanded_ : grad_in;
        if (!skip_) {
            body_.backward(expanded, out, grad_out, grad_expanded);
        } else {
            require_shape(grad_out, in.shape(), "mbconv::backward", "grad_out");
            const index_t n = in.extent(0), per_sample = in.size() / n;
            grad_body_.resize(in.shape());
            for (index_t i = 0; i < n; ++i) {
                const T s = scale_[static_cast<std::size_t>(i)];
                for (index_t j = 0; j < per_sample; ++j)
                    grad_body_[i * per_sample + j] = s * grad_out[i * per_sample + j];
            }
            body_.backward(expanded, body_out_, grad_body_, grad_expanded);
        }
        if (expand_.has_value()) expand_.backward(in, expanded_, grad_expanded_, grad_in);
        if (skip_) grad_in.as_array() += grad_out.as_array();
    }

    template <typename Visit>
    void for_each_child(std::string_view prefix, Visit&& visit) {
        visit(expand_, prefix);
        visit(body_, prefix);
    }
    template <typename F>
    void for_each_generator(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "drop_connect"), generator_);
    }

  private:
    static index_t hidden(const mbconv_options& o) { return o.expansion * o.in_channels; }

    static maybe<expand_t> make_expand(const mbconv_options& o) {
        BPR_REQUIRE(o.in_channels >= 1, "mbconv: in_channels must be >= 1, got ", o.in_channels);
        BPR_REQUIRE(o.out_channels >= 1, "mbconv: out_channels must be >= 1, got ", o.out_channels);
        BPR_REQUIRE(o.expansion >= 1, "mbconv: expansion must be >= 1, got ", o.expansion);
        BPR_REQUIRE(o.kernel >= 1 && o.kernel % 2 == 1, "mbconv: kernel must be odd, got ",
                    o.kernel);
        BPR_REQUIRE(o.se_ratio > 0.0, "mbconv: se_ratio must be > 0, got ", o.se_ratio);
        BPR_REQUIRE(o.drop_rate >= 0.0 && o.drop_rate < 1.0,
                    "mbconv: drop_rate must be in [0, 1), got ", o.drop_rate);
        if (o.expansion == 1) return maybe<expand_t>{};
        const index_t h = hidden(o);
        return maybe<expand_t>(
            expand_t(conv2d<T>(o.in_channels, h, 1), batchnorm<T>(h), silu<T>{}));
    }

    static body_t make_body(const mbconv_options& o) {
        const index_t h = hidden(o);
        const auto squeezed = static_cast<index_t>(static_cast<double>(o.in_channels) * o.se_ratio);
        return body_t(conv2d<T>(h, h, o.kernel, o.stride, o.kernel / 2, h), batchnorm<T>(h),
                      silu<T>{}, squeeze_excitation<T, silu<T>>(h, squeezed < 1 ? 1 : squeezed),
                      conv2d<T>(h, o.out_channels, 1), batchnorm<T>(o.out_channels));
    }

    const tensor<T>& expanded_input(const tensor<T>& in, mode m) {
        if (!expand_.has_value()) return in;
        expand_.forward(in, expanded_, m);
        return expanded_;
    }

    mbconv_options options_;
    maybe<expand_t> expand_;
    body_t body_;
    bool skip_;
    rng generator_{0x6d62636f6e76ULL};
    // From the last forward, for backward.
    tensor<T> expanded_, body_out_;
    std::vector<T> scale_;
    tensor<T> grad_expanded_, grad_body_;
};

}  // namespace bpr
