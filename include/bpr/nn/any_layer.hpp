#pragma once
// bpr::any_layer: a layer (usually a whole model) whose type is erased behind one
// virtual call per forward and backward, for programs that pick the model at run time.

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

namespace detail {

// A non-owning reference to a callable, so that a template visitor crosses a virtual
// call without an allocation. Valid only while the callable lives (one visit).
template <typename Signature>
class function_ref;

template <typename R, typename... Args>
class function_ref<R(Args...)> {
  public:
    template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, function_ref>)
        function_ref(F& f)  // NOLINT(google-explicit-constructor): a parameter-passing type
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* object, Args... args) -> R {
              return (*static_cast<F*>(object))(std::forward<Args>(args)...);
          }) {}

    R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

  private:
    void* object_;
    R (*call_)(void*, Args...);
};

}  // namespace detail

// What it represents: any layer L with value_type T, held by value. It satisfies the
// layer contract itself and forwards the parameter, buffer and random-stream visitors
// (same names, same order, so checkpoints and masks are interchangeable with L's) and
// set_sparse_density. Copies are deep, as copies of L are.
// Why: with_model hands each of the zoo's types to a program's generic code, which is
// then compiled once per model type: the trainer, 36 pruners, the pipeline. Wrapped
// here, that code is compiled once for any_layer, and each model's own forward and
// backward once, in the one place that constructs the wrapper (the example programs
// build theirs in examples/zoo.cpp).
// Costs one indirect call per forward or backward of the whole model.
// Limits: code that walks a model's structure by type (infer::compile, visit_layers
// looking for conv2d) sees one opaque layer; give it the concrete model (target<L>()).
template <typename T>
class any_layer {
  public:
    using value_type = T;
    using param_visitor = detail::function_ref<void(const std::string&, param<T>&)>;
    using buffer_visitor = detail::function_ref<void(const std::string&, tensor<T>&)>;
    using generator_visitor = detail::function_ref<void(const std::string&, rng&)>;

    template <typename L>
    requires(!std::is_same_v<std::remove_cvref_t<L>, any_layer> && layer<std::remove_cvref_t<L>> &&
             std::is_same_v<typename std::remove_cvref_t<L>::value_type,
                            T>) explicit any_layer(L&& wrapped)
        : self_(std::make_unique<holder<std::remove_cvref_t<L>>>(std::forward<L>(wrapped))) {}

    any_layer(const any_layer& other) : self_(other.checked().clone()) {}
    any_layer(any_layer&&) noexcept = default;
    any_layer& operator=(const any_layer& other) {
        if (this != &other) self_ = other.checked().clone();
        return *this;
    }
    any_layer& operator=(any_layer&&) noexcept = default;
    ~any_layer() = default;

    shape output_shape(const shape& in) const { return checked().output_shape(in); }
    void forward(const tensor<T>& in, tensor<T>& out, mode m) { checked().forward(in, out, m); }
    void backward(const tensor<T>& in, const tensor<T>& out, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        checked().backward(in, out, grad_out, grad_in);
    }

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        checked().visit_params(prefix, param_visitor(f));
    }
    template <typename F>
    void for_each_buffer(std::string_view prefix, F&& f) {
        checked().visit_buffers(prefix, buffer_visitor(f));
    }
    template <typename F>
    void for_each_generator(std::string_view prefix, F&& f) {
        checked().visit_generators(prefix, generator_visitor(f));
    }

    // Sets the sparse-kernel density of every conv2d inside (see conv2d::set_sparse_density).
    void set_sparse_density(double density) { checked().set_sparse_density(density); }

    // The held layer if it is an L, else nullptr (as std::any_cast): for code that needs
    // the concrete type back, e.g. to compile an inference engine from it.
    template <layer L>
    requires std::is_same_v<typename L::value_type, T> L* target() noexcept {
        auto* held = dynamic_cast<holder<L>*>(self_.get());
        return held != nullptr ? &held->wrapped : nullptr;
    }

  private:
    struct concept_base {
        virtual ~concept_base() = default;
        virtual std::unique_ptr<concept_base> clone() const = 0;
        virtual shape output_shape(const shape& in) const = 0;
        virtual void forward(const tensor<T>& in, tensor<T>& out, mode m) = 0;
        virtual void backward(const tensor<T>& in, const tensor<T>& out, const tensor<T>& grad_out,
                              tensor<T>& grad_in) = 0;
        virtual void visit_params(std::string_view prefix, param_visitor f) = 0;
        virtual void visit_buffers(std::string_view prefix, buffer_visitor f) = 0;
        virtual void visit_generators(std::string_view prefix, generator_visitor f) = 0;
        virtual void set_sparse_density(double density) = 0;
    };

    template <typename L>
    struct holder final : concept_base {
        L wrapped;
        explicit holder(L&& l) : wrapped(std::move(l)) {}
        explicit holder(const L& l) : wrapped(l) {}

        std::unique_ptr<concept_base> clone() const override {
            return std::make_unique<holder>(wrapped);
        }
        shape output_shape(const shape& in) const override { return wrapped.output_shape(in); }
        void forward(const tensor<T>& in, tensor<T>& out, mode m) override {
            wrapped.forward(in, out, m);
        }
        void backward(const tensor<T>& in, const tensor<T>& out, const tensor<T>& grad_out,
                      tensor<T>& grad_in) override {
            wrapped.backward(in, out, grad_out, grad_in);
        }
        void visit_params(std::string_view prefix, param_visitor f) override {
            detail::for_each_param_of(wrapped, prefix,
                                      [&](const std::string& name, param<T>& p) { f(name, p); });
        }
        void visit_buffers(std::string_view prefix, buffer_visitor f) override {
            detail::for_each_buffer_of(wrapped, prefix,
                                       [&](const std::string& name, tensor<T>& t) { f(name, t); });
        }
        void visit_generators(std::string_view prefix, generator_visitor f) override {
            detail::for_each_generator_of(wrapped, prefix,
                                          [&](const std::string& name, rng& r) { f(name, r); });
        }
        void set_sparse_density(double density) override {
            bpr::set_sparse_density(wrapped, density);
        }
    };

    // A moved-from any_layer holds nothing; using it is a bug worth a clear message.
    concept_base& checked() const {
        BPR_REQUIRE(self_ != nullptr, "any_layer: used after being moved from");
        return *self_;
    }

    std::unique_ptr<concept_base> self_;
};

}  // namespace bpr
