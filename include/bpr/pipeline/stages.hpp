#pragma once
// The stages of a bpr::pipeline: prune_to_budget, score, regrow, and the concepts
// that check them.

#include <concepts>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "bpr/prune/allocation.hpp"
#include "bpr/prune/criterion.hpp"
#include "bpr/prune/pruner.hpp"
#include "bpr/prune/schedule.hpp"
#include "bpr/regrow/allocation.hpp"
#include "bpr/regrow/init.hpp"
#include "bpr/regrow/regrower.hpp"
#include "bpr/regrow/score.hpp"
#include "bpr/sparse/budget.hpp"
#include "bpr/sparse/granularity.hpp"
#include "bpr/sparse/mask.hpp"

namespace bpr {

namespace detail {

// Stands in for a member whose parameters failed their static_assert, so that one
// readable message is all the compiler prints.
struct invalid_stage_member {};

template <typename G>
struct ignore_round {
    void operator()(std::size_t, const mask_set<G>&) const {}
};

}  // namespace detail

// Where an interrupted pruning run stopped: the rounds done so far (targets may be
// NaN: resume fills them in), the round to continue with (0-based), and whether that
// round's masks are already pruned (then only its fine-tuning remains).
struct prune_progress {
    std::vector<prune_round> rounds;
    std::size_t next_round = 0;
    bool next_pruned = false;
};

// What it represents: the one-way half of a pipeline, a bpr::pruner (criterion x
// allocation x schedule x granularity) taking the dense model down to the budget the
// hardware accepts, with its guards.
// Requires: each parameter satisfies its concept (checked with a readable message).
template <typename Criterion = magnitude, typename Allocation = global_allocation,
          typename Schedule = one_shot, typename Granularity = unstructured>
struct prune_to_budget {
    static_assert(prune_criterion<Criterion>,
                  "bpr::prune_to_budget<Criterion, ...>: Criterion must be a pruning criterion "
                  "(bpr::prune_criterion), e.g. bpr::magnitude, bpr::snip or bpr::random_score");
    static_assert(allocation<Allocation>,
                  "bpr::prune_to_budget<_, Allocation, ...>: Allocation must satisfy "
                  "bpr::allocation, e.g. bpr::global_allocation or bpr::lamp_allocation");
    static_assert(prune_schedule<Schedule>,
                  "bpr::prune_to_budget<_, _, Schedule>: Schedule must satisfy "
                  "bpr::prune_schedule, e.g. bpr::one_shot or bpr::iterative");
    static_assert(mask_policy<Granularity>,
                  "bpr::prune_to_budget<_, _, _, Granularity>: Granularity must satisfy "
                  "bpr::mask_policy, e.g. bpr::unstructured");
    static constexpr bool valid = prune_criterion<Criterion> && allocation<Allocation> &&
                                  prune_schedule<Schedule> && mask_policy<Granularity>;

    using granularity = Granularity;
    using method_type =
        std::conditional_t<valid, pruner<Criterion, Allocation, Schedule, Granularity>,
                           detail::invalid_stage_member>;

    method_type method{};

    // Prunes to `b` along the schedule, calling on_round(round, masks) after each
    // round (fine-tuning happens there).
    template <typename Model, typename OnRound>
    prune_result prune(Model& model, mask_set<Granularity>& masks, const budget& b,
                       OnRound&& on_round) {
        return method.run(model, masks, b, std::forward<OnRound>(on_round));
    }

