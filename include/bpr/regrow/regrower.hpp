#pragma once
// bpr::regrower: score x allocation x init, reviving dead weights of a masked model.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/prune/allocation.hpp"
#include "bpr/regrow/allocation.hpp"
#include "bpr/regrow/init.hpp"
#include "bpr/regrow/score.hpp"
#include "bpr/sparse/granularity.hpp"
#include "bpr/sparse/mask.hpp"

namespace bpr {

// What one regrowth step did to one layer.
struct regrown_layer {
    std::size_t index = 0;  // visit_params index
    std::string name;
    index_t alive_before = 0;
    index_t grown = 0;
    index_t dropped = 0;             // pruned by the step just before growing (pipeline exchange)
    std::vector<index_t> positions;  // flat indices of the regrown weights, ascending
};

// What one regrowth step did.
struct regrow_report {
    index_t requested = 0;
    index_t grown = 0;
    std::vector<regrown_layer> layers;
};

// An optimizer whose per-slot state can be reset at given positions (bpr::sgd,
// bpr::adamw).
template <typename O>
concept resettable_optimizer = requires(O& o, std::size_t index,
                                        std::span<const index_t> positions) {
    { o.slot_count() } -> std::convertible_to<std::size_t>;
    o.reset_state(index, positions);
};

namespace detail {
struct no_optimizer {
    std::size_t slot_count() const { return 0; }
    void reset_state(std::size_t, std::span<const index_t>) {}
};
}  // namespace detail

// What it represents: one way of regrowing: a score ranks the dead weights, an
// allocation (bpr::top_k, bpr::proportional, bpr::capped_top_k or any bpr::allocation)
// splits the count across layers, an init gives the revived weights a value.
// Requires: a model whose parameters match the mask set (checked); float parameters.
// Guarantees: grow(count) revives exactly `count` dead weights (whole units of the
// granularity) or throws bpr::error naming the numbers; only dead weights are revived,
// no layer exceeds guards.max_density; the revived weights hold the init's value, all
// other weights are untouched (pruned ones stay exactly zero); the optimizer's state of
// revived weights is reset to zero; buffers (batchnorm running statistics) that the
// score's forward passes changed are restored; deterministic for a given seed. If it
// throws, the masks are unchanged and pruned weights are still zero.
template <regrow_score Score, allocation Allocation = top_k, regrow_init Init = init_zero,
          mask_policy Granularity = unstructured>
class regrower {
    static_assert(regrowable_granularity<Granularity>,
                  "bpr::regrower: N:M masks (bpr::n_of_m) cannot be regrown, a revived weight "
                  "could break the N:M pattern; use unstructured, channel or block");

  public:
    using score_type = Score;
    using allocation_type = Allocation;
    using init_type = Init;
    using granularity = Granularity;

    Score scorer{};
    Allocation allocator{};
    Init init{};
    regrow_guards guards{};

    regrower() = default;
    explicit regrower(Score s, Allocation a = {}, Init i = {}, regrow_guards g = {})
        : scorer(std::move(s)), allocator(std::move(a)), init(std::move(i)), guards(g) {}

    template <typename Model>
    regrow_report grow(Model& model, mask_set<Granularity>& masks, index_t count,
                       const regrow_context& context) {
        detail::no_optimizer none;
        return grow(model, masks, count, context, none);
    }

