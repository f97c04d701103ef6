#pragma once
// Regrowth scores: how much each dead weight is worth reviving (RigL, SNFS, Taylor,
// the paper's g^2 * w0^2 on the dense model, SET).

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
#include "bpr/prune/criterion.hpp"

namespace bpr {

// What it represents: the model's state before pruning (w0): a copy of every
// parameter and buffer, keyed by visit_params index.
// Requires: taken from, and restored into, models of one architecture (checked).
// Guarantees: restore() puts back exactly the values that take() copied.
class dense_snapshot {
  public:
    template <typename Model>
    void take(Model& model) {
        params_.clear();
        buffers_.clear();
        visit_params(model, [&](std::size_t, const std::string&, auto& p) {
            params_.push_back(to_float(p.value));
        });
        visit_buffers(model, [&](const std::string&, auto& t) { buffers_.push_back(to_float(t)); });
    }

    bool empty() const { return params_.empty(); }
    std::size_t size() const { return params_.size(); }

    // The pre-pruning value of parameter `index`.
    const tensor<float>& at(std::size_t index, std::string_view where = "dense_snapshot") const {
        BPR_REQUIRE(index < params_.size(), where, ": no pre-pruning value of parameter ", index,
                    " (the dense snapshot holds ", params_.size(), " parameters",
                    params_.empty() ? "; was it taken before pruning?" : "", ")");
        return params_[index];
    }

    // Writes the snapshot into `model` (every parameter and buffer).
    template <typename Model>
    void restore(Model& model) const {
        std::size_t next = 0;
        visit_params(model, [&](std::size_t index, const std::string& name, auto& p) {
            const tensor<float>& saved = at(index, "dense_snapshot::restore");
            BPR_REQUIRE(saved.shape() == p.value.shape(), "dense_snapshot::restore: parameter ",
                        name, " has shape ", p.value.shape().str(), ", snapshot has ",
                        saved.shape().str());
            copy_into(saved, p.value);
            ++next;
        });
        BPR_REQUIRE(next == params_.size(), "dense_snapshot::restore: model has ", next,
                    " parameters, snapshot ", params_.size());
        std::size_t b = 0;
        visit_buffers(model, [&](const std::string& name, auto& t) {
            BPR_REQUIRE(b < buffers_.size() && buffers_[b].shape() == t.shape(),
                        "dense_snapshot::restore: buffer ", name, " does not match the snapshot");
            copy_into(buffers_[b++], t);
        });
    }

  private:
    template <typename T>
    static tensor<float> to_float(const tensor<T>& t) {
        tensor<float> out(t.shape());
        for (index_t i = 0; i < t.size(); ++i)
            out[i] = static_cast<float>(t[i]);
        return out;
    }
    template <typename T>
    static void copy_into(const tensor<float>& from, tensor<T>& to) {
        for (index_t i = 0; i < to.size(); ++i)
            to[i] = static_cast<T>(from[i]);
    }

    std::vector<tensor<float>> params_;
    std::vector<tensor<float>> buffers_;
};

// What a score may use besides the model.
//  - gradients(b): runs forward and backward of batch b (0 <= b < batches) on the
//    model, leaving that batch's *dense* gradients in every param's grad (backward
//    writes gradients of masked weights too; nothing may zero them before scoring);
//  - dense: the model before pruning (w0), for Taylor and the dense-model score;
//  - seed and step: for random scores (a new draw every regrowth step).
struct regrow_context {
    std::function<void(std::size_t batch)> gradients{};
    std::size_t batches = 1;
    const dense_snapshot* dense = nullptr;
    std::uint64_t seed = 0;
    std::size_t step = 0;

