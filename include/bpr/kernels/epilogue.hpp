#pragma once
// Fused epilogues: per-channel scale (folded batchnorm) + bias + activation, applied
// while a kernel's output is still in cache.

#include <cmath>
#include <xsimd/xsimd.hpp>

#include "bpr/core/shape.hpp"

namespace bpr::kernels {

// The activations an inference kernel can fuse.
enum class activation { none, relu, relu6, silu };

// What it represents: y = act(scale[o] * x + bias[o]) for output channel o.
// Requires: scale and bias are null (meaning 1 and 0) or hold one value per output
// channel of the kernel they are passed to. Guarantees: the vector and the scalar
// paths compute the same formula, so twins differ only by rounding (SiLU's exp).
struct epilogue {
    const float* scale = nullptr;
    const float* bias = nullptr;
    activation act = activation::none;

    bool is_identity() const { return !scale && !bias && act == activation::none; }
};

// The scalar formula: the oracle for apply_epilogue.
inline float epilogue_scalar(const epilogue& e, index_t channel, float x) {
    if (e.scale) x *= e.scale[channel];
    if (e.bias) x += e.bias[channel];
    switch (e.act) {
        case activation::none:
            return x;
        case activation::relu:
            return x > 0.0f ? x : 0.0f;
        case activation::relu6:
            return x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f;
        case activation::silu:
            return x / (1.0f + std::exp(-x));
    }
    return x;
}

// Applies the epilogue of channel `channel` in place to data[0, count), vectorized with
// a scalar tail.
template <class Arch = xsimd::default_arch>
void apply_epilogue(const epilogue& e, index_t channel, float* data, index_t count) {
    if (e.is_identity()) return;
    using batch = xsimd::batch<float, Arch>;
    constexpr index_t lanes = batch::size;
    const batch scale(e.scale ? e.scale[channel] : 1.0f);
    const batch bias(e.bias ? e.bias[channel] : 0.0f);
    const batch zero(0.0f), six(6.0f), one(1.0f);
    index_t i = 0;
    for (; i + lanes <= count; i += lanes) {
        batch x = xsimd::fma(batch::load_unaligned(data + i), scale, bias);
        switch (e.act) {
            case activation::none:
                break;
            case activation::relu:
                x = xsimd::max(x, zero);
                break;
            case activation::relu6:
                x = xsimd::min(xsimd::max(x, zero), six);
                break;
            case activation::silu:
                x = x / (one + xsimd::exp(-x));
                break;
        }
        x.store_unaligned(data + i);
    }
    for (; i < count; ++i)
        data[i] = epilogue_scalar(e, channel, data[i]);
}

}  // namespace bpr::kernels
