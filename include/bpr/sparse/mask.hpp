#pragma once
// bpr::mask and bpr::mask_set: which weights of a model are alive.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/sparse/granularity.hpp"

namespace bpr {

// What it represents: the keep bits of one parameter tensor (1 = alive), one byte per
// weight in row-major order, for the granularity G.
// Requires: bits assigned through set_bits() respect G (checked).
// Guarantees: apply() zeroes exactly the pruned positions; count() is the number of
// alive weights. A mask owns nothing but its bits and the shape they cover.
template <mask_policy G = unstructured>
class mask {
  public:
    using granularity = G;

    mask() = default;
    explicit mask(const shape& extents, bool keep = true)
        : extents_(extents),
          bits_(static_cast<std::size_t>(extents.numel()), keep ? 1 : 0),
          count_(keep ? extents.numel() : 0) {}

    const shape& extents() const { return extents_; }
    weight_matrix matrix() const { return weight_matrix::of(extents_); }
    index_t size() const { return static_cast<index_t>(bits_.size()); }
    index_t count() const { return count_; }
    double density() const { return size() == 0 ? 1.0 : double(count_) / double(size()); }
    bool kept(index_t i) const { return bits_[static_cast<std::size_t>(i)] != 0; }
    std::span<const std::uint8_t> bits() const { return bits_; }

    // Replaces the bits; throws bpr::error (naming `where`) if their number differs
    // from the shape or they break the granularity.
    void set_bits(std::span<const std::uint8_t> bits, const std::string& where = "mask") {
        BPR_REQUIRE(static_cast<index_t>(bits.size()) == size(), where, ": got ", bits.size(),
                    " mask bits for shape ", extents_.str(), " (", size(), " weights)");
        BPR_REQUIRE(G::valid(matrix(), bits), where, ": mask bits violate the ", G::name,
                    " granularity");
        count_ = 0;
        for (std::size_t i = 0; i < bits.size(); ++i) {
            bits_[i] = bits[i] != 0;
            count_ += bits_[i];
        }
    }

    // Zeroes the pruned positions of `t` (weights or their gradients).
    template <typename T>
    void apply(tensor<T>& t, const std::string& where = "mask::apply") const {
        BPR_REQUIRE(t.shape() == extents_, where, ": tensor has shape ", t.shape().str(),
                    ", mask has shape ", extents_.str());
        T* data = t.data();
        for (std::size_t i = 0; i < bits_.size(); ++i)
            if (!bits_[i]) data[i] = T(0);
    }

    // Flat indices of the pruned weights (for zeroing optimizer state).
    std::vector<index_t> pruned_positions() const {
        std::vector<index_t> positions;
        positions.reserve(bits_.size() - static_cast<std::size_t>(count_));
        for (std::size_t i = 0; i < bits_.size(); ++i)
            if (!bits_[i]) positions.push_back(static_cast<index_t>(i));
        return positions;
    }

  private:
    shape extents_;
    std::vector<std::uint8_t> bits_;
    index_t count_ = 0;
};

// Which parameter roles a mask_set covers. Only weights by default: biases and
// batchnorm parameters are few, matter a lot and are not pruned unless asked.
struct prunable_roles {
    bool weights = true;
    bool biases = false;
    bool norm = false;

    bool operator()(param_role role) const {
        switch (role) {
            case param_role::weight:
                return weights;
            case param_role::bias:
                return biases;
            case param_role::norm_scale:
            case param_role::norm_shift:
                return norm;
        }
        return false;
    }
    // A small integer recorded in sparse model files.
    std::uint32_t code() const {
        return (weights ? 1u : 0u) | (biases ? 2u : 0u) | (norm ? 4u : 0u);
    }
};

// One masked parameter: its visit_params index and name, and its mask.
template <mask_policy G>
struct mask_entry {
    std::size_t index = 0;
    std::string name;
    mask<G> bits;
};

// What it represents: the masks of all prunable parameters of one model, keyed by the
// stable visit_params index, in visit order.
// Requires: used with models of the architecture it was made for (checked: every
// call compares indices, names and shapes, and throws bpr::error naming the parameter).
// Guarantees: after apply(model), every pruned weight is exactly zero;
// mask_grads(model) zeroes their gradients and mask_state(optimizer) their
// optimizer state, so that they stay zero through training.
template <mask_policy G = unstructured>
class mask_set {
  public:
    using granularity = G;

    mask_set() = default;

    // All prunable parameters of `model` fully alive.
    template <typename Model>
    static mask_set dense(Model& model, prunable_roles roles = {}) {
        mask_set set;
        set.roles_ = roles;
        visit_params(model, [&](std::size_t index, const std::string& name, auto& p) {
            if (roles(p.role)) set.entries_.push_back({index, name, mask<G>(p.value.shape())});
        });
        BPR_REQUIRE(!set.entries_.empty(), "mask_set::dense: the model has no prunable parameter");
        return set;
    }

