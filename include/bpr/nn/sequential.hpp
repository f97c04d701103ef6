#pragma once
// bpr::sequential: a chain of layers whose types are fixed at compile time.

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// Declared here so that sequential can recognise them for eval-mode fusion without
// including every layer.
template <typename T>
class conv2d;
template <typename T>
class batchnorm;
template <typename T>
class relu;

// A compile-time string, so that a layer's name can be part of its type.
template <std::size_t Size>
struct fixed_string {
    char text[Size]{};
    constexpr fixed_string(const char (&literal)[Size]) { std::copy_n(literal, Size, text); }
    constexpr std::string_view view() const { return {text, Size - 1}; }
};

// named<"conv1", L>: the layer L, whose parameters are reported under "conv1." inside
// a sequential instead of under its position. Lets a model reproduce PyTorch names.
template <fixed_string Name, layer L>
class named : public L {
  public:
    using L::L;
    named() = default;
    named(L inner) : L(std::move(inner)) {}
    static constexpr std::string_view layer_name = Name.view();
};

namespace detail {

// The layer type under any named<> wrapper.
template <typename L>
struct unnamed {
    using type = L;
};
template <fixed_string Name, layer L>
struct unnamed<named<Name, L>> {
    using type = L;
};
template <typename L>
using unnamed_t = typename unnamed<L>::type;

template <typename L>
std::string child_name(std::size_t position) {
    if constexpr (requires { L::layer_name; })
        return std::string(L::layer_name);
    else
        return std::to_string(position);
}

// Prefixes a layer's error with its position, giving a path such as
// "layer 3 (layer1): layer 0 (conv1): conv2d: input has 3 channels, expected 16".
template <typename L, typename Body>
decltype(auto) with_layer_context(std::size_t position, Body&& body) {
    try {
        return body();
    } catch (const error& e) {
        const std::string name = child_name<L>(position);
        const std::string label = name == std::to_string(position)
                                      ? concat("layer ", position)
                                      : concat("layer ", position, " (", name, ")");
        throw error(concat(label, ": ", e.what()));
    }
}

}  // namespace detail

// What it represents: the layers L0 -> L1 -> ... applied in order; itself a layer, so
// sequentials nest. Requires: all layers share one value_type. Guarantees: keeps the
// intermediate activations of the last train-mode forward for backward, and reuses
// their storage across batches. In eval mode a conv2d -> batchnorm (-> relu) run is
// computed in one pass (the batchnorm folded into the convolution's output; equal to
// the layer-by-layer result up to float rounding); a backward after such a forward
// first recomputes the skipped activations.
template <layer... Layers>
class sequential {
    static_assert(sizeof...(Layers) > 0, "bpr::sequential needs at least one layer");
    using first_layer = std::tuple_element_t<0, std::tuple<Layers...>>;

  public:
    using value_type = typename first_layer::value_type;
    static_assert((std::is_same_v<typename Layers::value_type, value_type> && ...),
                  "bpr::sequential: all layers must have the same value_type");
    static constexpr std::size_t size = sizeof...(Layers);

    sequential() = default;
    explicit sequential(Layers... layers) : layers_(std::move(layers)...) {}

    template <std::size_t I>
    auto& get() {
        return std::get<I>(layers_);
    }
    template <std::size_t I>
    const auto& get() const {
        return std::get<I>(layers_);
    }

    shape output_shape(const shape& in) const {
        shape current = in;
        for_each_index([&]<std::size_t I>() {
            using L = std::tuple_element_t<I, std::tuple<Layers...>>;
            current = detail::with_layer_context<L>(
                I, [&] { return std::get<I>(layers_).output_shape(current); });
        });
        return current;
    }

    void forward(const tensor<value_type>& in, tensor<value_type>& out, mode m) {
        if (m == mode::eval) {
            activations_stale_ = forward_eval_fused(in, out);
            return;
        }
        forward_layers(in, out, m);
        activations_stale_ = false;
    }

    void backward(const tensor<value_type>& in, const tensor<value_type>& out,
                  const tensor<value_type>& grad_out, tensor<value_type>& grad_in) {
        if (activations_stale_) {
            // The last forward was fused: eval mode has no side effects, so running it
            // layer by layer now gives the activations backward needs.
            tensor<value_type> discarded;
            forward_layers(in, discarded, mode::eval);
            activations_stale_ = false;
        }
        for_each_index_reversed([&]<std::size_t I>() {
            using L = std::tuple_element_t<I, std::tuple<Layers...>>;
            detail::with_layer_context<L>(I, [&] {
                std::get<I>(layers_).backward(input_of<I>(in), output_of<I>(out),
                                              grad_out_of<I>(grad_out), grad_in_of<I>(grad_in));
            });
        });
    }