    // As above; `minimum`, if not empty, holds per mask-set layer the fewest weights
    // that layer must regrow (e.g. what an exchange dropped there, so that layer
    // densities survive it); the allocation places the rest.
    template <typename Model, resettable_optimizer Optimizer>
    regrow_report grow(Model& model, mask_set<Granularity>& masks, index_t count,
                       const regrow_context& context, Optimizer& optimizer,
                       std::span<const index_t> minimum = {}) {
        masks.check(model, "regrower");
        BPR_REQUIRE(minimum.empty() || minimum.size() == masks.size(), "regrower: ", minimum.size(),
                    " per-layer minimums for ", masks.size(), " layers");
        BPR_REQUIRE(guards.max_density > 0 && guards.max_density <= 1,
                    "regrower: max_density must be in (0, 1], got ", guards.max_density);
        const index_t dead = masks.total() - masks.nonzeros();
        BPR_REQUIRE(count >= 0 && count <= dead, "regrower: asked to regrow ", count,
                    " weights but ", dead, " are dead (of ", masks.total(), ")");
        regrow_report report;
        report.requested = count;
        if (count == 0) return report;

        std::vector<std::size_t> indices;
        for (const auto& e : masks)
            indices.push_back(e.index);
        std::vector<std::vector<double>> scores;
        {
            // Scores run forward passes in train mode; put batchnorm statistics back.
            dense_snapshot before;
            before.take(model);
            try {
                scorer.score(model, std::span<const std::size_t>(indices), context, scores);
            } catch (...) {
                before.restore(model);
                throw;
            }
            restore_buffers(model, before);
        }
        BPR_REQUIRE(scores.size() == masks.size(), "regrower: score ", Score::name, " returned ",
                    scores.size(), " score tensors for ", masks.size(), " layers");

        std::vector<allocation_layer> layers(masks.size());
        for (std::size_t i = 0; i < masks.size(); ++i) {
            const auto& e = masks[i];
            const weight_matrix m = e.bits.matrix();
            BPR_REQUIRE(static_cast<index_t>(scores[i].size()) == m.size(), "regrower: score ",
                        Score::name, " gave ", scores[i].size(), " scores for ", e.name, " with ",
                        m.size(), " weights");
            auto& l = layers[i];
            l.name = e.name;
            l.extents = e.bits.extents();
            const auto units = static_cast<std::size_t>(Granularity::unit_count(m));
            l.unit_scores.assign(units, 0.0);
            l.unit_sizes.assign(units, 0);
            std::vector<index_t> alive(units, 0);
            for (index_t el = 0; el < m.size(); ++el) {
                const auto u = static_cast<std::size_t>(Granularity::unit_of(m, el));
                const double s = scores[i][static_cast<std::size_t>(el)];
                BPR_REQUIRE(!std::isnan(s), "regrower: score ", Score::name, " is NaN for weight ",
                            el, " of ", e.name);
                l.unit_scores[u] += s;
                ++l.unit_sizes[u];
                alive[u] += e.bits.kept(el);
            }
            l.eligible.assign(units, 0);
            for (std::size_t u = 0; u < units; ++u)
                l.eligible[u] = alive[u] == 0 && l.unit_sizes[u] > 0;
            const auto limit =
                static_cast<index_t>(std::floor(guards.max_density * double(m.size()) + 1e-9));
            l.floor = minimum.empty() ? 0 : minimum[i];
            l.cap = std::clamp<index_t>(limit - e.bits.count(), 0, detail::eligible_weights(l));
            BPR_REQUIRE(l.floor >= 0 && l.floor <= l.cap, "regrower: layer ", e.name,
                        " must regrow at least ", l.floor, " weights but can take ", l.cap,
                        " (max_density ", guards.max_density, ")");
        }

        index_t room = 0, least = 0;
        for (const auto& l : layers) {
            room += l.cap;
            least += l.floor;
        }
        BPR_REQUIRE(least <= count, "regrower: the layers must regrow at least ", least,
                    " weights in all, more than the ", count, " asked for");
        BPR_REQUIRE(count <= room, "regrower: asked to regrow ", count, " weights but the layers ",
                    "can take only ", room, " (max_density ", guards.max_density, ")");
        allocator.allocate(std::span<allocation_layer>(layers), count);

        // All or nothing: the new masks are built and checked on copies first, the revived
        // weights initialised next (undone by re-applying the old masks if an init
        // throws), and only then are the masks replaced (a move, which cannot throw).
        std::vector<std::uint8_t> bits;
        std::vector<std::optional<mask<Granularity>>> grown_masks(masks.size());
        for (std::size_t i = 0; i < masks.size(); ++i) {
            auto& l = layers[i];
            BPR_REQUIRE(l.keep.size() == l.eligible.size(), "regrower: allocation ",
                        Allocation::name, " did not fill the grow bits of ", l.name);
            regrown_layer out;
            out.index = masks[i].index;
            out.name = l.name;
            out.alive_before = masks[i].bits.count();
            const weight_matrix m = masks[i].bits.matrix();
            bits.assign(masks[i].bits.bits().begin(), masks[i].bits.bits().end());
            for (index_t el = 0; el < m.size(); ++el) {
                const auto u = static_cast<std::size_t>(Granularity::unit_of(m, el));
                if (!l.keep[u]) continue;
                BPR_REQUIRE(l.eligible[u], "regrower: allocation ", Allocation::name,
                            " regrew unit ", u, " of ", l.name, ", which is not dead");
                bits[static_cast<std::size_t>(el)] = 1;
                out.positions.push_back(el);
            }
            out.grown = static_cast<index_t>(out.positions.size());
            BPR_REQUIRE(out.grown >= l.floor && out.grown <= l.cap, "regrower: layer ", l.name,
                        " grew ", out.grown, " weights, outside [", l.floor, ", ", l.cap, "]");
            if (out.grown > 0) {
                grown_masks[i].emplace(masks[i].bits);
                grown_masks[i]->set_bits(bits, "regrower: " + l.name);
            }
            report.grown += out.grown;
            report.layers.push_back(std::move(out));
        }
        BPR_REQUIRE(report.grown == count, "regrower: allocation ", Allocation::name, " regrew ",
                    report.grown, " weights, asked for ", count,
                    " (caps or granularity units too coarse?)");

        // Values and optimizer state of the revived weights (dead until the masks change,
        // so re-applying the old masks undoes a partial initialisation).
        std::size_t next = 0;
        try {
            visit_params(model, [&](std::size_t index, const std::string&, auto& p) {
                if (next >= report.layers.size() || report.layers[next].index != index) return;
                const auto& grown = report.layers[next++];
                if (grown.positions.empty()) return;
                static_assert(std::same_as<std::remove_cvref_t<decltype(p.value)>, tensor<float>>,
                              "bpr::regrower: regrowth supports float parameters");
                const tensor<float>* w0 = context.dense != nullptr && index < context.dense->size()
                                              ? &context.dense->at(index)
                                              : nullptr;
                rng generator(context.seed ^ (0x94d049bb133111ebULL * (index + 1)) ^
                              (0xd6e8feb86659fd93ULL * (context.step + 1)));
                init.initialize(p.value, std::span<const index_t>(grown.positions), w0, generator);
                if (index < optimizer.slot_count())
                    optimizer.reset_state(index, std::span<const index_t>(grown.positions));
            });
        } catch (...) {
            masks.apply(model);
            throw;
        }
        for (std::size_t i = 0; i < masks.size(); ++i)
            if (grown_masks[i]) masks[i].bits = std::move(*grown_masks[i]);
        masks.apply(model);
        return report;
    }

  private:
    template <typename Model>
    static void restore_buffers(Model& model, const dense_snapshot& snapshot) {
        // The params are unchanged by scoring (scores restore what they change); only
        // buffers need putting back, but restoring all is equally exact.
        snapshot.restore(model);
    }
};

}  // namespace bpr
