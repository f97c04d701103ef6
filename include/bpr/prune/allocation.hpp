#pragma once
// Allocations: how a total keep count is split across layers (global, uniform, ERK, LAMP).

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"

namespace bpr {

// One prunable tensor as an allocation sees it. Units are the granularity's units
// (single weights when unstructured). Scores are higher-is-more-important.
// The allocation writes `keep` (per unit) and must keep only eligible units, between
// `floor` and `cap` weights per layer, and at most the total in all.
struct allocation_layer {
    std::string name;
    shape extents;
    std::vector<double> unit_scores;
    std::vector<index_t> unit_sizes;
    std::vector<std::uint8_t> eligible;
    index_t floor = 0;
    index_t cap = 0;
    std::vector<std::uint8_t> keep;

    index_t size() const { return extents.numel(); }
    index_t kept_weights() const {
        index_t n = 0;
        for (std::size_t u = 0; u < keep.size(); ++u)
            if (keep[u]) n += unit_sizes[u];
        return n;
    }
};

// What it represents: a rule splitting a total keep count across layers.
// Requires: allocate(layers, total) fills every layer's `keep` under the constraints
// of allocation_layer; deterministic (ties broken by layer, then unit index).
template <typename A>
concept allocation = requires(A& a, std::span<allocation_layer> layers, index_t total) {
    { A::name } -> std::convertible_to<std::string_view>;
    a.allocate(layers, total);
};

namespace detail {

// Eligible units of a layer, best first; ties by lower unit index.
inline std::vector<index_t> ranked_units(const allocation_layer& l) {
    std::vector<index_t> order;
    for (std::size_t u = 0; u < l.eligible.size(); ++u)
        if (l.eligible[u]) order.push_back(static_cast<index_t>(u));
    std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
        return l.unit_scores[static_cast<std::size_t>(a)] >
               l.unit_scores[static_cast<std::size_t>(b)];
    });
    return order;
}

// Keeps a layer's best units while they fit in `count` weights (units that do not
// fit are skipped, smaller later ones may still fit). Returns the weights kept.
inline index_t keep_top(allocation_layer& l, index_t count) {
    l.keep.assign(l.unit_scores.size(), 0);
    index_t kept = 0;
    for (const index_t u : ranked_units(l)) {
        const index_t size = l.unit_sizes[static_cast<std::size_t>(u)];
        if (kept + size > count) continue;
        l.keep[static_cast<std::size_t>(u)] = 1;
        kept += size;
        if (kept == count) break;
    }
    return kept;
}

inline index_t eligible_weights(const allocation_layer& l) {
    index_t n = 0;
    for (std::size_t u = 0; u < l.eligible.size(); ++u)
        if (l.eligible[u]) n += l.unit_sizes[u];
    return n;
}

// Integer counts c_l in [low_l, high_l] summing to `total`, proportional to
// weights_l where the bounds allow (water-filling: c_l = clamp(eps * w_l) for one
// eps, found by bisection; the rounding remainder goes to the largest fractional
// parts, ties to the lower layer index). Requires sum(low) <= total <= sum(high).
inline std::vector<index_t> distribute(index_t total, std::span<const double> weights,
                                       std::span<const index_t> low,
                                       std::span<const index_t> high) {
    const std::size_t n = weights.size();
    auto filled = [&](double eps) {
        double sum = 0;
        for (std::size_t l = 0; l < n; ++l)
            sum += std::clamp(eps * weights[l], double(low[l]), double(high[l]));
        return sum;
    };
    double eps_low = 0, eps_high = 1;
    for (int i = 0; i < 2000 && filled(eps_high) < double(total); ++i)
        eps_high *= 2;
    for (int i = 0; i < 200; ++i) {
        const double mid = 0.5 * (eps_low + eps_high);
        (filled(mid) <= double(total) ? eps_low : eps_high) = mid;
    }
    std::vector<index_t> counts(n);
    std::vector<double> fraction(n);
    index_t sum = 0;
    for (std::size_t l = 0; l < n; ++l) {
        const double x = std::clamp(eps_low * weights[l], double(low[l]), double(high[l]));
        counts[l] = std::clamp(static_cast<index_t>(std::floor(x)), low[l], high[l]);
        fraction[l] = x - std::floor(x);
        sum += counts[l];
    }
    BPR_REQUIRE(sum <= total, "allocation: internal rounding error (", sum, " > ", total, ")");
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return fraction[a] > fraction[b]; });
    while (sum < total) {
        bool grew = false;
        for (const std::size_t l : order) {
            if (sum == total) break;
            if (counts[l] < high[l]) {
                ++counts[l];
                ++sum;
                grew = true;
            }
        }
        BPR_REQUIRE(grew, "allocation: cannot place ", total, " weights within the layer caps");
    }
    return counts;
}

// Count-based allocation: distribute the total by `weights`, then keep each layer's
// best units.
inline void allocate_by_counts(std::span<allocation_layer> layers, index_t total,
                               std::span<const double> weights) {
    std::vector<index_t> low, high;
    for (auto& l : layers) {
        low.push_back(l.floor);
        high.push_back(std::min(l.cap, eligible_weights(l)));
    }
    const auto counts = distribute(total, weights, low, high);
    for (std::size_t i = 0; i < layers.size(); ++i)
        keep_top(layers[i], counts[i]);
}

