#pragma once
// bpr::pipeline: prune to a hardware budget, then regrow the most critical weights in
// steps, fine-tuning between them, up to a target.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/pipeline/stages.hpp"
#include "bpr/pipeline/trajectory.hpp"
#include "bpr/regrow/regrower.hpp"
#include "bpr/regrow/score.hpp"
#include "bpr/sparse/budget.hpp"
#include "bpr/sparse/format.hpp"
#include "bpr/sparse/granularity.hpp"
#include "bpr/sparse/mask.hpp"

namespace bpr {

// What the fine-tune callable reports after a step. Accuracies are fractions; NaN
// means "not measured" (e.g. no test set while selecting).
struct evaluation {
    double val_accuracy = std::nan("");
    double test_accuracy = std::nan("");
    double loss = std::nan("");
};

// What the pipeline asks of the fine-tune callable: train for `length` units (epochs,
// or whatever the callable counts; 0 = only evaluate) with the current masks (mask the
// optimizer state once before training, zero masked gradients after backward, re-apply
// the masks after each step: with masked gradients zero, the state of a dead weight
// stays zero), then evaluate.
template <mask_policy G = unstructured>
struct tune_request {
    step_phase phase = step_phase::dense;
    std::size_t step = 0;
    std::int64_t length = 0;
    const mask_set<G>& masks;
    // Resume: units of progress already done before an interruption (continue from
    // there; the callable defines the unit, fit_fine_tuner counts mini-batch steps), and
    // a hook to call after each unit so the pipeline can checkpoint (may be empty).
    std::int64_t done = 0;
    std::function<void(std::int64_t units_done)> on_unit{};
};

// The inputs of a run.
//  - start: the extreme budget the hardware accepts (sparsity, nonzeros or bytes);
//  - target: where regrowth stops (same kinds; at most as sparse as `start`);
//  - steps regrowth steps of equal size, each followed by fine_tune_length units of
//    fine-tuning; each pruning round is followed by prune_fine_tune_length units;
//  - gradients(b): forward + backward of training batch b on the model (for gradient
//    scores; score_batches batches per step); never a validation or test batch;
//  - format: the storage format byte counts (and byte budgets) are in.
struct pipeline_inputs {
    budget start = budget::sparsity(0.99);
    budget target = budget::sparsity(0.98);
    std::size_t steps = 4;
    std::int64_t fine_tune_length = 1;
    std::int64_t prune_fine_tune_length = 1;
    std::function<void(std::size_t batch)> gradients{};
    std::size_t score_batches = 4;
    // Each regrowth step first prunes this fraction of the alive weights again with
    // the pruning stage's criterion and allocation, then regrows them on top of its
    // share of the growth (the drop-and-grow exchange of RigL and GraNet: the mask
    // moves while the count follows the schedule). 0: regrowth only adds.
    double exchange = 0.0;
    std::uint64_t seed = 0;
    storage_format format = storage_format::csr16;
    bool evaluate_dense = true;
    prunable_roles roles{};
};

// Where a run is, as the unit of work last finished: the step (prune round, 1-based,
// or regrowth step) of `phase`, whether its masks were already pruned / regrown
// (`changed`), how many fine-tune units of it are done (`tuned`, as the fine-tune
// callable reported them through tune_request::on_unit), and whether it is
// complete and in the trajectory (`recorded`).
struct pipeline_position {
    step_phase phase = step_phase::dense;
    std::size_t step = 0;
    bool changed = false;
    std::int64_t tuned = 0;
    bool recorded = false;
};

// Everything the pipeline itself needs to continue a run (the model, the optimizer
// and the callables' counters are the caller's): the position, the masks, the
// pre-pruning weights w0, the trajectory so far, the pruning rounds (targets filled in
// when pruning ends), the regrowth reports, and the nonzeros pruning left (-1 while
// pruning is not finished).
template <mask_policy G>
struct pipeline_state {
    pipeline_position position;
    mask_set<G> masks;
    dense_snapshot w0;
    trajectory steps;
    prune_result pruning;
    std::vector<regrow_report> regrowth;
    index_t pruned_nonzeros = -1;
};

// Checkpoint hook and resume point of pipeline::run.
template <mask_policy G>
struct pipeline_control {
    const pipeline_state<G>* resume = nullptr;
    std::function<void(const pipeline_state<G>&)> checkpoint{};
};

// What a run did: the final masks (the model holds the final weights), every step,
// the pruning rounds and each regrowth step's per-layer counts.
template <mask_policy G>
struct pipeline_result {
    mask_set<G> masks;
    trajectory steps;
    prune_result pruning;
    resolved_budget target;
    std::vector<regrow_report> regrowth;
};

namespace detail {
// An optimizer stand-in for runs without one (the fine-tune callable owns it).
using no_regrow_optimizer = no_optimizer;

// The types a valid composition derives; an invalid one gets placeholders, so that
// the static_assert is the only error the compiler reports.
template <bool Valid, typename Prune, typename Score, typename Regrow>
struct pipeline_types {
    using granularity = typename Prune::granularity;
    using regrower_type = regrower<typename Score::score_type, typename Regrow::allocation_type,
                                   typename Regrow::init_type, granularity>;
};
template <typename Prune, typename Score, typename Regrow>
struct pipeline_types<false, Prune, Score, Regrow> {
    using granularity = unstructured;
    using regrower_type = invalid_stage_member;
};
}  // namespace detail

// What it represents: a bidirectional pruning-regrowth method composed of three stage
// types, checked at compile time:
//   bpr::pipeline<bpr::prune_to_budget<magnitude, global_allocation, one_shot>,
//                 bpr::score<gradient_magnitude>,
//                 bpr::regrow<top_k, init_zero>>
// Requires: stages in that order (a wrong composition is a static_assert naming the
// stage); a model whose parameters are float; a fine-tune callable
// evaluation(const tune_request<G>&).
// Guarantees: run() prunes the model to exactly the start budget's nonzeros, then
// regrows in `steps` steps to exactly the target's nonzeros (step k reaches
// start + (target - start) * k / steps, rounded down, the last step exactly the
// target); masked weights are zero after every step; each step is recorded in the
// trajectory; same seed, data order and thread count give the same run.
template <typename Prune, typename Score, typename Regrow>
class pipeline {
    static_assert(prune_stage<Prune>,
                  "bpr::pipeline<Prune, Score, Regrow>: the first stage must prune to the budget "
                  "(bpr::prune_stage), e.g. bpr::prune_to_budget<bpr::magnitude, "
                  "bpr::global_allocation, bpr::one_shot>");
    static_assert(score_stage<Score>,
                  "bpr::pipeline<Prune, Score, Regrow>: the second stage must score dead weights "
                  "(bpr::score_stage), e.g. bpr::score<bpr::gradient_magnitude>");
    static_assert(regrow_stage<Regrow>,
                  "bpr::pipeline<Prune, Score, Regrow>: the third stage must regrow "
                  "(bpr::regrow_stage), e.g. bpr::regrow<bpr::top_k, bpr::init_zero>");

