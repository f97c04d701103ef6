#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/optim/adamw.hpp"

#include "toy_model.hpp"

namespace {

using bpr_test::set;
using bpr_test::toy_model;

}  // namespace

static_assert(bpr::optimizer<bpr::adamw<float>>);

TEST_CASE("adamw first step by hand", "[optim][adamw]") {
    // After one step m_hat = g and v_hat = g^2, so the update is lr * g / (|g| + eps)
    // = lr * sign(g), after the decoupled decay w *= 1 - lr * wd.
    toy_model model;
    set(model.weight.value, {1.0f, -1.0f, 2.0f, 0.0f});
    set(model.weight.grad, {0.5f, -3.0f, 0.0f, 1e-3f});
    bpr::adamw<float> opt({.lr = 0.1, .weight_decay = 0.5});
    opt.step(model);
    CHECK(model.weight.value[0] == Approx(0.95f - 0.1f).epsilon(1e-6));
    CHECK(model.weight.value[1] == Approx(-0.95f + 0.1f).epsilon(1e-6));
    CHECK(model.weight.value[2] == Approx(1.9f));  // zero gradient: decay only
    CHECK(model.weight.value[3] == Approx(-0.1f * 1e-3 / (1e-3 + 1e-8)).epsilon(1e-5));
    CHECK(opt.step_count(0) == 1);
}

TEST_CASE("adamw matches torch.optim.AdamW over three steps", "[optim][adamw]") {
    // Reference: /usr/bin/python3 with torch 1.13: p = [0.5, -1.25, 2, 0],
    // torch.optim.AdamW([p], lr=0.01, weight_decay=0.1), then three rounds of
    // p.grad = g; opt.step() with the gradients below.
    const std::vector<std::vector<float>> grads = {
        {0.1f, -0.2f, 0.3f, -0.4f}, {0.05f, 0.5f, -0.25f, 1.0f}, {-0.3f, 0.1f, 0.2f, 0.0f}};
    const std::vector<float> expected = {0.482681274f, -1.24521935f, 1.98046923f, 0.00214394415f};
    toy_model model;
    set(model.weight.value, {0.5f, -1.25f, 2.0f, 0.0f});
    bpr::adamw<float> opt({.lr = 0.01, .weight_decay = 0.1});
    for (const auto& g : grads) {
        set(model.weight.grad, g);
        opt.step(model);
    }
    for (int i = 0; i < 4; ++i)
        CHECK(model.weight.value[i] == Approx(expected[i]).epsilon(1e-6).margin(1e-7));
    CHECK(opt.step_count(0) == 3);
}

TEST_CASE("adamw exposes and resets its moments", "[optim][adamw]") {
    toy_model model;
    set(model.weight.grad, {1.0f, 2.0f, 3.0f, 4.0f});
    bpr::adamw<float> opt;
    opt.step(model);
    const std::vector<bpr::index_t> positions = {0, 2};
    opt.reset_state(0, positions);
    std::vector<std::string> fields;
    opt.for_each_state(0, [&](std::string_view field, bpr::tensor<float>& t) {
        fields.emplace_back(field);
        CHECK(t[0] == 0.0f);
        CHECK(t[1] != 0.0f);
        CHECK(t[2] == 0.0f);
        CHECK(t[3] != 0.0f);
    });
    CHECK(fields == std::vector<std::string>{"exp_avg", "exp_avg_sq"});
    CHECK(opt.step_count(0) == 1);
    opt.reset_state(0);
    CHECK(opt.step_count(0) == 0);

    std::vector<std::string> names;
    opt.visit_state([&](const std::string& name, auto&) { names.push_back(name); });
    CHECK(names == std::vector<std::string>{"weight.exp_avg", "weight.exp_avg_sq", "weight.step",
                                            "bias.exp_avg", "bias.exp_avg_sq", "bias.step"});
}

TEST_CASE("adamw weights_only leaves bias undecayed", "[optim][adamw]") {
    toy_model model;
    set(model.bias.value, {1.0f, 1.0f});
    bpr::adamw<float> opt(
        {.lr = 0.1, .weight_decay = 0.5, .decay = bpr::decay_scope::weights_only});
    opt.step(model);  // zero gradients: only decay could move anything
    CHECK(model.bias.value[0] == 1.0f);
}

TEST_CASE("adamw rejects invalid hyper-parameters", "[optim][adamw]") {
    CHECK_THROWS_WITH(bpr::adamw<float>({.beta1 = 1.0}), Catch::Contains("beta1"));
    CHECK_THROWS_WITH(bpr::adamw<float>({.eps = 0}), Catch::Contains("eps"));
}
