#pragma once
// Pruning criteria: how important each weight is (magnitude, random, SNIP).

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

namespace detail {

// A stand-in model with one weight, used only to state the criterion concept.
struct criterion_probe_model {
    param<float> weight;
    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(join_name(prefix, "weight"), weight);
    }
};

// Calls f(position, param) for each parameter whose visit index is in `indices`
// (ascending), where position is its place in `indices`.
template <typename Model, typename F>
void for_listed_params(Model& model, std::span<const std::size_t> indices, F&& f) {
    std::size_t next = 0;
    visit_params(model, [&](std::size_t index, const std::string&, auto& p) {
        if (next < indices.size() && indices[next] == index) f(next++, p);
    });
    BPR_REQUIRE(next == indices.size(), "prune criterion: ", indices.size() - next,
                " listed parameters not found in the model (first missing index ",
                next < indices.size() ? indices[next] : 0, ")");
}

}  // namespace detail

// What it represents: a score per weight, higher meaning more important.
// Requires: score(model, indices, out) resizes `out` to indices.size() and fills
// out[i] with one score per element (row-major) of parameter indices[i] (ascending
// visit_params indices). Deterministic for the same model and state.
template <typename C>
concept prune_criterion = requires(C& c, detail::criterion_probe_model& m,
                                   std::span<const std::size_t> indices,
                                   std::vector<std::vector<double>>& out) {
    { C::name } -> std::convertible_to<std::string_view>;
    c.score(m, indices, out);
};

// |w|: the classic magnitude criterion.
struct magnitude {
    static constexpr std::string_view name = "magnitude";
    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices,
               std::vector<std::vector<double>>& out) const {
        out.assign(indices.size(), {});
        detail::for_listed_params(model, indices, [&](std::size_t i, auto& p) {
            out[i].resize(static_cast<std::size_t>(p.value.size()));
            for (index_t e = 0; e < p.value.size(); ++e)
                out[i][static_cast<std::size_t>(e)] = std::abs(double(p.value[e]));
        });
    }
};

// Uniform random scores from bpr::rng, one independent stream per parameter index,
// so the scores depend only on the seed and the architecture.
struct random_score {
    static constexpr std::string_view name = "random";
    std::uint64_t seed = 0;
    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices,
               std::vector<std::vector<double>>& out) const {
        out.assign(indices.size(), {});
        detail::for_listed_params(model, indices, [&](std::size_t i, auto& p) {
            rng generator(seed ^ (0x9e3779b97f4a7c15ULL * (indices[i] + 1)));
            out[i].resize(static_cast<std::size_t>(p.value.size()));
            for (auto& s : out[i])
                s = generator.uniform();
        });
    }
};

// SNIP (Lee et al. 2019): |w * g|, the sensitivity of the loss to removing each
// weight, with g the gradient averaged over `batches` batches.
// Requires: `gradients(b)` runs forward and backward of batch b (0 <= b < batches) on
// the model being pruned, leaving that batch's gradients in the params' grad
// (backward overwrites grads, so the criterion sums them itself).
struct snip {
    static constexpr std::string_view name = "snip";
    std::function<void(std::size_t batch)> gradients;
    std::size_t batches = 1;

    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices,
               std::vector<std::vector<double>>& out) const {
        BPR_REQUIRE(gradients, "snip: no gradient callable given");
        BPR_REQUIRE(batches >= 1, "snip: batches must be >= 1, got ", batches);
        std::vector<std::vector<double>> sum(indices.size());
        for (std::size_t b = 0; b < batches; ++b) {
            gradients(b);
            detail::for_listed_params(model, indices, [&](std::size_t i, auto& p) {
                require_shape(p.grad, p.value.shape(), "snip", "grad");
                sum[i].resize(static_cast<std::size_t>(p.value.size()), 0.0);
                for (index_t e = 0; e < p.value.size(); ++e)
                    sum[i][static_cast<std::size_t>(e)] += double(p.grad[e]);
            });
        }
        out.assign(indices.size(), {});
        detail::for_listed_params(model, indices, [&](std::size_t i, auto& p) {
            out[i].resize(static_cast<std::size_t>(p.value.size()));
            for (index_t e = 0; e < p.value.size(); ++e) {
                const auto ue = static_cast<std::size_t>(e);
                out[i][ue] = std::abs(double(p.value[e]) * sum[i][ue] / double(batches));
            }
        });
    }
};

}  // namespace bpr
