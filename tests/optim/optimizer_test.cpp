#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "bpr/optim/adamw.hpp"
#include "bpr/optim/optimizer.hpp"
#include "bpr/optim/sgd.hpp"

namespace {

// Has lr() and step() but no state management: not an optimizer for bpr.
struct stateless_optimizer {
    using value_type = float;
    double lr() const { return 0.1; }
    void set_lr(double) {}
    template <typename Model>
    void step(Model&) {}
    template <typename Model>
    void step(Model&, double) {}
};

struct model_with_grad_mismatch {
    bpr::param<float> weight{{2, 2}, bpr::param_role::weight};
    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "w"), weight);
    }
};

}  // namespace

static_assert(bpr::optimizer<bpr::sgd<float>>);
static_assert(bpr::optimizer<bpr::adamw<double>>);
static_assert(!bpr::optimizer<stateless_optimizer>);

TEST_CASE("decay_scope decides which roles are decayed", "[optim][optimizer]") {
    using bpr::decay_scope;
    using bpr::param_role;
    CHECK(bpr::detail::decays(decay_scope::all, param_role::norm_scale));
    CHECK(bpr::detail::decays(decay_scope::weights_only, param_role::weight));
    CHECK_FALSE(bpr::detail::decays(decay_scope::weights_only, param_role::bias));
    CHECK_FALSE(bpr::detail::decays(decay_scope::weights_only, param_role::norm_shift));
}

TEST_CASE("optimizers reject a gradient whose shape differs from its parameter",
          "[optim][optimizer]") {
    model_with_grad_mismatch model;
    model.weight.grad = bpr::tensor<float>(bpr::shape{3});
    bpr::sgd<float> sgd;
    CHECK_THROWS_WITH(sgd.step(model), Catch::Contains("sgd: parameter 0 (w)") &&
                                           Catch::Contains("grad shape [3]") &&
                                           Catch::Contains("value shape [2, 2]"));
    bpr::adamw<float> adam;
    CHECK_THROWS_WITH(adam.step(model),
                      Catch::Contains("grad shape [3]") && Catch::Contains("value shape [2, 2]"));
}

TEST_CASE("init_state creates zero state for every slot", "[optim][optimizer]") {
    model_with_grad_mismatch model;
    bpr::adamw<float> adam;
    CHECK(adam.slot_count() == 0);
    adam.init_state(model);
    REQUIRE(adam.slot_count() == 1);
    CHECK(adam.slot_name(0) == "w");
    CHECK(adam.step_count(0) == 0);
    adam.for_each_state(0, [](std::string_view, bpr::tensor<float>& t) {
        CHECK(t.shape() == bpr::shape{2, 2});
        for (float v : t)
            CHECK(v == 0.0f);
    });
    CHECK_THROWS_WITH(adam.slot_name(1), Catch::Contains("slot index 1"));
}
