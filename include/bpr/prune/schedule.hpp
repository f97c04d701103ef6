#pragma once
// Pruning schedules: when weights are removed (one-shot, iterative, cubic GMP).

#include <algorithm>
#include <cmath>
#include <concepts>
#include <string_view>
#include <vector>

#include "bpr/core/error.hpp"

namespace bpr {

// What it represents: the sequence of sparsity targets of a pruning run, from the
// model's current sparsity `start` to the budget's `final` one; the pruner prunes to
// each target in turn and calls the fine-tune callable after each.
// Requires: targets(start, final) returns a non-decreasing, non-empty list whose last
// element is exactly `final` (given start <= final).
template <typename S>
concept prune_schedule = requires(const S& s, double sparsity) {
    { S::name } -> std::convertible_to<std::string_view>;
    { s.targets(sparsity, sparsity) } -> std::same_as<std::vector<double>>;
};

namespace detail {
inline void require_targets(const char* where, double start, double final) {
    BPR_REQUIRE(start >= 0 && start <= 1 && final >= 0 && final <= 1, where,
                ": sparsities must be in [0, 1], got start ", start, " final ", final);
    BPR_REQUIRE(start <= final + 1e-12, where, ": final sparsity ", final, " is below the current ",
                start, " (pruning never revives weights)");
}
}  // namespace detail

// Prune once to the budget, then fine-tune.
struct one_shot {
    static constexpr std::string_view name = "one_shot";
    std::vector<double> targets(double start, double final) const {
        detail::require_targets("one_shot", start, final);
        return {final};
    }
};

// Rounds that each remove `fraction` of the remaining weights (fine-tuning between),
// until the budget is reached; the last round is cut to the budget. With fraction 0.2
// from a dense model, round r reaches 1 - 0.8^r: 20 rounds give 98.847% sparsity.
struct iterative {
    static constexpr std::string_view name = "iterative";
    double fraction = 0.2;

    std::vector<double> targets(double start, double final) const {
        detail::require_targets("iterative", start, final);
        BPR_REQUIRE(fraction > 0 && fraction < 1, "iterative: fraction must be in (0, 1), got ",
                    fraction);
        std::vector<double> out;
        for (int round = 1; round <= 100000; ++round) {
            const double s = 1.0 - (1.0 - start) * std::pow(1.0 - fraction, round);
            if (s >= final - 1e-9) break;
            out.push_back(s);
        }
        out.push_back(final);
        return out;
    }
};

// Gradual magnitude pruning (Zhu & Gupta 2017): `events` pruning steps, spaced by the
// fine-tune callable (Delta t training steps), following the cubic schedule
//   s_k = s_f + (s_i - s_f) * (1 - k / events)^3,  k = 1 .. events,
// with s_i = max(initial_sparsity, start); if s_i > start an extra step k = 0 first
// prunes to s_i.
struct gradual {
    static constexpr std::string_view name = "gradual";
    int events = 10;
    double initial_sparsity = 0.0;

    std::vector<double> targets(double start, double final) const {
        detail::require_targets("gradual", start, final);
        BPR_REQUIRE(events >= 1, "gradual: events must be >= 1, got ", events);
        const double initial = std::clamp(std::max(initial_sparsity, start), 0.0, final);
        std::vector<double> out;
        if (initial > start) out.push_back(initial);
        for (int k = 1; k <= events; ++k) {
            const double t = 1.0 - double(k) / double(events);
            out.push_back(k == events ? final : final + (initial - final) * t * t * t);
        }
        return out;
    }
};

}  // namespace bpr
