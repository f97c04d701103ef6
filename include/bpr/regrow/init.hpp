#pragma once
// Initial values of regrown weights: zero, their pre-pruning value, scaled random.

#include <cmath>
#include <concepts>
#include <span>
#include <string_view>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"

namespace bpr {

// What it represents: how a regrown weight starts.
// Requires: initialize(value, positions, dense, generator) writes value[p] for every
// flat position p in `positions` and nothing else; `dense` is the parameter's
// pre-pruning value (nullptr when the caller has none); random draws come from
// `generator` only, in position order (determinism).
template <typename I>
concept regrow_init = requires(const I& i, tensor<float>& value, std::span<const index_t> positions,
                               const tensor<float>* dense, rng& generator) {
    { I::name } -> std::convertible_to<std::string_view>;
    i.initialize(value, positions, dense, generator);
};

// Regrown weights start at zero (RigL's default): the network's function is
// unchanged at the moment of growth, training decides their value.
struct init_zero {
    static constexpr std::string_view name = "zero";
    void initialize(tensor<float>& value, std::span<const index_t> positions, const tensor<float>*,
                    rng&) const {
        for (const index_t p : positions)
            value[p] = 0.0f;
    }
};

// Regrown weights get back the value they had before pruning (w0), so regrowth
// partly undoes the pruning damage at once.
struct init_dense {
    static constexpr std::string_view name = "dense";
    void initialize(tensor<float>& value, std::span<const index_t> positions,
                    const tensor<float>* dense, rng&) const {
        BPR_REQUIRE(dense != nullptr, "init_dense: no pre-pruning value for the regrown weights");
        BPR_REQUIRE(dense->shape() == value.shape(), "init_dense: pre-pruning value has shape ",
                    dense->shape().str(), ", parameter has ", value.shape().str());
        for (const index_t p : positions)
            value[p] = (*dense)[p];
    }
};

// Kaiming-normal draws scaled by `scale`: N(0, (scale * sqrt(2 / fan_in))^2), with
// fan_in = elements per output channel (in * kh * kw for a conv, in for a linear).
// A small scale keeps new weights from disturbing the trained ones.
struct init_kaiming {
    static constexpr std::string_view name = "kaiming";
    double scale = 1.0;
    void initialize(tensor<float>& value, std::span<const index_t> positions, const tensor<float>*,
                    rng& generator) const {
        BPR_REQUIRE(std::isfinite(scale) && scale >= 0, "init_kaiming: scale must be >= 0, got ",
                    scale);
        if (positions.empty()) return;
        const index_t rows = value.shape().rank() >= 2 ? value.extent(0) : 1;
        const double fan_in = double(value.size()) / double(rows);
        const double stddev = scale * std::sqrt(2.0 / fan_in);
        for (const index_t p : positions)
            value[p] = static_cast<float>(stddev * generator.normal());
    }
};

}  // namespace bpr
