#pragma once
// bpr::find_cliff: where accuracy starts to fall steeply in a pruning sweep.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "bpr/core/error.hpp"

namespace bpr {

// One point of a pruning sweep: accuracy (fraction) at a sparsity (fraction).
struct sweep_point {
    double sparsity = 0;
    double accuracy = 0;
};

// Where the cliff is. `index` refers to the sweep sorted by sparsity.
struct cliff_result {
    bool found = false;
    std::size_t index = 0;        // first point of the steep part
    double cliff_sparsity = 0;    // its sparsity
    double suggested_target = 0;  // last gentle sparsity: where regrowth should stop
    double slope = 0;             // of the gentle part, accuracy per unit sparsity
    double mean_residual = 0;     // of the gentle part's fit
};

// How find_cliff decides. A point is the cliff when it falls below the line fitted
// to the gentler points before it by more than `factor` times their mean absolute
// residual; `min_residual` (accuracy fraction) keeps a perfectly straight gentle part
// from making any tiny wobble a cliff; `min_fit` points are needed to fit a line.
struct cliff_options {
    double factor = 3.0;
    double min_residual = 0.002;
    std::size_t min_fit = 3;
};

// What it does: sorts the sweep by sparsity, fits a least-squares line to the first
// k points (k = min_fit, min_fit + 1, ...) and returns the first point k whose drop
// below that line exceeds factor * max(mean residual, min_residual); the suggested
// regrowth target is the sparsity of the point before it (the last one on the gentle
// line). Without a cliff, found = false and the suggested target is the sparsest
// point. Throws bpr::error naming the value for fewer than min_fit + 1 points or a
// point outside [0, 1].
inline cliff_result find_cliff(std::span<const sweep_point> sweep,
                               const cliff_options& options = {}) {
    BPR_REQUIRE(options.min_fit >= 2, "find_cliff: min_fit must be >= 2, got ", options.min_fit);
    BPR_REQUIRE(options.factor > 0, "find_cliff: factor must be > 0, got ", options.factor);
    BPR_REQUIRE(sweep.size() >= options.min_fit + 1, "find_cliff: sweep has ", sweep.size(),
                " points, need at least ", options.min_fit + 1);
    std::vector<sweep_point> points(sweep.begin(), sweep.end());
    for (const auto& p : points)
        BPR_REQUIRE(std::isfinite(p.sparsity) && p.sparsity >= 0 && p.sparsity <= 1 &&
                        std::isfinite(p.accuracy) && p.accuracy >= 0 && p.accuracy <= 1,
                    "find_cliff: point (sparsity ", p.sparsity, ", accuracy ", p.accuracy,
                    ") is outside [0, 1] or not finite");
    std::stable_sort(points.begin(), points.end(), [](const sweep_point& a, const sweep_point& b) {
        return a.sparsity < b.sparsity;
    });
    cliff_result result;
    for (std::size_t k = options.min_fit; k < points.size(); ++k) {
        double mx = 0, my = 0;
        for (std::size_t i = 0; i < k; ++i) {
            mx += points[i].sparsity;
            my += points[i].accuracy;
        }
        mx /= double(k);
        my /= double(k);
        double sxx = 0, sxy = 0;
        for (std::size_t i = 0; i < k; ++i) {
            sxx += (points[i].sparsity - mx) * (points[i].sparsity - mx);
            sxy += (points[i].sparsity - mx) * (points[i].accuracy - my);
        }
        const double slope = sxx > 0 ? sxy / sxx : 0.0;
        auto predict = [&](double x) { return my + slope * (x - mx); };
        double residual = 0;
        for (std::size_t i = 0; i < k; ++i)
            residual += std::abs(points[i].accuracy - predict(points[i].sparsity));
        residual /= double(k);
        result.slope = slope;
        result.mean_residual = residual;
        const double drop = predict(points[k].sparsity) - points[k].accuracy;
        if (drop > options.factor * std::max(residual, options.min_residual)) {
            result.found = true;
            result.index = k;
            result.cliff_sparsity = points[k].sparsity;
            result.suggested_target = points[k - 1].sparsity;
            return result;
        }
    }
    result.suggested_target = points.back().sparsity;
    return result;
}

}  // namespace bpr
