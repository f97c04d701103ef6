#pragma once
// bpr::optimizer: the optimizer concept and the per-parameter-slot state they share.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// Which parameters receive weight decay. PyTorch decays every parameter unless it is
// put into a separate group; `weights_only` is the common "no decay on bias and
// batchnorm" recipe.
enum class decay_scope { all, weights_only };

namespace detail {

// A stand-in model with one parameter, used only to state the optimizer concept.
template <typename T>
struct optimizer_probe_model {
    param<T> weight;
    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(join_name(prefix, "weight"), weight);
    }
};

inline bool decays(decay_scope scope, param_role role) {
    return scope == decay_scope::all || role == param_role::weight;
}

// What it represents: an optimizer's state for every parameter slot, keyed by the
// stable index of bpr::visit_params, created lazily on the first step.
// Requires: Slot has members `std::string name` and `shape extents` (the parameter's).
// Guarantees: a model whose parameter count, names or shapes differ from the ones the
// state was created for is rejected with a bpr::error naming the slot, the parameter
// and both shapes; the state is never silently reused for another parameter.
template <typename Slot>
class slot_table {
  public:
    template <typename T, typename Make>
    Slot& at(const char* where, std::size_t index, const std::string& name, const param<T>& p,
             Make&& make) {
        BPR_REQUIRE(p.grad.shape() == p.value.shape(), where, ": parameter ", index, " (", name,
                    ") has grad shape ", p.grad.shape().str(), " but value shape ",
                    p.value.shape().str());
        if (index == slots_.size()) {
            slots_.push_back(make());
            slots_.back().name = name;
            slots_.back().extents = p.value.shape();
        }
        BPR_REQUIRE(index < slots_.size(), where, ": parameter index ", index,
                    " skips past the state table of size ", slots_.size());
        Slot& slot = slots_[index];
        BPR_REQUIRE(slot.extents == p.value.shape(), where, ": state of slot ", index, " ('",
                    slot.name, "') has shape ", slot.extents.str(), " but parameter '", name,
                    "' has shape ", p.value.shape().str());
        return slot;
    }

    // Called after a full pass over the model: a model with fewer parameters than the
    // state is another model.
    void require_count(const char* where, std::size_t visited) const {
        BPR_REQUIRE(visited == slots_.size(), where, ": model has ", visited,
                    " parameters but the optimizer state has ", slots_.size(),
                    " slots (state created for another model?)");
    }

    std::size_t size() const { return slots_.size(); }
    Slot& operator[](std::size_t index) { return slots_[index]; }
    const Slot& operator[](std::size_t index) const { return slots_[index]; }
    Slot& checked(const char* where, std::size_t index) {
        BPR_REQUIRE(index < slots_.size(), where, ": slot index ", index,
                    " out of range (state has ", slots_.size(), " slots)");
        return slots_[index];
    }
    const Slot& checked(const char* where, std::size_t index) const {
        BPR_REQUIRE(index < slots_.size(), where, ": slot index ", index,
                    " out of range (state has ", slots_.size(), " slots)");
        return slots_[index];
    }
    void clear() { slots_.clear(); }

  private:
    std::vector<Slot> slots_;
};

// Zeros `positions` (flat indices) of a state tensor, checking each against its size.
template <typename T>
void zero_positions(const char* where, const std::string& slot_name, tensor<T>& t,
                    std::span<const index_t> positions) {
    for (const index_t position : positions) {
        BPR_REQUIRE(position >= 0 && position < t.size(), where, ": position ", position,
                    " is outside slot '", slot_name, "' of shape ", t.shape().str());
        t[position] = T(0);
    }
}

}  // namespace detail

// What it represents: an algorithm updating every parameter of a model from its grad.
// Requires: step(model) applies one update at lr(); step(model, lr) sets lr first;
// init_state(model) creates all per-slot state eagerly (zeros), e.g. before a
// checkpoint is loaded into it; reset_state(index[, positions]) zeros state (for
// pruned or regrown weights); visit_state(f) calls f(name, tensor<T>& or
// std::int64_t&) for every piece of state, for checkpoints.
template <typename O>
concept optimizer = requires(O& o, const O& co,
                             detail::optimizer_probe_model<typename O::value_type>& m, double lr,
                             std::size_t index, std::span<const index_t> positions) {
    typename O::value_type;
    { co.lr() } -> std::convertible_to<double>;
    o.set_lr(lr);
    o.step(m);
    o.step(m, lr);
    o.init_state(m);
    { co.slot_count() } -> std::convertible_to<std::size_t>;
    o.reset_state(index);
    o.reset_state(index, positions);
};

}  // namespace bpr