  public:
    static constexpr bool valid = prune_stage<Prune> && score_stage<Score> && regrow_stage<Regrow>;
    using granularity = typename detail::pipeline_types<valid, Prune, Score, Regrow>::granularity;
    static_assert(regrowable_granularity<granularity>,
                  "bpr::pipeline<Prune, Score, Regrow>: N:M masks (bpr::n_of_m) cannot be "
                  "regrown, a revived weight could break the N:M pattern; prune with "
                  "bpr::pruner alone, or use unstructured, channel or block");
    using regrower_type =
        typename detail::pipeline_types<valid, Prune, Score, Regrow>::regrower_type;

    Prune pruning{};
    Score scoring{};
    Regrow regrowing{};

    template <typename Model, typename FineTune>
    pipeline_result<granularity> run(Model& model, FineTune&& fine_tune,
                                     const pipeline_inputs& in) {
        detail::no_regrow_optimizer none;
        return run(model, std::forward<FineTune>(fine_tune), in, none);
    }

    // As above; the optimizer's state of regrown weights is reset (pass the optimizer
    // the fine-tune callable keeps across steps).
    template <typename Model, typename FineTune, resettable_optimizer Optimizer>
    pipeline_result<granularity> run(Model& model, FineTune&& fine_tune, const pipeline_inputs& in,
                                     Optimizer& optimizer) {
        return run(model, std::forward<FineTune>(fine_tune), in, optimizer,
                   pipeline_control<granularity>{});
    }