// Global selection: every layer first gets its floor from its own best units, then
// all remaining eligible units compete by score (ties: layer, then unit index) for
// the rest of the total, within each layer's cap.
inline void allocate_globally(std::span<allocation_layer> layers, index_t total,
                              const std::vector<std::vector<double>>& scores) {
    struct candidate {
        double score;
        std::uint32_t layer;
        index_t unit;
    };
    std::vector<candidate> candidates;
    std::vector<index_t> kept(layers.size(), 0);
    index_t sum = 0;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        auto& l = layers[i];
        l.keep.assign(l.unit_scores.size(), 0);
        for (const index_t u : ranked_units(l)) {
            const auto uu = static_cast<std::size_t>(u);
            if (kept[i] < l.floor) {
                l.keep[uu] = 1;
                kept[i] += l.unit_sizes[uu];
            } else {
                candidates.push_back({scores[i][uu], static_cast<std::uint32_t>(i), u});
            }
        }
        sum += kept[i];
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const candidate& a, const candidate& b) {
                         if (a.score != b.score) return a.score > b.score;
                         if (a.layer != b.layer) return a.layer < b.layer;
                         return a.unit < b.unit;
                     });
    for (const auto& c : candidates) {
        if (sum == total) break;
        auto& l = layers[c.layer];
        const index_t size = l.unit_sizes[static_cast<std::size_t>(c.unit)];
        if (sum + size > total || kept[c.layer] + size > l.cap) continue;
        l.keep[static_cast<std::size_t>(c.unit)] = 1;
        kept[c.layer] += size;
        sum += size;
    }
}

}  // namespace detail

// One threshold over the scores of all layers: the `total` best units survive,
// wherever they are.
struct global_allocation {
    static constexpr std::string_view name = "global";
    void allocate(std::span<allocation_layer> layers, index_t total) const {
        std::vector<std::vector<double>> scores;
        for (const auto& l : layers)
            scores.push_back(l.unit_scores);
        detail::allocate_globally(layers, total, scores);
    }
};

// The same density in every layer (up to guards and rounding; the rounding remainder
// goes to the layers with the largest fractional parts).
struct uniform_allocation {
    static constexpr std::string_view name = "uniform";
    void allocate(std::span<allocation_layer> layers, index_t total) const {
        std::vector<double> weights;
        for (const auto& l : layers)
            weights.push_back(double(l.size()));
        detail::allocate_by_counts(layers, total, weights);
    }
};

// Erdos-Renyi-Kernel (Evci et al. 2020, "Rigging the Lottery"): layer density is
// eps * (sum of the weight's extents) / (product of its extents), i.e. in-channels +
// out-channels + kernel height + kernel width over their product for a conv, and
// in + out over in * out for a linear layer (plain Erdos-Renyi); raised to
// `power_scale` (1 in the paper). One eps is chosen so the total matches; a layer
// whose density would exceed 1 is made dense and eps re-solved for the others, which
// is exactly the water-filling of detail::distribute with caps at the layer size.
// Guard floors (min density, dense first/last layers) enter the same way.
struct erk_allocation {
    static constexpr std::string_view name = "erk";
    double power_scale = 1.0;

    static double raw_density(const shape& extents, double power_scale) {
        double sum = 0, product = 1;
        for (int axis = 0; axis < extents.rank(); ++axis) {
            sum += double(extents[axis]);
            product *= double(extents[axis]);
        }
        return product == 0 ? 0.0 : std::pow(sum / product, power_scale);
    }

    void allocate(std::span<allocation_layer> layers, index_t total) const {
        std::vector<double> weights;
        for (const auto& l : layers)
            weights.push_back(raw_density(l.extents, power_scale) * double(l.size()));
        detail::allocate_by_counts(layers, total, weights);
    }
};

// LAMP (Lee et al. 2021, "Layer-adaptive sparsity for the magnitude-based pruning"):
// each unit's score s (the criterion's, |w| for magnitude) becomes
// s^2 / (sum of s_v^2 over the eligible units v of its layer with s_v >= s), and one
// global threshold is applied to these. Tied scores share one denominator. A layer's
// best unit always scores 1, so LAMP never empties a layer by itself.
struct lamp_allocation {
    static constexpr std::string_view name = "lamp";

    static std::vector<double> lamp_scores(const allocation_layer& l) {
        std::vector<double> out(l.unit_scores.size(), 0.0);
        std::vector<index_t> order = detail::ranked_units(l);  // descending
        double suffix = 0;  // sum of squares of all scores >= the current one
        std::size_t i = 0;
        while (i < order.size()) {
            std::size_t j = i;
            const double s = l.unit_scores[static_cast<std::size_t>(order[i])];
            while (j < order.size() && l.unit_scores[static_cast<std::size_t>(order[j])] == s) {
                suffix += s * s;
                ++j;
            }
            for (std::size_t k = i; k < j; ++k)
                out[static_cast<std::size_t>(order[k])] = suffix > 0 ? s * s / suffix : 0.0;
            i = j;
        }
        return out;
    }

    void allocate(std::span<allocation_layer> layers, index_t total) const {
        std::vector<std::vector<double>> scores;
        for (const auto& l : layers)
            scores.push_back(lamp_scores(l));
        detail::allocate_globally(layers, total, scores);
    }
};

}  // namespace bpr
