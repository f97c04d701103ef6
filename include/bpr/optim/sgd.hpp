#pragma once
// bpr::sgd: stochastic gradient descent with momentum, Nesterov and weight decay.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/optim/optimizer.hpp"

namespace bpr {

// Hyper-parameters of bpr::sgd (PyTorch's names and defaults, dampening fixed at 0).
struct sgd_options {
    double lr = 0.1;
    double momentum = 0.0;
    bool nesterov = false;
    double weight_decay = 0.0;
    decay_scope decay = decay_scope::all;
};

// What it represents: torch.optim.SGD with dampening 0:
//   g = grad + wd * w;  buf = momentum * buf + g;  w -= lr * (nesterov ? g + momentum * buf : buf)
// (without momentum: w -= lr * g). Requires: lr >= 0, momentum >= 0, weight_decay >= 0,
// nesterov only with momentum > 0. Guarantees: one momentum buffer per parameter slot
// (none without momentum), zero-initialised, which is exactly PyTorch's first step
// buf = g; elementwise updates, so the result does not depend on the thread count.
template <typename T = float>
class sgd {
  public:
    using value_type = T;
    static constexpr std::string_view kind = "sgd";

    explicit sgd(sgd_options options = {}) : options_(options) {
        BPR_REQUIRE(options.lr >= 0, "sgd: lr must be >= 0, got ", options.lr);
        BPR_REQUIRE(options.momentum >= 0, "sgd: momentum must be >= 0, got ", options.momentum);
        BPR_REQUIRE(options.weight_decay >= 0, "sgd: weight_decay must be >= 0, got ",
                    options.weight_decay);
        BPR_REQUIRE(!options.nesterov || options.momentum > 0,
                    "sgd: nesterov needs momentum > 0, got momentum ", options.momentum);
    }

    const sgd_options& options() const { return options_; }
    double lr() const { return options_.lr; }
    void set_lr(double lr) {
        BPR_REQUIRE(lr >= 0, "sgd: lr must be >= 0, got ", lr);
        options_.lr = lr;
    }

    template <typename Model>
    void step(Model& model, double lr) {
        set_lr(lr);
        step(model);
    }

    template <typename Model>
    void step(Model& model) {
        const T lr = static_cast<T>(options_.lr);
        const T momentum = static_cast<T>(options_.momentum);
        std::size_t visited = 0;
        visit_params(model, [&](std::size_t index, const std::string& name, param<T>& p) {
            slot& s = slot_for(index, name, p);
            const T wd = detail::decays(options_.decay, p.role)
                             ? static_cast<T>(options_.weight_decay)
                             : T(0);
            T* w = p.value.data();
            const T* g = p.grad.data();
            const index_t n = p.value.size();
            if (options_.momentum == 0) {
                for (index_t i = 0; i < n; ++i)
                    w[i] -= lr * (g[i] + wd * w[i]);
            } else {
                T* buf = s.momentum_buffer.data();
                for (index_t i = 0; i < n; ++i) {
                    const T d = g[i] + wd * w[i];
                    buf[i] = momentum * buf[i] + d;
                    w[i] -= lr * (options_.nesterov ? d + momentum * buf[i] : buf[i]);
                }
            }
            ++visited;
        });
        slots_.require_count("sgd::step", visited);
    }

    // Creates the (zero) state of every parameter slot now instead of on the first step.
    template <typename Model>
    void init_state(Model& model) {
        std::size_t visited = 0;
        visit_params(model, [&](std::size_t index, const std::string& name, param<T>& p) {
            slot_for(index, name, p);
            ++visited;
        });
        slots_.require_count("sgd::init_state", visited);
    }

    std::size_t slot_count() const { return slots_.size(); }
    const std::string& slot_name(std::size_t index) const {
        return slots_.checked("sgd::slot_name", index).name;
    }

    // Calls f(field, tensor<T>&) for each state tensor of one slot ("momentum_buffer").
    template <typename F>
    void for_each_state(std::size_t index, F&& f) {
        slot& s = slots_.checked("sgd::for_each_state", index);
        if (options_.momentum > 0) f(std::string_view{"momentum_buffer"}, s.momentum_buffer);
    }

    // Zeros the state of a slot entirely, or only at the given flat positions.
    void reset_state(std::size_t index) {
        for_each_state(index, [](std::string_view, tensor<T>& t) { t.zero(); });
    }
    void reset_state(std::size_t index, std::span<const index_t> positions) {
        const std::string& name = slots_.checked("sgd::reset_state", index).name;
        for_each_state(index, [&](std::string_view, tensor<T>& t) {
            detail::zero_positions("sgd::reset_state", name, t, positions);
        });
    }

    // Calls f("<param name>.<field>", tensor<T>&) for all state, for checkpoints.
    template <typename F>
    void visit_state(F&& f) {
        for (std::size_t index = 0; index < slots_.size(); ++index)
            for_each_state(index, [&](std::string_view field, tensor<T>& t) {
                f(slots_[index].name + "." + std::string(field), t);
            });
    }

  private:
    struct slot {
        std::string name;
        shape extents;
        tensor<T> momentum_buffer;
    };

    template <typename Param>
    slot& slot_for(std::size_t index, const std::string& name, Param& p) {
        return slots_.at("sgd", index, name, p, [&] {
            slot s;
            if (options_.momentum > 0) s.momentum_buffer = tensor<T>(p.value.shape());
            return s;
        });
    }

    sgd_options options_;
    detail::slot_table<slot> slots_;
};

}  // namespace bpr