    // As above, with checkpoints and resume: control.checkpoint(state) is called after
    // every unit of work (the dense evaluation, each pruning round or regrowth step
    // once its masks changed, each fine-tune unit, each recorded step, the end of
    // pruning); control.resume continues a run from such a state. The caller saves and
    // restores the rest (model, optimizer state, the callables' counters): see
    // bpr/pipeline/resume.hpp. With the same inputs, a resumed run ends bit-identical to
    // an uninterrupted one (apart from the `seconds` of the interrupted step).
    template <typename Model, typename FineTune, resettable_optimizer Optimizer>
    pipeline_result<granularity> run(Model& model, FineTune&& fine_tune, const pipeline_inputs& in,
                                     Optimizer& optimizer,
                                     const pipeline_control<granularity>& control) {
        using request = tune_request<granularity>;
        static_assert(std::is_invocable_r_v<evaluation, FineTune&, const request&>,
                      "bpr::pipeline::run: the fine-tune callable must be callable as "
                      "bpr::evaluation(const bpr::tune_request<G>&)");
        BPR_REQUIRE(in.fine_tune_length >= 0 && in.prune_fine_tune_length >= 0,
                    "pipeline: fine-tune lengths must be >= 0, got ", in.fine_tune_length, " and ",
                    in.prune_fine_tune_length);
        BPR_REQUIRE(in.exchange >= 0 && in.exchange < 1,
                    "pipeline: exchange must be in [0, 1), got ", in.exchange);
        using clock = std::chrono::steady_clock;
        auto seconds_since = [](clock::time_point t) {
            return std::chrono::duration<double>(clock::now() - t).count();
        };

        pipeline_state<granularity> st;
        const bool resumed = control.resume != nullptr;
        if (resumed) {
            st = *control.resume;
            st.masks.check(model, "pipeline resume");
            std::size_t params = 0;
            visit_params(model, [&](std::size_t, const std::string&, auto&) { ++params; });
            BPR_REQUIRE(st.w0.size() == params, "pipeline resume: the pre-pruning snapshot holds ",
                        st.w0.size(), " parameters, the model has ", params);
        } else {
            st.masks = mask_set<granularity>::dense(model, in.roles);
            st.steps.format = std::string(format_name(in.format));
            st.w0.take(model);
        }
        const pipeline_position from = st.position;  // where the resumed run stopped
        auto& masks = st.masks;
        auto save = [&] {
            if (control.checkpoint) control.checkpoint(std::as_const(st));
        };
        // Whether (phase, step) was finished before the interruption, or is the one in
        // progress then.
        auto finished = [&](step_phase phase, std::size_t step) {
            if (!resumed) return false;
            const auto at = std::pair(static_cast<int>(phase), step);
            const auto stop = std::pair(static_cast<int>(from.phase), from.step);
            return at < stop || (at == stop && from.recorded);
        };
        auto in_progress = [&](step_phase phase, std::size_t step) {
            return resumed && !from.recorded && from.phase == phase && from.step == step;
        };
        const byte_cost cost = model_cost(model, in.format, in.roles);
        auto record = [&](step_phase phase, std::size_t step, const evaluation& e, double seconds) {
            st.steps.add({phase, step, masks.sparsity(), masks.nonzeros(),
                          cost.bytes(masks.nonzeros()), e.val_accuracy, e.test_accuracy, e.loss,
                          seconds});
            st.position = {phase, step, true, 0, true};
            save();
        };
        // Fine-tunes (phase, step) from the unit the interrupted run had reached, with a
        // checkpoint after every unit.
        auto tune = [&](step_phase phase, std::size_t step, std::int64_t length) {
            const std::int64_t done = in_progress(phase, step) ? from.tuned : 0;
            return fine_tune(request{phase, step, length, masks, done, [&](std::int64_t units) {
                                         st.position = {phase, step, true, units, false};
                                         save();
                                     }});
        };

        if (in.evaluate_dense && !finished(step_phase::dense, 0)) {
            const auto t = clock::now();
            const evaluation e = tune(step_phase::dense, 0, 0);
            record(step_phase::dense, 0, e, seconds_since(t));
        }

        // One-way half: prune to the budget, fine-tuning after every round.
        if (st.pruned_nonzeros < 0) {
            auto round_start = clock::now();
            auto on_round = [&](std::size_t round, const mask_set<granularity>&) {
                const std::size_t step = round + 1;
                if (!in_progress(step_phase::prune, step) || !from.changed) {
                    st.pruning.rounds.push_back(
                        {round, std::nan(""), masks.nonzeros(), masks.sparsity()});
                    st.position = {step_phase::prune, step, true, 0, false};
                    save();
                }
                const evaluation e = tune(step_phase::prune, step, in.prune_fine_tune_length);
                record(step_phase::prune, step, e, seconds_since(round_start));
                round_start = clock::now();
            };
            const bool mid_pruning = resumed && from.phase == step_phase::prune;
            if (!mid_pruning) {
                st.pruning = pruning.prune(model, masks, in.start, on_round);
            } else if constexpr (requires(prune_progress p) {
                                     pruning.resume(model, masks, in.start, on_round, p);
                                 }) {
                const prune_progress progress{
                    .rounds = st.pruning.rounds,
                    .next_round = from.recorded ? from.step : from.step - 1,
                    .next_pruned = !from.recorded && from.changed};
                st.pruning = pruning.resume(model, masks, in.start, on_round, progress);
            } else {
                detail::fail("pipeline: the run stopped in pruning round ", from.step,
                             " and this prune stage cannot resume there (it has no resume(); "
                             "bpr::prune_to_budget has)");
            }
            st.pruned_nonzeros = masks.nonzeros();
            save();
        }

        // The target, resolved with every weight revivable, under the pruning guards.
        const resolved_budget target = resolve_target(model, masks, in.target);
        const index_t start = st.pruned_nonzeros;
        const index_t goal = target.nonzeros;
        BPR_REQUIRE(goal >= start, "pipeline: target ", in.target.str(), " keeps ", goal,
                    " weights, fewer than the ", start, " the budget ", in.start.str(),
                    " left (regrowth only adds weights: the target must be denser)");
        BPR_REQUIRE(in.steps >= 1 || goal == start, "pipeline: target ", in.target.str(), " needs ",
                    goal - start, " regrown weights but steps is 0");

        regrower_type grower(scoring.scorer, regrowing.allocator, regrowing.init, regrowing.guards);
        for (std::size_t k = 1; k <= in.steps; ++k) {
            if (finished(step_phase::regrow, k)) continue;
            const auto t = clock::now();
            if (!in_progress(step_phase::regrow, k) || !from.changed) {
                const index_t reach =
                    k == in.steps
                        ? goal
                        : start + static_cast<index_t>(
                                      (static_cast<long double>(goal - start) * k) / in.steps);
                const std::vector<index_t> dropped =
                    in.exchange > 0 ? drop(model, masks, in.exchange, st.pruning.budget)
                                    : std::vector<index_t>{};
                regrow_context context{.gradients = in.gradients,
                                       .batches = in.score_batches,
                                       .dense = &st.w0,
                                       .seed = in.seed,
                                       .step = k};
                st.regrowth.push_back(grower.grow(model, masks, reach - masks.nonzeros(), context,
                                                  optimizer, std::span<const index_t>(dropped)));
                for (std::size_t i = 0; i < dropped.size(); ++i)
                    st.regrowth.back().layers[i].dropped = dropped[i];
                st.position = {step_phase::regrow, k, true, 0, false};
                save();
            }
            const evaluation e = tune(step_phase::regrow, k, in.fine_tune_length);
            masks.apply(model);
            record(step_phase::regrow, k, e, seconds_since(t));
        }

        pipeline_result<granularity> result;
        result.masks = std::move(st.masks);
        result.steps = std::move(st.steps);
        result.pruning = std::move(st.pruning);
        result.target = target;
        result.regrowth = std::move(st.regrowth);
        return result;
    }

