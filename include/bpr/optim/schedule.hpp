#pragma once
// Learning-rate schedules: small value types mapping (step, total_steps) to a rate.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <numbers>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"

namespace bpr {

// What it represents: a learning rate as a function of the step (0-based) and the
// total number of steps. "Step" is whatever unit the caller uses (an epoch or an
// iteration; bpr::fit lets you choose), and milestones are in that same unit.
template <typename S>
concept lr_schedule = requires(const S& s, std::int64_t step, std::int64_t total) {
    { s.lr(step, total) } -> std::convertible_to<double>;
};

// A fixed rate.
struct constant_lr {
    double base = 0.1;
    double lr(std::int64_t, std::int64_t) const { return base; }
};

// base * gamma^(number of milestones <= step), as torch's MultiStepLR.
struct step_lr {
    double base = 0.1;
    std::vector<std::int64_t> milestones;
    double gamma = 0.1;

    double lr(std::int64_t step, std::int64_t) const {
        double rate = base;
        for (const std::int64_t milestone : milestones)
            if (step >= milestone) rate *= gamma;
        return rate;
    }
};

// Half a cosine from base at step 0 to min_lr at step total (CosineAnnealingLR with
// T_max = total); stays at min_lr past the end.
struct cosine_lr {
    double base = 0.1;
    double min_lr = 0.0;

    double lr(std::int64_t step, std::int64_t total) const {
        if (total <= 0) return base;
        const double progress = std::clamp(static_cast<double>(step) / total, 0.0, 1.0);
        return min_lr + (base - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    }
};

// What it represents: a linear warm-up over the first `warmup_steps` steps, from
// start_factor * the inner schedule's first rate up to it, then the inner schedule
// on the remaining steps (its step counter restarts at 0, as torch's SequentialLR).
template <lr_schedule Inner>
struct warmup {
    Inner inner;
    std::int64_t warmup_steps = 0;
    double start_factor = 0.0;

    double lr(std::int64_t step, std::int64_t total) const {
        const std::int64_t rest = std::max<std::int64_t>(total - warmup_steps, 0);
        if (step < warmup_steps) {
            const double fraction = static_cast<double>(step) / warmup_steps;
            return inner.lr(0, rest) * (start_factor + (1.0 - start_factor) * fraction);
        }
        return inner.lr(step - warmup_steps, rest);
    }
};
template <lr_schedule Inner>
warmup(Inner, std::int64_t, double) -> warmup<Inner>;

// torch's OneCycleLR (two phases, cosine annealing): from max_lr / div_factor up to
// max_lr over the first pct_start of the steps, then down to
// max_lr / div_factor / final_div_factor at the last step.
struct one_cycle_lr {
    double max_lr = 0.1;
    double pct_start = 0.3;
    double div_factor = 25.0;
    double final_div_factor = 1e4;

    double lr(std::int64_t step, std::int64_t total) const {
        const double initial = max_lr / div_factor;
        const double final_lr = initial / final_div_factor;
        const double peak_step = pct_start * static_cast<double>(total) - 1.0;
        const double last_step = static_cast<double>(total) - 1.0;
        const double s = static_cast<double>(step);
        if (s <= peak_step) return anneal(initial, max_lr, peak_step > 0 ? s / peak_step : 1.0);
        const double span = last_step - peak_step;
        return anneal(max_lr, final_lr, span > 0 ? std::min((s - peak_step) / span, 1.0) : 1.0);
    }

  private:
    static double anneal(double from, double to, double fraction) {
        return to + (from - to) * 0.5 * (1.0 + std::cos(std::numbers::pi * fraction));
    }
};

// Any schedule behind one type, for programs that pick the schedule at run time.
class any_schedule {
  public:
    template <lr_schedule S>
    requires(!std::same_as<std::remove_cvref_t<S>, any_schedule>) any_schedule(S schedule)
        : lr_([s = std::move(schedule)](std::int64_t step, std::int64_t total) {
              return static_cast<double>(s.lr(step, total));
          }) {}

    double lr(std::int64_t step, std::int64_t total) const { return lr_(step, total); }

  private:
    std::function<double(std::int64_t, std::int64_t)> lr_;
};

}  // namespace bpr
