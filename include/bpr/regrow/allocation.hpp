#pragma once
// Allocations of regrowth across layers: global top-k, proportional to layer size,
// and top-k with a per-layer cap. They are bpr::allocation types (the pruning ones),
// applied to the dead units: "keep" means "regrow".

#include <algorithm>
#include <cmath>
#include <span>
#include <string_view>

#include "bpr/core/error.hpp"
#include "bpr/prune/allocation.hpp"

namespace bpr {

// The `total` best-scored dead weights of the whole model grow, wherever they are.
struct top_k : global_allocation {
    static constexpr std::string_view name = "top_k";
};

// Each layer grows a share of the total proportional to its size (its best-scored
// dead weights), so regrowth keeps the layers' relative densities.
struct proportional : uniform_allocation {
    static constexpr std::string_view name = "proportional";
};

// Global top-k, but no layer takes more than max_share of one step's total: gradient
// scores of the classifier are often orders of magnitude above the convolutions', and
// plain top-k would spend the whole regrowth there.
// Requires: max_share in (0, 1]. An impossible split (the caps sum to less than the
// total) is a bpr::error from the regrower naming the numbers.
struct capped_top_k {
    static constexpr std::string_view name = "capped_top_k";
    double max_share = 0.5;

    void allocate(std::span<allocation_layer> layers, index_t total) const {
        BPR_REQUIRE(max_share > 0 && max_share <= 1,
                    "capped_top_k: max_share must be in (0, 1], got ", max_share);
        const auto share = static_cast<index_t>(std::ceil(max_share * double(total) - 1e-9));
        for (auto& l : layers)
            l.cap = std::max(l.floor, std::min(l.cap, share));
        global_allocation{}.allocate(layers, total);
    }
};

// Limits of regrowth per layer, on top of the pruning guards the target resolves with:
// no layer grows above max_density (e.g. keep the classifier from becoming dense).
struct regrow_guards {
    double max_density = 1.0;
};

}  // namespace bpr