  private:
    // The "drop" half of an exchange: one more pruning step of the prune stage, taking
    // `fraction` of the alive weights, within the budget's per-layer guards. Returns how
    // many each layer lost (empty if none); the step regrows at least as many there, so
    // the exchange moves weights within layers and leaves the layer densities to the
    // schedule's growth (regrowing them wherever the score is highest instead shifts
    // weights from early to late layers: measured on ResNet-20, docs/results.md).
    template <typename Model>
    std::vector<index_t> drop(Model& model, mask_set<granularity>& masks, double fraction,
                              const resolved_budget& guards) {
        const index_t alive = masks.nonzeros();
        const auto count = static_cast<index_t>(std::floor(fraction * double(alive)));
        if (count == 0) return {};
        std::vector<index_t> dropped(masks.size(), 0);
        for (std::size_t i = 0; i < masks.size(); ++i)
            dropped[i] = masks[i].bits.count();
        if constexpr (requires { pruning.method.prune_to(model, masks, alive, guards); })
            pruning.method.prune_to(model, masks, alive - count, guards);
        else
            detail::fail(
                "pipeline: exchange needs a prune stage with a pruner (method.prune_to), "
                "as bpr::prune_to_budget has");
        for (std::size_t i = 0; i < masks.size(); ++i)
            dropped[i] -= masks[i].bits.count();
        return dropped;
    }

    template <typename Model>
    resolved_budget resolve_target(Model& model, const mask_set<granularity>& masks,
                                   const budget& target) const {
        std::vector<budget_layer> layers;
        for (const auto& e : masks) {
            const index_t capacity = granularity_capacity<granularity>(e.bits.extents());
            layers.push_back({e.name, e.bits.size(), capacity, capacity});
        }
        byte_cost cost;
        if (target.type() == budget::kind::bytes)
            cost = model_cost(model, target.format(), masks.roles());
        prune_guards guards;
        if constexpr (requires { pruning.method.guards; }) guards = pruning.method.guards;
        return resolve_budget(target, layers, guards, cost);
    }
};

}  // namespace bpr
