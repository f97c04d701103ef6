#pragma once
// Residual connections: bpr::residual (out = after(main(x) + shortcut(x))) and the
// shortcuts it is used with: identity, maybe<L> and channel_pad_shortcut (ResNet
// option A).

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

template <typename T>
class relu;

// What it represents: out = in, for any shape; no parameters. The default shortcut of
// bpr::residual and a branch of bpr::concat that passes its input through.
template <typename T = float>
class identity {
  public:
    using value_type = T;

    shape output_shape(const shape& in) const { return in; }
    void forward(const tensor<T>& in, tensor<T>& out, mode) { out = in; }
    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        require_shape(grad_out, in.shape(), "identity::backward", "grad_out");
        grad_in = grad_out;
    }
};

namespace detail {

template <typename L>
inline constexpr bool is_identity_v = false;
template <typename T>
inline constexpr bool is_identity_v<identity<T>> = true;

// The name a child reports its parameters under: its named<> name, else `fallback`.
template <typename L>
std::string_view child_label(std::string_view fallback) {
    if constexpr (requires { L::layer_name; })
        return L::layer_name;
    else
        return fallback;
}

// Rethrows a child's error with the composite's name and the child's role in front.
template <typename Body>
decltype(auto) with_context(const char* where, std::string_view role, Body&& body) {
    try {
        return body();
    } catch (const error& e) {
        throw error(concat(where, " (", role, "): ", e.what()));
    }
}

}  // namespace detail

// What it represents: the layer L or, when constructed without one, the identity; the
// choice is made at run time, so blocks of one type can have a projection shortcut or
// none (as PyTorch's empty nn.Sequential()).
// Guarantees: when present, L's parameters are reported under the prefix directly, so
// maybe<sequential<conv, bn>> named "shortcut" gives "shortcut.0.weight" as PyTorch.
template <layer L>
class maybe {
  public:
    using value_type = typename L::value_type;

    maybe() = default;
    explicit maybe(L inner) : inner_(std::move(inner)) {}

    bool has_value() const { return inner_.has_value(); }
    L& value() { return *inner_; }
    const L& value() const { return *inner_; }

    shape output_shape(const shape& in) const { return inner_ ? inner_->output_shape(in) : in; }

    // True when the output is the input unchanged (no layer), so a residual can skip it.
    bool passes_through(const shape&) const { return !inner_; }

    void forward(const tensor<value_type>& in, tensor<value_type>& out, mode m) {
        if (inner_)
            inner_->forward(in, out, m);
        else
            out = in;
    }

    void backward(const tensor<value_type>& in, const tensor<value_type>& out,
                  const tensor<value_type>& grad_out, tensor<value_type>& grad_in) {
        if (inner_) {
            inner_->backward(in, out, grad_out, grad_in);
        } else {
            require_shape(grad_out, in.shape(), "maybe::backward", "grad_out");
            grad_in = grad_out;
        }
    }

    template <typename Visit>
    void for_each_child(std::string_view prefix, Visit&& visit) {
        if (inner_) visit(*inner_, prefix);
    }

  private:
    std::optional<L> inner_;
};

// What it represents: the parameter-free "option A" shortcut of He et al. (2016) as
// PyTorch CIFAR ResNets write it: take every stride-th pixel (x[:, :, ::s, ::s]) and
// zero-pad the channels evenly on both sides, from in_channels to out_channels. With
// stride 1 and equal channel counts it is the identity.
// Requires: out_channels >= in_channels with an even difference; input [N, in, H, W].
// Guarantees: output [N, out, ceil(H / stride), ceil(W / stride)]; the input's
// channel c lands in output channel c + (out - in) / 2.
template <typename T = float>
class channel_pad_shortcut {
  public:
    using value_type = T;

    channel_pad_shortcut(index_t in_channels, index_t out_channels, index_t stride)
        : in_(in_channels), out_(out_channels), stride_(stride) {
        BPR_REQUIRE(in_channels >= 1, "channel_pad_shortcut: in_channels must be >= 1, got ",
                    in_channels);
        BPR_REQUIRE(out_channels >= in_channels && (out_channels - in_channels) % 2 == 0,
                    "channel_pad_shortcut: out_channels ", out_channels, " must be >= in_channels ",
                    in_channels, " with an even difference");
        BPR_REQUIRE(stride >= 1, "channel_pad_shortcut: stride must be >= 1, got ", stride);
    }

    index_t in_channels() const { return in_; }
    index_t out_channels() const { return out_; }
    index_t stride() const { return stride_; }

