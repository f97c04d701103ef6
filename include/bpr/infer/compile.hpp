#pragma once
// bpr::infer::compile: turns a trained, masked bpr model (sequential / repeat / residual /
// concat of conv2d, batchnorm, activations, pools, flatten, linear, dropout, MBConv and
// squeeze-excitation) into an inference-only bpr::infer::engine. Pruned weights are the zeros of
// the model's weights (masks applied, as after bpr-prune, bpr-regrow or read_sparse_model).

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/infer/builder.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/concat.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/dropout.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/mbconv.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/nn/repeat.hpp"
#include "bpr/nn/residual.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/nn/squeeze_excitation.hpp"

namespace bpr::infer {

namespace lowering {

// One overload per supported layer; a model containing another layer type does not
// compile (no overload matches), which is the intended error: the engine would not
// know how to run it. Declared first so that composites find every leaf.
template <layer... Layers>
void lower(builder& b, sequential<Layers...>& s, const std::string& prefix);
template <layer Block>
void lower(builder& b, repeat<Block>& r, const std::string& prefix);
template <layer Main, layer Shortcut, layer After>
void lower(builder& b, residual<Main, Shortcut, After>& r, const std::string& prefix);
template <layer L>
void lower(builder& b, maybe<L>& m, const std::string& prefix);
template <layer... Branches>
void lower(builder& b, concat<Branches...>& c, const std::string& prefix);
inline void lower(builder& b, mbconv<float>& m, const std::string& prefix);
template <layer Activation>
void lower(builder& b, squeeze_excitation<float, Activation>& se, const std::string& prefix);
inline void lower(builder& b, conv2d<float>& c, const std::string& prefix);
inline void lower(builder& b, linear<float>& l, const std::string& prefix);
inline void lower(builder& b, batchnorm<float>& n, const std::string& prefix);
inline void lower(builder& b, relu<float>&, const std::string&) {
    b.activation(kernels::activation::relu);
}
inline void lower(builder& b, relu6<float>&, const std::string&) {
    b.activation(kernels::activation::relu6);
}
inline void lower(builder& b, silu<float>&, const std::string&) {
    b.activation(kernels::activation::silu);
}
inline void lower(builder& b, sigmoid<float>&, const std::string&) {
    b.sigmoid();
}
inline void lower(builder& b, max_pool2d<float>& p, const std::string&) {
    b.pool(true, p.kernel_size(), p.stride(), p.padding());
}
inline void lower(builder& b, avg_pool2d<float>& p, const std::string&) {
    b.pool(false, p.kernel_size(), p.stride(), p.padding());
}
inline void lower(builder& b, global_avg_pool<float>&, const std::string&) {
    b.global_pool();
}
inline void lower(builder& b, flatten<float>&, const std::string&) {
    b.flatten();
}
// Eval mode: dropout and identity do nothing.
inline void lower(builder&, dropout<float>&, const std::string&) {}
inline void lower(builder&, identity<float>&, const std::string&) {}
inline void lower(builder& b, channel_pad_shortcut<float>& s, const std::string&) {
    if (s.stride() == 1 && s.in_channels() == s.out_channels()) return;
    b.pad_shortcut(s.out_channels(), s.stride());
}

// The activation a residual's `after` layer fuses as, or false when it cannot.
template <typename After>
constexpr bool fusable_after() {
    return std::is_base_of_v<identity<float>, After> || std::is_base_of_v<relu<float>, After> ||
           std::is_base_of_v<relu6<float>, After> || std::is_base_of_v<silu<float>, After>;
}
template <typename After>
constexpr kernels::activation after_activation() {
    if constexpr (std::is_base_of_v<relu<float>, After>)
        return kernels::activation::relu;
    else if constexpr (std::is_base_of_v<relu6<float>, After>)
        return kernels::activation::relu6;
    else if constexpr (std::is_base_of_v<silu<float>, After>)
        return kernels::activation::silu;
    else
        return kernels::activation::none;
}

template <layer... Layers>
void lower(builder& b, sequential<Layers...>& s, const std::string& prefix) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (lower(b, s.template get<I>(),
               bpr::detail::join_name(
                   prefix,
                   bpr::detail::child_name<std::tuple_element_t<I, std::tuple<Layers...>>>(I))),
         ...);
    }
    (std::make_index_sequence<sizeof...(Layers)>{});
}

template <layer Block>
void lower(builder& b, repeat<Block>& r, const std::string& prefix) {
    for (std::size_t i = 0; i < r.size(); ++i)
        lower(b, r[i], bpr::detail::join_name(prefix, std::to_string(i)));
}

// The shortcut is lowered first, so that the main branch's last convolution can read
// it in its epilogue (conv -> + shortcut -> after activation, one pass).
template <layer Main, layer Shortcut, layer After>
void lower(builder& b, residual<Main, Shortcut, After>& r, const std::string& prefix) {
    const int x = b.current();
    b.seal(x);
    lower(b, r.shortcut(),
          bpr::detail::join_name(prefix, bpr::detail::child_label<Shortcut>("shortcut")));
    const int shortcut = b.current();
    b.seal(shortcut);
    b.set_current(x);
    lower(b, r.main(), prefix);
    if constexpr (fusable_after<After>()) {
        b.add(shortcut, after_activation<After>());
    } else {
        b.add(shortcut, kernels::activation::none);
        lower(b, r.after(), prefix);
    }
}

