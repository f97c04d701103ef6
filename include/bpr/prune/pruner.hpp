#pragma once
// bpr::pruner: criterion x allocation x schedule x granularity, composed as types.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/prune/allocation.hpp"
#include "bpr/prune/criterion.hpp"
#include "bpr/prune/schedule.hpp"
#include "bpr/sparse/budget.hpp"
#include "bpr/sparse/format.hpp"
#include "bpr/sparse/granularity.hpp"
#include "bpr/sparse/mask.hpp"

namespace bpr {

// One pruning step of a run: the sparsity target and what was reached.
struct prune_round {
    std::size_t round = 0;
    double target_sparsity = 0;
    index_t nonzeros = 0;
    double sparsity = 0;
};

// What a run did: the resolved budget and every round.
struct prune_result {
    resolved_budget budget;
    std::vector<prune_round> rounds;
};

// Most weights that can survive under granularity G in a tensor of this shape.
template <mask_policy G>
index_t granularity_capacity(const shape& extents) {
    const weight_matrix m = weight_matrix::of(extents);
    const auto units = static_cast<std::size_t>(G::unit_count(m));
    std::vector<double> scores(units, 0.0);
    std::vector<std::uint8_t> eligible(units, 1);
    G::restrict(m, scores, eligible);
    std::vector<index_t> unit_size(units, 0);
    for (index_t e = 0; e < m.size(); ++e)
        ++unit_size[static_cast<std::size_t>(G::unit_of(m, e))];
    index_t capacity = 0;
    for (std::size_t u = 0; u < units; ++u)
        if (eligible[u]) capacity += unit_size[u];
    return capacity;
}

// What it represents: a one-way pruning method. The criterion scores weights, the
// allocation splits the budget across layers, the schedule says in how many steps,
// the granularity which weights go together; guards protect layers.
// Requires: a model whose parameters match the mask_set (checked); pruning only
// removes weights (masked weights are never revived).
// Guarantees: after run(), masks.nonzeros() equals the resolved budget exactly for
// unstructured masks (at most it, for coarser units), every layer keeps between its
// floor and cap, the model's pruned weights are zero; deterministic.
template <prune_criterion Criterion = magnitude, allocation Allocation = global_allocation,
          prune_schedule Schedule = one_shot, mask_policy Granularity = unstructured>
class pruner {
  public:
    using criterion_type = Criterion;
    using allocation_type = Allocation;
    using schedule_type = Schedule;
    using granularity = Granularity;

    Criterion criterion{};
    Allocation allocator{};
    Schedule schedule{};
    prune_guards guards{};

    pruner() = default;
    explicit pruner(Criterion c, Allocation a = {}, Schedule s = {}, prune_guards g = {})
        : criterion(std::move(c)), allocator(std::move(a)), schedule(std::move(s)), guards(g) {}

    // The budget's keep counts for this model and its current masks.
    template <typename Model>
    resolved_budget resolve(Model& model, const mask_set<Granularity>& masks,
                            const budget& b) const {
        masks.check(model, "pruner");
        std::vector<budget_layer> layers;
        for (const auto& e : masks)
            layers.push_back({e.name, e.bits.size(),
                              granularity_capacity<Granularity>(e.bits.extents()), e.bits.count()});
        byte_cost cost;
        if (b.type() == budget::kind::bytes) cost = model_cost(model, b.format(), masks.roles());
        return resolve_budget(b, layers, guards, cost);
    }

    // One pruning step to `total` alive weights with the floors and caps of `r`.
    template <typename Model>
    void prune_to(Model& model, mask_set<Granularity>& masks, index_t total,
                  const resolved_budget& r) {
        masks.check(model, "pruner");
        BPR_REQUIRE(r.floor.size() == masks.size(), "pruner: resolved budget has ", r.floor.size(),
                    " layers, mask set ", masks.size());
        std::vector<std::size_t> indices;
        for (const auto& e : masks)
            indices.push_back(e.index);
        std::vector<std::vector<double>> scores;
        criterion.score(model, std::span<const std::size_t>(indices), scores);
        keep_best(masks, scores, total, r);
        masks.apply(model);
    }