    shape output_shape(const shape& in) const {
        BPR_REQUIRE(in.rank() == 4, "channel_pad_shortcut: input has rank ", in.rank(), " (shape ",
                    in.str(), "), expected 4 (NCHW)");
        BPR_REQUIRE(in[1] == in_, "channel_pad_shortcut: input has ", in[1], " channels (shape ",
                    in.str(), "), expected ", in_);
        return {in[0], out_, (in[2] + stride_ - 1) / stride_, (in[3] + stride_ - 1) / stride_};
    }

    // True when the output is the input unchanged, so a residual can skip the copy.
    bool passes_through(const shape&) const { return stride_ == 1 && in_ == out_; }

    void forward(const tensor<T>& in, tensor<T>& out, mode) {
        const shape s = output_shape(in.shape());
        if (stride_ == 1 && in_ == out_) {
            out = in;
            return;
        }
        out.resize(s);
        out.zero();
        const index_t h = in.extent(2), w = in.extent(3), oh = s[2], ow = s[3];
        const index_t offset = (out_ - in_) / 2;
#pragma omp parallel for schedule(static) if (out.size() > detail::min_parallel_elements)
        for (index_t n = 0; n < s[0]; ++n)
            for (index_t c = 0; c < in_; ++c)
                for (index_t y = 0; y < oh; ++y)
                    for (index_t x = 0; x < ow; ++x)
                        out(n, c + offset, y, x) =
                            in.data()[((n * in_ + c) * h + y * stride_) * w + x * stride_];
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        const shape s = output_shape(in.shape());
        require_shape(grad_out, s, "channel_pad_shortcut::backward", "grad_out");
        if (stride_ == 1 && in_ == out_) {
            grad_in = grad_out;
            return;
        }
        grad_in.resize(in.shape());
        grad_in.zero();
        const index_t h = in.extent(2), w = in.extent(3), oh = s[2], ow = s[3];
        const index_t offset = (out_ - in_) / 2;
#pragma omp parallel for schedule(static) if (grad_in.size() > detail::min_parallel_elements)
        for (index_t n = 0; n < s[0]; ++n)
            for (index_t c = 0; c < in_; ++c)
                for (index_t y = 0; y < oh; ++y)
                    for (index_t x = 0; x < ow; ++x)
                        grad_in.data()[((n * in_ + c) * h + y * stride_) * w + x * stride_] =
                            grad_out(n, c + offset, y, x);
    }

  private:
    index_t in_, out_, stride_;
};

// What it represents: out = after(main(x) + shortcut(x)), a residual block (ResNet's
// basic block is residual<conv-bn-relu-conv-bn, shortcut, relu>).
// Requires: main and shortcut give the same output shape; all three share value_type.
// Guarantees: main's and after's parameters are reported under the block's prefix
// directly (so a block's "conv1" is "layer1.0.conv1" as in PyTorch), the shortcut's
// under its named<> name or "shortcut". Identity shortcuts (also a maybe<> without a
// layer and a channel_pad_shortcut that changes nothing) and afters cost no copies;
// with a relu after, the sum and the relu are one pass and the sum is not kept.
template <layer Main, layer Shortcut = identity<typename Main::value_type>,
          layer After = identity<typename Main::value_type>>
class residual {
  public:
    using value_type = typename Main::value_type;
    static_assert(std::is_same_v<typename Shortcut::value_type, value_type> &&
                      std::is_same_v<typename After::value_type, value_type>,
                  "bpr::residual: main, shortcut and after must share one value_type");

    residual() = default;
    explicit residual(Main main, Shortcut shortcut = Shortcut{}, After after = After{})
        : main_(std::move(main)), shortcut_(std::move(shortcut)), after_(std::move(after)) {}

    Main& main() { return main_; }
    Shortcut& shortcut() { return shortcut_; }
    After& after() { return after_; }

    shape output_shape(const shape& in) const {
        const shape m =
            detail::with_context("residual", "main", [&] { return main_.output_shape(in); });
        const shape s = detail::with_context("residual", "shortcut",
                                             [&] { return shortcut_.output_shape(in); });
        BPR_REQUIRE(m == s, "residual: main gives shape ", m.str(), " but shortcut gives ", s.str(),
                    " for input ", in.str());
        return detail::with_context("residual", "after", [&] { return after_.output_shape(m); });
    }