    const prunable_roles& roles() const { return roles_; }
    std::size_t size() const { return entries_.size(); }
    mask_entry<G>& operator[](std::size_t i) { return entries_[i]; }
    const mask_entry<G>& operator[](std::size_t i) const { return entries_[i]; }
    auto begin() { return entries_.begin(); }
    auto end() { return entries_.end(); }
    auto begin() const { return entries_.begin(); }
    auto end() const { return entries_.end(); }

    // The entry of visit_params index `index`, or nullptr if that parameter is dense.
    const mask_entry<G>* find(std::size_t index) const {
        for (const auto& e : entries_)
            if (e.index == index) return &e;
        return nullptr;
    }

    // Number of prunable weights, alive weights, and the sparsity over prunable weights.
    index_t total() const {
        index_t n = 0;
        for (const auto& e : entries_)
            n += e.bits.size();
        return n;
    }
    index_t nonzeros() const {
        index_t n = 0;
        for (const auto& e : entries_)
            n += e.bits.count();
        return n;
    }
    double sparsity() const {
        return total() == 0 ? 0.0 : 1.0 - double(nonzeros()) / double(total());
    }

    // Zeroes the pruned weights of `model`.
    template <typename Model>
    void apply(Model& model) const {
        for_each_masked(model, "mask_set::apply",
                        [](const mask_entry<G>& e, auto& p) { e.bits.apply(p.value, e.name); });
    }

    // Zeroes the gradients of pruned weights: call between backward and the optimizer
    // step so that no update (momentum, Adam moments) ever reaches them.
    template <typename Model>
    void mask_grads(Model& model) const {
        for_each_masked(model, "mask_set::mask_grads",
                        [](const mask_entry<G>& e, auto& p) { e.bits.apply(p.grad, e.name); });
    }

    // Marks the alive weights as the only gradients anyone reads (param::grad_needed),
    // so layers may skip the pruned ones; release_gradients(model) undoes it before
    // anything needs dense gradients again (regrowth scores, SNIP).
    template <typename Model>
    void restrict_gradients(Model& model) const {
        for_each_masked(model, "mask_set::restrict_gradients", [](const mask_entry<G>& e, auto& p) {
            p.grad_needed.assign(e.bits.bits().begin(), e.bits.bits().end());
        });
    }
    template <typename Model>
    void release_gradients(Model& model) const {
        visit_params(model,
                     [](std::size_t, const std::string&, auto& p) { p.grad_needed.clear(); });
    }

    // Zeroes the optimizer state at pruned positions. Requires an optimizer with
    // slot_count() and reset_state(index, positions) (bpr::sgd, bpr::adamw); slots
    // not created yet (before the first step) hold no state and are skipped.
    template <typename Optimizer>
    requires requires(Optimizer& o, std::size_t i, std::span<const index_t> positions) {
        { o.slot_count() } -> std::convertible_to<std::size_t>;
        o.reset_state(i, positions);
    }
    void mask_state(Optimizer& optimizer) const {
        for (const auto& e : entries_) {
            if (e.index >= optimizer.slot_count()) continue;
            const auto positions = e.bits.pruned_positions();
            optimizer.reset_state(e.index, std::span<const index_t>(positions));
        }
    }

    // Throws bpr::error unless `model` has exactly the masked parameters (index, name,
    // shape and prunable role).
    template <typename Model>
    void check(Model& model, const std::string& where = "mask_set") const {
        std::size_t next = 0;
        visit_params(model, [&](std::size_t index, const std::string& name, auto& p) {
            if (!roles_(p.role)) return;
            BPR_REQUIRE(next < entries_.size(), where, ": model parameter ", index, " (", name,
                        ") is prunable but the mask set has only ", entries_.size(), " masks");
            const auto& e = entries_[next++];
            BPR_REQUIRE(e.index == index && e.name == name, where, ": mask ", next - 1,
                        " is for parameter ", e.index, " (", e.name, "), model has ", index, " (",
                        name, ")");
            BPR_REQUIRE(e.bits.extents() == p.value.shape(), where, ": mask of ", name,
                        " has shape ", e.bits.extents().str(), ", parameter has ",
                        p.value.shape().str());
        });
        BPR_REQUIRE(next == entries_.size(), where, ": mask set has ", entries_.size(),
                    " masks but the model has ", next, " prunable parameters");
    }

  private:
    template <typename Model, typename F>
    void for_each_masked(Model& model, const char* where, F&& f) const {
        check(model, where);
        std::size_t next = 0;
        visit_params(model, [&](std::size_t, const std::string&, auto& p) {
            if (roles_(p.role)) f(entries_[next++], p);
        });
    }

    prunable_roles roles_;
    std::vector<mask_entry<G>> entries_;
};

}  // namespace bpr
