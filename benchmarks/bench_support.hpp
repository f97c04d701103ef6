#pragma once
// Random inputs and weights shared by the benchmark programs.

#include <cstdint>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/core/shape.hpp"

namespace bpr_bench {

using bpr::index_t;

// `count` values uniform in [-1, 1), from `seed`.
inline std::vector<float> random_values(index_t count, std::uint64_t seed) {
    std::vector<float> v(static_cast<std::size_t>(count));
    bpr::rng r(seed);
    for (auto& x : v)
        x = static_cast<float>(r.uniform(-1.0, 1.0));
    return v;
}

// Keeps exactly round(density * size) weights, at uniformly random positions (`seed`),
// and zeroes the rest.
inline void apply_random_mask(std::vector<float>& weight, double density, std::uint64_t seed) {
    std::vector<std::size_t> order(weight.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    bpr::rng r(seed);
    bpr::shuffle(order.begin(), order.end(), r);
    const auto keep = static_cast<std::size_t>(static_cast<double>(weight.size()) * density + 0.5);
    for (std::size_t i = keep; i < order.size(); ++i)
        weight[order[i]] = 0.0f;
}

}  // namespace bpr_bench