    void forward(const tensor<value_type>& in, tensor<value_type>& out, mode m) {
        detail::with_context("residual", "main", [&] { main_.forward(in, main_out_, m); });
        const tensor<value_type>* short_out = &in;
        if (shortcut_passes_through(in.shape())) {
            if constexpr (!detail::is_identity_v<Shortcut>)
                detail::with_context("residual", "shortcut",
                                     [&] { (void)shortcut_.output_shape(in.shape()); });
        } else {
            detail::with_context("residual", "shortcut",
                                 [&] { shortcut_.forward(in, shortcut_out_, m); });
            short_out = &shortcut_out_;
        }
        BPR_REQUIRE(main_out_.shape() == short_out->shape(), "residual: main gives shape ",
                    main_out_.shape().str(), " but shortcut gives ", short_out->shape().str(),
                    " for input ", in.shape().str());
        if constexpr (after_is_relu) {
            // One pass instead of two, and no sum buffer: relu's derivative only needs
            // out > 0, which equals sum > 0.
            out.resize(main_out_.shape());
            const value_type* a = main_out_.data();
            const value_type* b = short_out->data();
            value_type* y = out.data();
            const index_t size = out.size();
            // Memory-bound passes like this one run on every thread: serial, they left the
            // second thread idle for ~5% of a ResNet-20 training step.
#pragma omp parallel for schedule(static) if (size > detail::min_parallel_elements)
            for (index_t i = 0; i < size; ++i) {
                const value_type v = a[i] + b[i];
                y[i] = v > value_type(0) ? v : value_type(0);  // as bpr::relu: NaN gives 0
            }
        } else {
            tensor<value_type>& sum = detail::is_identity_v<After> ? out : sum_;
            sum.resize(main_out_.shape());
            sum.as_array() = main_out_.as_array() + short_out->as_array();
            if constexpr (!detail::is_identity_v<After>)
                detail::with_context("residual", "after", [&] { after_.forward(sum_, out, m); });
        }
    }

    void backward(const tensor<value_type>& in, const tensor<value_type>& out,
                  const tensor<value_type>& grad_out, tensor<value_type>& grad_in) {
        const tensor<value_type>* grad_sum = &grad_out;
        if constexpr (after_is_relu) {
            require_shape(grad_out, out.shape(), "residual::backward", "grad_out");
            grad_sum_.resize(out.shape());
            const value_type* y = out.data();
            const value_type* dy = grad_out.data();
            value_type* dx = grad_sum_.data();
            const index_t size = out.size();
#pragma omp parallel for schedule(static) if (size > detail::min_parallel_elements)
            for (index_t i = 0; i < size; ++i)
                dx[i] = y[i] > value_type(0) ? dy[i] : value_type(0);
            grad_sum = &grad_sum_;
        } else if constexpr (!detail::is_identity_v<After>) {
            detail::with_context("residual", "after",
                                 [&] { after_.backward(sum_, out, grad_out, grad_sum_); });
            grad_sum = &grad_sum_;
        }
        detail::with_context("residual", "main",
                             [&] { main_.backward(in, main_out_, *grad_sum, grad_in); });
        if (shortcut_passes_through(in.shape())) {
            add_to(grad_in, *grad_sum);
        } else {
            detail::with_context("residual", "shortcut", [&] {
                shortcut_.backward(in, shortcut_out_, *grad_sum, grad_shortcut_);
            });
            add_to(grad_in, grad_shortcut_);
        }
    }

    template <typename Visit>
    void for_each_child(std::string_view prefix, Visit&& visit) {
        visit(main_, prefix);
        visit(shortcut_, detail::join_name(prefix, detail::child_label<Shortcut>("shortcut")));
        visit(after_, prefix);
    }

  private:
    static constexpr bool after_is_relu = std::is_same_v<After, relu<value_type>>;

    static void add_to(tensor<value_type>& target, const tensor<value_type>& addend) {
        BPR_REQUIRE(target.shape() == addend.shape(), "residual::backward: main gives grad_in ",
                    target.shape().str(), " but the shortcut ", addend.shape().str());
        value_type* t = target.data();
        const value_type* a = addend.data();
        const index_t size = target.size();
#pragma omp parallel for schedule(static) if (size > detail::min_parallel_elements)
        for (index_t i = 0; i < size; ++i)
            t[i] += a[i];
    }

    bool shortcut_passes_through(const shape& in) const {
        if constexpr (detail::is_identity_v<Shortcut>)
            return true;
        else if constexpr (requires { shortcut_.passes_through(in); })
            return shortcut_.passes_through(in);
        else
            return false;
    }

    Main main_;
    Shortcut shortcut_;
    After after_;
    // Kept from the last forward for backward; reused across batches.
    tensor<value_type> main_out_, shortcut_out_, sum_;
    tensor<value_type> grad_sum_, grad_shortcut_;
};

}  // namespace bpr