    // Runs the schedule from the current masks to budget `b`: prune to each target,
    // then call fine_tune(round, masks) (train with masks.mask_grads/mask_state).
    template <typename Model, typename FineTune>
    prune_result run(Model& model, mask_set<Granularity>& masks, const budget& b,
                     FineTune&& fine_tune) {
        prune_result result;
        result.budget = resolve(model, masks, b);
        const resolved_budget& r = result.budget;
        const double start = masks.sparsity();
        const auto targets = schedule.targets(start, std::max(start, r.sparsity()));
        // Targets become keep counts; the first that reaches the budget's count is the
        // last round (a sparsity target and its floor-rounded count agree exactly).
        std::vector<index_t> totals;
        for (std::size_t round = 0; round < targets.size(); ++round) {
            const index_t k = keep_count_for_sparsity(targets[round], r.total);
            totals.push_back(std::min(std::max(k, r.nonzeros), masks.nonzeros()));
            if (k <= r.nonzeros || round + 1 == targets.size()) {
                totals.back() = r.nonzeros;
                break;
            }
        }
        for (std::size_t round = 0; round < totals.size(); ++round) {
            const index_t total = totals[round];
            prune_to(model, masks, total, r);
            result.rounds.push_back({round, targets[round], masks.nonzeros(), masks.sparsity()});
            fine_tune(round, std::as_const(masks));
        }
        return result;
    }

    // The same without fine-tuning (e.g. one-shot pruning before a separate run).
    template <typename Model>
    prune_result run(Model& model, mask_set<Granularity>& masks, const budget& b) {
        return run(model, masks, b, [](std::size_t, const mask_set<Granularity>&) {});
    }

  private:
    // The model-free half of prune_to: allocates `total` weights from every layer's
    // scores and sets the masks' bits. Apart from prune_to so that it is compiled once
    // per pruner type, not once per pruner type and model (bpr-prune offers 36 pruners for
    // each of 6 model types).
    void keep_best(mask_set<Granularity>& masks, const std::vector<std::vector<double>>& scores,
                   index_t total, const resolved_budget& r) {
        BPR_REQUIRE(scores.size() == masks.size(), "pruner: criterion ", Criterion::name,
                    " returned ", scores.size(), " score tensors for ", masks.size(), " layers");

        std::vector<allocation_layer> layers(masks.size());
        for (std::size_t i = 0; i < masks.size(); ++i) {
            const auto& e = masks[i];
            const weight_matrix m = e.bits.matrix();
            BPR_REQUIRE(static_cast<index_t>(scores[i].size()) == m.size(), "pruner: criterion ",
                        Criterion::name, " gave ", scores[i].size(), " scores for ", e.name,
                        " with ", m.size(), " weights");
            auto& l = layers[i];
            l.name = e.name;
            l.extents = e.bits.extents();
            const auto units = static_cast<std::size_t>(Granularity::unit_count(m));
            l.unit_scores.assign(units, 0.0);
            l.unit_sizes.assign(units, 0);
            std::vector<index_t> alive(units, 0);
            for (index_t el = 0; el < m.size(); ++el) {
                const auto u = static_cast<std::size_t>(Granularity::unit_of(m, el));
                l.unit_scores[u] += scores[i][static_cast<std::size_t>(el)];
                ++l.unit_sizes[u];
                alive[u] += e.bits.kept(el);
            }
            l.eligible.assign(units, 0);
            for (std::size_t u = 0; u < units; ++u)
                l.eligible[u] = alive[u] == l.unit_sizes[u] && alive[u] > 0;
            Granularity::restrict(m, l.unit_scores, l.eligible);
            l.floor = r.floor[i];
            l.cap = r.cap[i];
        }

        allocator.allocate(std::span<allocation_layer>(layers), total);

        index_t kept_total = 0;
        std::vector<std::uint8_t> bits;
        for (std::size_t i = 0; i < masks.size(); ++i) {
            auto& l = layers[i];
            BPR_REQUIRE(l.keep.size() == l.eligible.size(), "pruner: allocation ", Allocation::name,
                        " did not fill the keep bits of ", l.name);
            for (std::size_t u = 0; u < l.keep.size(); ++u)
                BPR_REQUIRE(!l.keep[u] || l.eligible[u], "pruner: allocation ", Allocation::name,
                            " kept ineligible unit ", u, " of ", l.name);
            const index_t kept = l.kept_weights();
            BPR_REQUIRE(kept >= l.floor && kept <= l.cap, "pruner: layer ", l.name, " keeps ", kept,
                        " weights, outside its guards [", l.floor, ", ", l.cap, "] (granularity ",
                        Granularity::name, " units too coarse for the budget?)");
            kept_total += kept;
            const weight_matrix m = masks[i].bits.matrix();
            bits.assign(static_cast<std::size_t>(m.size()), 0);
            for (index_t el = 0; el < m.size(); ++el)
                bits[static_cast<std::size_t>(el)] =
                    l.keep[static_cast<std::size_t>(Granularity::unit_of(m, el))];
            masks[i].bits.set_bits(bits, "pruner: " + l.name);
        }
        BPR_REQUIRE(kept_total <= total, "pruner: kept ", kept_total, " weights, budget ", total,
                    " (the guards' floors need more than the budget at this granularity)");
    }
};

}  // namespace bpr