    template <typename Visit>
    void for_each_child(std::string_view prefix, Visit&& visit) {
        for_each_index([&]<std::size_t I>() {
            using L = std::tuple_element_t<I, std::tuple<Layers...>>;
            visit(std::get<I>(layers_), detail::join_name(prefix, detail::child_name<L>(I)));
        });
    }

    // Calls f(layer) for each direct child, in order (used by models and tools).
    template <typename F>
    void for_each_layer(F&& f) {
        std::apply([&](auto&... layers) { (f(layers), ...); }, layers_);
    }

  private:
    static constexpr std::size_t buffer_count = size > 1 ? size - 1 : 1;

    template <std::size_t I>
    using layer_at = detail::unnamed_t<std::tuple_element_t<I, std::tuple<Layers...>>>;

    // How many layers from I on the eval forward computes in one pass: 3 for
    // conv2d -> batchnorm -> relu, 2 for conv2d -> batchnorm, else 1. Only these exact
    // types (possibly named<>): a subclass may override forward.
    template <std::size_t I>
    static constexpr std::size_t fused_length() {
        if constexpr (I + 1 < size) {
            if constexpr (std::is_same_v<layer_at<I>, conv2d<value_type>> &&
                          std::is_same_v<layer_at<I + 1>, batchnorm<value_type>>) {
                if constexpr (I + 2 < size) {
                    if constexpr (std::is_same_v<layer_at<I + 2>, relu<value_type>>) return 3;
                }
                return 2;
            }
        }
        return 1;
    }

    void forward_layers(const tensor<value_type>& in, tensor<value_type>& out, mode m) {
        for_each_index([&]<std::size_t I>() {
            using L = std::tuple_element_t<I, std::tuple<Layers...>>;
            detail::with_layer_context<L>(
                I, [&] { std::get<I>(layers_).forward(input_of<I>(in), output_of<I>(out), m); });
        });
    }

    // Eval forward with conv2d -> batchnorm (-> relu) fused; true when it skipped the
    // activations of some layers.
    bool forward_eval_fused(const tensor<value_type>& in, tensor<value_type>& out) {
        std::size_t next = 0;  // the first layer not computed yet
        bool skipped = false;
        for_each_index([&]<std::size_t I>() {
            if (I < next) return;
            constexpr std::size_t length = fused_length<I>();
            using L = std::tuple_element_t<I, std::tuple<Layers...>>;
            if constexpr (length == 1) {
                detail::with_layer_context<L>(I, [&] {
                    std::get<I>(layers_).forward(input_of<I>(in), output_of<I>(out), mode::eval);
                });
            } else {
                auto& conv = std::get<I>(layers_);
                auto& norm = std::get<I + 1>(layers_);
                using N = std::tuple_element_t<I + 1, std::tuple<Layers...>>;
                const shape conv_out = detail::with_layer_context<L>(
                    I, [&] { return conv.output_shape(input_of<I>(in).shape()); });
                detail::with_layer_context<N>(I + 1, [&] { norm.output_shape(conv_out); });
                // Not a structured binding: clang 14 cannot capture those in lambdas.
                const auto affine = norm.eval_affine();
                detail::with_layer_context<L>(I, [&] {
                    conv.forward_affine(input_of<I>(in), output_of<I + length - 1>(out),
                                        affine.first, affine.second, length == 3);
                });
                skipped = true;
            }
            next = I + length;
        });
        return skipped;
    }

    template <typename F>
    static void for_each_index(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f.template operator()<I>(), ...);
        }
        (std::make_index_sequence<size>{});
    }
    template <typename F>
    static void for_each_index_reversed(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f.template operator()<size - 1 - I>(), ...);
        }
        (std::make_index_sequence<size>{});
    }

    template <std::size_t I>
    const tensor<value_type>& input_of(const tensor<value_type>& in) const {
        if constexpr (I == 0)
            return in;
        else
            return activations_[I - 1];
    }
    template <std::size_t I, typename Tensor>
    Tensor& output_of(Tensor& out) {
        if constexpr (I + 1 == size)
            return out;
        else
            return activations_[I];
    }
    // Gradients between layers are needed only from one layer's backward to the next
    // one's, so two buffers used alternately hold them all (layer I reads buffer I % 2
    // and writes the other one).
    template <std::size_t I>
    const tensor<value_type>& grad_out_of(const tensor<value_type>& grad_out) const {
        if constexpr (I + 1 == size)
            return grad_out;
        else
            return gradients_[I % 2];
    }
    template <std::size_t I>
    tensor<value_type>& grad_in_of(tensor<value_type>& grad_in) {
        if constexpr (I == 0)
            return grad_in;
        else
            return gradients_[(I - 1) % 2];
    }

    std::tuple<Layers...> layers_;
    std::array<tensor<value_type>, buffer_count> activations_;
    std::array<tensor<value_type>, 2> gradients_;
    bool activations_stale_ = false;  // the last forward was a fused eval forward
};

}  // namespace bpr