    const dense_snapshot& require_dense(std::string_view where) const {
        BPR_REQUIRE(dense != nullptr && !dense->empty(), where,
                    ": needs the pre-pruning weights (regrow_context::dense), none given");
        return *dense;
    }
};

// What it represents: a score per weight of each listed parameter, higher meaning
// more worth regrowing; the regrower only looks at the scores of dead weights.
// Requires: score(model, indices, context, out) resizes `out` to indices.size() and
// fills out[i] with one score per element (row-major) of parameter indices[i]
// (ascending visit_params indices); leaves the model's values as it found them.
template <typename S>
concept regrow_score = requires(S& s, detail::criterion_probe_model& m,
                                std::span<const std::size_t> indices, const regrow_context& context,
                                std::vector<std::vector<double>>& out) {
    { S::name } -> std::convertible_to<std::string_view>;
    s.score(m, indices, context, out);
};

// The gradients of the listed parameters over context.batches batches: their sum, or,
// with decay in (0, 1), their exponential moving average m = decay * m + (1 - decay) * g
// (the first batch initialises m = g). Reads the grads before anything can mask them.
// Throws bpr::error naming `where` when no gradient callable is given.
template <typename Model>
std::vector<std::vector<double>> accumulate_gradients(Model& model,
                                                      std::span<const std::size_t> indices,
                                                      const regrow_context& context,
                                                      std::string_view where, double decay = 0.0) {
    BPR_REQUIRE(static_cast<bool>(context.gradients), where,
                ": needs gradients (regrow_context::gradients), none given");
    BPR_REQUIRE(context.batches >= 1, where, ": batches must be >= 1, got ", context.batches);
    BPR_REQUIRE(decay >= 0 && decay < 1, where, ": decay must be in [0, 1), got ", decay);
    std::vector<std::vector<double>> sum(indices.size());
    for (std::size_t b = 0; b < context.batches; ++b) {
        context.gradients(b);
        detail::for_listed_params(model, indices, [&](std::size_t i, auto& p) {
            require_shape(p.grad, p.value.shape(), std::string(where).c_str(), "grad");
            auto& s = sum[i];
            s.resize(static_cast<std::size_t>(p.value.size()), 0.0);
            for (index_t e = 0; e < p.value.size(); ++e) {
                const double g = double(p.grad[e]);
                auto& v = s[static_cast<std::size_t>(e)];
                v = decay == 0.0 ? v + g : decay * v + (1.0 - decay) * g;
            }
        });
    }
    // The average starts at zero (as SNFS's momentum buffer does), so batch b weighs
    // (1 - decay) decay^(B-1-b); dividing by the weights' sum, 1 - decay^B, makes it a
    // weighted mean in gradient units whatever the number of batches.
    if (decay != 0.0) {
        const double total = 1.0 - std::pow(decay, static_cast<double>(context.batches));
        for (auto& layer : sum)
            for (auto& v : layer)
                v /= total;
    }
    return sum;
}

// RigL (Evci et al. 2020): |sum of dense gradients over a few batches|: the weights
// whose growth would reduce the loss fastest.
struct gradient_magnitude {
    static constexpr std::string_view name = "gradient";
    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices, const regrow_context& context,
               std::vector<std::vector<double>>& out) const {
        out = accumulate_gradients(model, indices, context, name);
        for (auto& layer : out)
            for (auto& v : layer)
                v = std::abs(v);
    }
};

// SNFS (Dettmers & Zettlemoyer 2019): |exponential moving average of the dense
// gradient| over the batches, which favours gradients that persist over noisy ones.
// SNFS reads the optimizer's momentum over training; here the average runs over the
// score batches only (from zero, bias-corrected as Adam does), so a spike in the
// first batch weighs (1 - decay) decay^(B-1), not decay^(B-1) as it did until session 5.
struct gradient_momentum {
    static constexpr std::string_view name = "momentum";
    double decay = 0.9;
    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices, const regrow_context& context,
               std::vector<std::vector<double>>& out) const {
        out = accumulate_gradients(model, indices, context, name, decay);
        for (auto& layer : out)
            for (auto& v : layer)
                v = std::abs(v);
    }
};

// First-order Taylor estimate of the loss change of restoring a weight to its
// pre-pruning value w0: |w0 * g|, with g the summed gradient of the current model.
struct taylor {
    static constexpr std::string_view name = "taylor";
    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices, const regrow_context& context,
               std::vector<std::vector<double>>& out) const {
        const dense_snapshot& dense = context.require_dense(name);
        out = accumulate_gradients(model, indices, context, name);
        for (std::size_t i = 0; i < indices.size(); ++i) {
            const tensor<float>& w0 = dense.at(indices[i], name);
            BPR_REQUIRE(w0.size() == static_cast<index_t>(out[i].size()), name,
                        ": pre-pruning value of parameter ", indices[i], " has ", w0.size(),
                        " elements, gradient ", out[i].size());
            for (std::size_t e = 0; e < out[i].size(); ++e)
                out[i][e] = std::abs(double(w0[static_cast<index_t>(e)]) * out[i][e]);
        }
    }
};

// The score of the paper's reference code: g^2 * w0^2 with g the gradient of the
// *dense pretrained* model (the model is put back to w0 for the gradients, then
// restored). The gradient is taken on the batches the context supplies, which move on
// with every call, so the ranking is recomputed (on new batches) at every step.
struct dense_saliency {
    static constexpr std::string_view name = "dense_saliency";
    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices, const regrow_context& context,
               std::vector<std::vector<double>>& out) const {
        const dense_snapshot& dense = context.require_dense(name);
        dense_snapshot current;
        current.take(model);
        dense.restore(model);
        try {
            out = accumulate_gradients(model, indices, context, name);
        } catch (...) {
            current.restore(model);
            throw;
        }
        current.restore(model);
        for (std::size_t i = 0; i < indices.size(); ++i) {
            const tensor<float>& w0 = dense.at(indices[i], name);
            for (std::size_t e = 0; e < out[i].size(); ++e) {
                const double wg = double(w0[static_cast<index_t>(e)]) * out[i][e];
                out[i][e] = wg * wg;
            }
        }
    }
};

// SET (Mocanu et al. 2018): uniform random scores, a new draw per regrowth step and
// parameter (seeded by context.seed, context.step and the parameter index).
struct random_regrowth {
    static constexpr std::string_view name = "random";
    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices, const regrow_context& context,
               std::vector<std::vector<double>>& out) const {
        out.assign(indices.size(), {});
        detail::for_listed_params(model, indices, [&](std::size_t i, auto& p) {
            rng generator(context.seed ^ (0x9e3779b97f4a7c15ULL * (indices[i] + 1)) ^
                          (0xbf58476d1ce4e5b9ULL * (context.step + 1)));
            out[i].resize(static_cast<std::size_t>(p.value.size()));
            for (auto& s : out[i])
                s = generator.uniform();
        });
    }
};

}  // namespace bpr