template <layer L>
void lower(builder& b, maybe<L>& m, const std::string& prefix) {
    if (m.has_value()) lower(b, m.value(), prefix);
}

// Every branch starts from the block's input; an identity branch is the input itself.
template <layer... Branches>
void lower(builder& b, concat<Branches...>& c, const std::string& prefix) {
    const int x = b.current();
    b.seal(x);
    std::vector<int> outputs;
    c.for_each_child(prefix, [&](auto& branch, std::string_view branch_prefix) {
        b.set_current(x);
        lower(b, branch, std::string(branch_prefix));
        outputs.push_back(b.current());
    });
    b.concat(outputs);
}

// Eval mode: drop-connect is off, so the block is expand -> body (+ x).
inline void lower(builder& b, mbconv<float>& m, const std::string& prefix) {
    const int x = b.current();
    if (m.has_skip()) b.seal(x);
    m.for_each_child(prefix, [&](auto& child, std::string_view child_prefix) {
        lower(b, child, std::string(child_prefix));
    });
    if (m.has_skip()) b.add(x, kernels::activation::none);
}

template <layer Activation>
void lower(builder& b, squeeze_excitation<float, Activation>& se, const std::string&) {
    static_assert(fusable_after<Activation>(),
                  "bpr::infer::compile: a squeeze-excitation's activation must be identity, "
                  "relu, relu6 or silu");
    // By name, so that the order the layer reports its parameters in does not matter.
    const float *w1 = nullptr, *b1 = nullptr, *w2 = nullptr, *b2 = nullptr;
    se.for_each_param("", [&](const std::string& name, param<float>& p) {
        const float* data = p.value.data();
        if (name == "se1.weight") w1 = data;
        if (name == "se1.bias") b1 = data;
        if (name == "se2.weight") w2 = data;
        if (name == "se2.bias") b2 = data;
    });
    BPR_REQUIRE(w1 && b1 && w2 && b2, "infer::compile: a squeeze-excitation without se1/se2");
    b.squeeze_excitation(se.squeezed(), w1, b1, w2, b2, after_activation<Activation>());
}

inline void lower(builder& b, conv2d<float>& c, const std::string& prefix) {
    kernels::conv2d_geometry g;
    g.in_channels = c.in_channels(), g.out_channels = c.out_channels();
    g.kernel_h = g.kernel_w = c.kernel_size();
    g.stride_h = g.stride_w = c.stride();
    g.pad_h = g.pad_w = c.padding();
    g.groups = c.groups();
    b.conv(prefix, g, c.weight().value.data(), c.has_bias() ? c.bias().value.data() : nullptr);
}

inline void lower(builder& b, linear<float>& l, const std::string& prefix) {
    b.linear(prefix, l.in_features(), l.out_features(), l.weight().value.data(),
             l.has_bias() ? l.bias().value.data() : nullptr);
}

// Eval-mode batchnorm as y = scale * x + shift, in double as batchnorm's eval forward.
inline void lower(builder& b, batchnorm<float>& n, const std::string&) {
    const auto channels = static_cast<std::size_t>(n.channels());
    std::vector<double> scale(channels), shift(channels);
    for (std::size_t c = 0; c < channels; ++c) {
        const auto i = static_cast<index_t>(c);
        const double inv_std = 1.0 / std::sqrt(static_cast<double>(n.running_var()[i]) + n.eps());
        scale[c] = static_cast<double>(n.weight().value[i]) * inv_std;
        shift[c] = static_cast<double>(n.bias().value[i]) -
                   scale[c] * static_cast<double>(n.running_mean()[i]);
    }
    b.affine(scale, shift);
}

}  // namespace lowering

// What it does: compiles `model` for single images of `input` extents (channels,
// height, width) into an inference engine: eval-mode batchnorm folded into the
// preceding convolution or linear layer (scale into the weights, shift into the bias),
// activations and residual adds fused into the epilogue, sparse or dense kernels per
// layer by density (see crossover.hpp), buffers for options.max_batch images.
// Requires: a model made of the layers lowering:: supports, with float weights; zeros
// in the weights are the pruned connections.
// Guarantees: engine.forward equals model.forward(.., mode::eval) up to float rounding
// (tests/infer check 1e-4 relative); the model is not modified; a wrong input shape
// throws bpr::error with the model's own message.
template <typename Model>
engine compile(Model& model, value_shape input, const compile_options& options = {}) {
    BPR_REQUIRE(input.channels >= 1 && input.height >= 1 && input.width >= 1,
                "infer::compile: input extents must be >= 1, got ", input.channels, "x",
                input.height, "x", input.width);
    (void)model.output_shape({1, input.channels, input.height, input.width});
    builder b(input);
    lowering::lower(b, model, std::string{});
    return b.finish(options);
}

}  // namespace bpr::infer
