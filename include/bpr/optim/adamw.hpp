#pragma once
// bpr::adamw: Adam with decoupled weight decay (Loshchilov & Hutter).

#include <cmath>
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

// Hyper-parameters of bpr::adamw (PyTorch's names and defaults; no amsgrad).
struct adamw_options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 1e-2;
    decay_scope decay = decay_scope::all;
};

// What it represents: torch.optim.AdamW: per slot, t += 1; w *= 1 - lr * wd;
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
// Requires: lr >= 0, 0 <= beta < 1, eps > 0, weight_decay >= 0.
// Guarantees: exp_avg, exp_avg_sq and the step count t are kept per parameter slot;
// resetting positions zeros both moments there (t is per slot, as in PyTorch).
template <typename T = float>
class adamw {
  public:
    using value_type = T;
    static constexpr std::string_view kind = "adamw";

    explicit adamw(adamw_options options = {}) : options_(options) {
        BPR_REQUIRE(options.lr >= 0, "adamw: lr must be >= 0, got ", options.lr);
        BPR_REQUIRE(options.beta1 >= 0 && options.beta1 < 1, "adamw: beta1 must be in [0, 1), got ",
                    options.beta1);
        BPR_REQUIRE(options.beta2 >= 0 && options.beta2 < 1, "adamw: beta2 must be in [0, 1), got ",
                    options.beta2);
        BPR_REQUIRE(options.eps > 0, "adamw: eps must be > 0, got ", options.eps);
        BPR_REQUIRE(options.weight_decay >= 0, "adamw: weight_decay must be >= 0, got ",
                    options.weight_decay);
    }

    const adamw_options& options() const { return options_; }
    double lr() const { return options_.lr; }
    void set_lr(double lr) {
        BPR_REQUIRE(lr >= 0, "adamw: lr must be >= 0, got ", lr);
        options_.lr = lr;
    }

    template <typename Model>
    void step(Model& model, double lr) {
        set_lr(lr);
        step(model);
    }

    template <typename Model>
    void step(Model& model) {
        const double lr = options_.lr;
        const T beta1 = static_cast<T>(options_.beta1);
        const T beta2 = static_cast<T>(options_.beta2);
        const T eps = static_cast<T>(options_.eps);
        std::size_t visited = 0;
        visit_params(model, [&](std::size_t index, const std::string& name, param<T>& p) {
            slot& s = slot_for(index, name, p);
            s.step += 1;
            const double t = static_cast<double>(s.step);
            // Scalars in double, as PyTorch computes them in Python floats.
            const double bias_correction1 = 1.0 - std::pow(options_.beta1, t);
            const double bias_correction2 = 1.0 - std::pow(options_.beta2, t);
            const T step_size = static_cast<T>(lr / bias_correction1);
            const T sqrt_bc2 = static_cast<T>(std::sqrt(bias_correction2));
            const T decay = detail::decays(options_.decay, p.role)
                                ? static_cast<T>(1.0 - lr * options_.weight_decay)
                                : T(1);
            T* w = p.value.data();
            const T* g = p.grad.data();
            T* m = s.exp_avg.data();
            T* v = s.exp_avg_sq.data();
            const index_t n = p.value.size();
            for (index_t i = 0; i < n; ++i) {
                w[i] *= decay;
                m[i] = beta1 * m[i] + (T(1) - beta1) * g[i];
                v[i] = beta2 * v[i] + (T(1) - beta2) * g[i] * g[i];
                w[i] -= step_size * m[i] / (std::sqrt(v[i]) / sqrt_bc2 + eps);
            }
            ++visited;
        });
        slots_.require_count("adamw::step", visited);
    }

    // Creates the (zero) state of every parameter slot now instead of on the first step.
    template <typename Model>
    void init_state(Model& model) {
        std::size_t visited = 0;
        visit_params(model, [&](std::size_t index, const std::string& name, param<T>& p) {
            slot_for(index, name, p);
            ++visited;
        });
        slots_.require_count("adamw::init_state", visited);
    }

    std::size_t slot_count() const { return slots_.size(); }
    const std::string& slot_name(std::size_t index) const {
        return slots_.checked("adamw::slot_name", index).name;
    }
    // Number of updates slot `index` has received (PyTorch's state["step"]).
    std::int64_t step_count(std::size_t index) const {
        return slots_.checked("adamw::step_count", index).step;
    }

    // Calls f(field, tensor<T>&) for "exp_avg" and "exp_avg_sq" of one slot.
    template <typename F>
    void for_each_state(std::size_t index, F&& f) {
        slot& s = slots_.checked("adamw::for_each_state", index);
        f(std::string_view{"exp_avg"}, s.exp_avg);
        f(std::string_view{"exp_avg_sq"}, s.exp_avg_sq);
    }

    // Zeros both moments of a slot entirely (and its step count), or only at the given
    // flat positions (the step count stays: it is shared by the whole tensor).
    void reset_state(std::size_t index) {
        for_each_state(index, [](std::string_view, tensor<T>& t) { t.zero(); });
        slots_[index].step = 0;
    }
    void reset_state(std::size_t index, std::span<const index_t> positions) {
        const std::string& name = slots_.checked("adamw::reset_state", index).name;
        for_each_state(index, [&](std::string_view, tensor<T>& t) {
            detail::zero_positions("adamw::reset_state", name, t, positions);
        });
    }

    // Calls f("<param name>.<field>", tensor<T>& or std::int64_t&) for all state.
    template <typename F>
    void visit_state(F&& f) {
        for (std::size_t index = 0; index < slots_.size(); ++index) {
            for_each_state(index, [&](std::string_view field, tensor<T>& t) {
                f(slots_[index].name + "." + std::string(field), t);
            });
            f(slots_[index].name + ".step", slots_[index].step);
        }
    }

  private:
    struct slot {
        std::string name;
        shape extents;
        tensor<T> exp_avg;
        tensor<T> exp_avg_sq;
        std::int64_t step = 0;
    };

    template <typename Param>
    slot& slot_for(std::size_t index, const std::string& name, Param& p) {
        return slots_.at("adamw", index, name, p, [&] {
            slot s;
            s.exp_avg = tensor<T>(p.value.shape());
            s.exp_avg_sq = tensor<T>(p.value.shape());
            return s;
        });
    }

    adamw_options options_;
    detail::slot_table<slot> slots_;
};

}  // namespace bpr