    // Continues prune() after an interruption: `masks` and the model are as they were
    // after the rounds in `from`; the plan (targets and keep counts) is recomputed from
    // the dense masks exactly as pruner::run computes it, so the remaining rounds are
    // the ones the uninterrupted run would have done (tests/pipeline/resume_test.cpp
    // checks this against pruner::run for iterative schedules).
    template <typename Model, typename OnRound>
    prune_result resume(Model& model, mask_set<Granularity>& masks, const budget& b,
                        OnRound&& on_round, const prune_progress& from) {
        const mask_set<Granularity> initial = mask_set<Granularity>::dense(model, masks.roles());
        prune_result result;
        result.budget = method.resolve(model, initial, b);
        const resolved_budget& r = result.budget;
        const double start = initial.sparsity();
        const auto targets = method.schedule.targets(start, std::max(start, r.sparsity()));
        std::vector<index_t> totals;
        index_t alive = initial.nonzeros();
        for (std::size_t round = 0; round < targets.size(); ++round) {
            const index_t k = keep_count_for_sparsity(targets[round], r.total);
            totals.push_back(std::min(std::max(k, r.nonzeros), alive));
            if (k <= r.nonzeros || round + 1 == targets.size()) {
                totals.back() = r.nonzeros;
                break;
            }
        }
        BPR_REQUIRE(from.rounds.size() == from.next_round + (from.next_pruned ? 1 : 0) &&
                        from.next_round <= totals.size(),
                    "prune_to_budget::resume: ", from.rounds.size(),
                    " rounds recorded, next round ", from.next_round, " (",
                    from.next_pruned ? "pruned" : "not pruned", ") of ", totals.size(), " planned");
        result.rounds = from.rounds;
        for (std::size_t round = 0; round < result.rounds.size(); ++round)
            result.rounds[round].target_sparsity = targets[round];
        for (std::size_t round = from.next_round; round < totals.size(); ++round) {
            if (round != from.next_round || !from.next_pruned) {
                method.prune_to(model, masks, totals[round], r);
                result.rounds.push_back(
                    {round, targets[round], masks.nonzeros(), masks.sparsity()});
            }
            on_round(round, std::as_const(masks));
        }
        return result;
    }
};

// What it represents: the regrowth score stage, wrapping a bpr::regrow_score.
template <typename Score>
struct score {
    static_assert(regrow_score<Score>,
                  "bpr::score<S>: S must be a regrowth score (bpr::regrow_score: a static "
                  "`name` and score(model, indices, const bpr::regrow_context&, out)), e.g. "
                  "bpr::gradient_magnitude, bpr::taylor or bpr::random_regrowth; pruning "
                  "criteria such as bpr::magnitude rank alive weights, not dead ones");
    using score_type = std::conditional_t<regrow_score<Score>, Score, detail::invalid_stage_member>;
    score_type scorer{};
};

// What it represents: the regrowth stage: how a step's count is split across layers
// (Allocation, e.g. bpr::top_k) and how revived weights start (Init, e.g. init_zero),
// within per-layer guards.
template <typename Allocation = top_k, typename Init = init_zero>
struct regrow {
    static_assert(allocation<Allocation>,
                  "bpr::regrow<Allocation, Init>: Allocation must satisfy bpr::allocation, e.g. "
                  "bpr::top_k, bpr::proportional or bpr::capped_top_k");
    static_assert(regrow_init<Init>,
                  "bpr::regrow<Allocation, Init>: Init must satisfy bpr::regrow_init, e.g. "
                  "bpr::init_zero, bpr::init_dense or bpr::init_kaiming");
    using allocation_type =
        std::conditional_t<allocation<Allocation>, Allocation, detail::invalid_stage_member>;
    using init_type = std::conditional_t<regrow_init<Init>, Init, detail::invalid_stage_member>;
    allocation_type allocator{};
    init_type init{};
    regrow_guards guards{};
};

// A pipeline's first stage: prunes a masked model to a budget (bpr::prune_to_budget).
template <typename P>
concept prune_stage = requires {
    typename P::granularity;
}
&&mask_policy<typename P::granularity>&& requires(
    P& p, detail::criterion_probe_model& m, mask_set<typename P::granularity>& masks,
    const budget& b, detail::ignore_round<typename P::granularity> on_round) {
    { p.prune(m, masks, b, on_round) } -> std::same_as<prune_result>;
};

// A pipeline's second stage: holds a regrowth score (bpr::score<S>).
template <typename S>
concept score_stage = requires(S& s) {
    typename S::score_type;
    s.scorer;
}
&&regrow_score<typename S::score_type>;

// A pipeline's third stage: an allocation, an init and guards (bpr::regrow<A, I>).
template <typename R>
concept regrow_stage = requires(R& r) {
    typename R::allocation_type;
    typename R::init_type;
    { r.guards } -> std::convertible_to<regrow_guards>;
}
&&allocation<typename R::allocation_type>&& regrow_init<typename R::init_type>;

}  // namespace bpr
