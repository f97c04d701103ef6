#pragma once
// The layer contract, trainable parameters, and the parameter visitor.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpr/core/shape.hpp"
#include "bpr/core/tensor.hpp"

namespace bpr {

// Whether a forward pass is for training (batch statistics, dropout on, caches kept
// for backward) or for evaluation.
enum class mode { train, eval };

// What a parameter is for. Pruning touches only `weight` unless asked otherwise.
enum class param_role { weight, bias, norm_scale, norm_shift };

// A trainable tensor with its gradient. backward() overwrites `grad` (it does not
// accumulate), so no zero_grad step is needed between batches.
// `grad_needed`, when not empty, marks (one byte per entry) the entries whose gradient
// anyone will read; a layer may then write 0 for the others instead of computing them
// (conv2d on sparse kernels does). mask_set::restrict_gradients sets it to the mask
// while fine-tuning under masks, so pruned weights cost no gradient work.
template <typename T>
struct param {
    tensor<T> value;
    tensor<T> grad;
    param_role role = param_role::weight;
    std::vector<std::uint8_t> grad_needed;

    param() = default;
    param(const shape& extents, param_role r) : value(extents), grad(extents), role(r) {}
};

// A layer maps an input tensor to an output tensor and back-propagates:
//  - output_shape(in) validates `in` (throwing bpr::error naming the layer, field
//    and value) and returns the output extents;
//  - forward(in, out, mode) resizes and fills `out`; in train mode it may cache what
//    backward needs;
//  - backward(in, out, grad_out, grad_in) receives the same `in` and `out` as the
//    last train-mode forward, writes every parameter's grad and resizes/fills grad_in.
// Optional: for_each_param(prefix, f) calling f(name, param<T>&),
// for_each_buffer(prefix, f) calling f(name, tensor<T>&) for non-trainable state
// (batchnorm running statistics) and for_each_generator(prefix, f) calling
// f(name, rng&) for a layer's own random stream (dropout masks). A container instead
// (or as well) has for_each_child(prefix, f) calling f(child, child_prefix) for each
// sub-layer in a fixed order; the visitors below recurse through it, so a container
// states its children once. Names are dotted paths as in PyTorch state_dicts.
template <typename L>
concept layer = requires(L& l, const L& cl, const shape& extents,
                         const tensor<typename L::value_type>& in,
                         tensor<typename L::value_type>& out, mode m) {
    typename L::value_type;
    { cl.output_shape(extents) } -> std::same_as<shape>;
    l.forward(in, out, m);
    l.backward(in, in, in, out);
};

namespace detail {

inline std::string join_name(std::string_view prefix, std::string_view name) {
    if (prefix.empty()) return std::string(name);
    std::string joined(prefix);
    joined += '.';
    joined += name;
    return joined;
}

// Calls visit(child, child_prefix) for each sub-layer of a container, nothing for a leaf.
template <typename L, typename Visit>
void for_each_child_of(L& l, std::string_view prefix, Visit&& visit) {
    if constexpr (requires { l.for_each_child(prefix, visit); }) l.for_each_child(prefix, visit);
}

template <typename L, typename F>
void for_each_param_of(L& l, std::string_view prefix, F&& f) {
    if constexpr (requires { l.for_each_param(prefix, f); }) l.for_each_param(prefix, f);
    for_each_child_of(l, prefix,
                      [&](auto& child, std::string_view at) { for_each_param_of(child, at, f); });
}

template <typename L, typename F>
void for_each_buffer_of(L& l, std::string_view prefix, F&& f) {
    if constexpr (requires { l.for_each_buffer(prefix, f); }) l.for_each_buffer(prefix, f);
    for_each_child_of(l, prefix,
                      [&](auto& child, std::string_view at) { for_each_buffer_of(child, at, f); });
}

template <typename L, typename F>
void for_each_generator_of(L& l, std::string_view prefix, F&& f) {
    if constexpr (requires { l.for_each_generator(prefix, f); }) l.for_each_generator(prefix, f);
    for_each_child_of(
        l, prefix, [&](auto& child, std::string_view at) { for_each_generator_of(child, at, f); });
}

template <typename L, typename F>
void for_each_layer_of(L& l, std::string_view prefix, F&& f) {
    f(prefix, l);
    for_each_child_of(l, prefix,
                      [&](auto& child, std::string_view at) { for_each_layer_of(child, at, f); });
}

}  // namespace detail

// Calls f(name, layer&) for `model` itself (name "") and every layer inside it, parents
// before children, in the order of visit_params.
template <typename Model, typename F>
void visit_layers(Model& model, F&& f) {
    detail::for_each_layer_of(model, std::string_view{}, std::forward<F>(f));
}

// Calls f(index, name, param) for every trainable parameter of `model`, in a fixed
// order: the index is stable for a given architecture, so optimizer state, masks and
// checkpoints can be keyed by it.
template <typename Model, typename F>
void visit_params(Model& model, F&& f) {
    std::size_t index = 0;
    detail::for_each_param_of(model, std::string_view{},
                              [&](const std::string& name, auto& p) { f(index++, name, p); });
}

// Calls f(name, tensor) for every non-trainable state tensor (running statistics).
template <typename Model, typename F>
void visit_buffers(Model& model, F&& f) {
    detail::for_each_buffer_of(model, std::string_view{}, std::forward<F>(f));
}

// Calls f(name, rng&) for every random stream a layer owns (dropout, drop-connect), so
// that checkpoints can save and restore them and a resumed run draws the same masks.
template <typename Model, typename F>
void visit_generators(Model& model, F&& f) {
    detail::for_each_generator_of(model, std::string_view{}, std::forward<F>(f));
}

// Total number of trainable scalars.
template <typename Model>
index_t count_params(Model& model) {
    index_t total = 0;
    visit_params(model, [&](std::size_t, const std::string&, auto& p) { total += p.value.size(); });
    return total;
}

}  // namespace bpr
