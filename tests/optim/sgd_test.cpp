#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/optim/sgd.hpp"

#include "toy_model.hpp"

namespace {

using bpr_test::set;
using bpr_test::toy_model;

struct one_param {
    bpr::param<float> weight{{4}, bpr::param_role::weight};
    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "weight"), weight);
    }
};

const std::vector<std::vector<float>> grads = {
    {0.1f, -0.2f, 0.3f, -0.4f}, {0.05f, 0.5f, -0.25f, 1.0f}, {-0.3f, 0.1f, 0.2f, 0.0f}};

}  // namespace

static_assert(bpr::optimizer<bpr::sgd<float>>);
static_assert(bpr::optimizer<bpr::sgd<double>>);

TEST_CASE("sgd without momentum is w -= lr * (g + wd * w)", "[optim][sgd]") {
    toy_model model;
    set(model.weight.value, {1.0f, -2.0f, 0.5f, 0.0f});
    set(model.weight.grad, {0.5f, 0.25f, -1.0f, 2.0f});
    bpr::sgd<float> opt({.lr = 0.1, .weight_decay = 0.5});
    opt.step(model);
    // 1 - 0.1 * (0.5 + 0.5) = 0.9; -2 - 0.1 * (0.25 - 1) = -1.925; 0.5 - 0.1 * (-1 + 0.25)
    CHECK(model.weight.value[0] == Approx(0.9f));
    CHECK(model.weight.value[1] == Approx(-1.925f));
    CHECK(model.weight.value[2] == Approx(0.575f));
    CHECK(model.weight.value[3] == Approx(-0.2f));
    CHECK(opt.slot_count() == 2);
}

TEST_CASE("sgd momentum by hand: buf = m * buf + g", "[optim][sgd]") {
    toy_model model;
    set(model.weight.value, {1.0f, 0.0f, 0.0f, 0.0f});
    set(model.weight.grad, {1.0f, 0.0f, 0.0f, 0.0f});
    bpr::sgd<float> opt({.lr = 0.5, .momentum = 0.5});
    opt.step(model);  // buf = 1, w = 1 - 0.5 = 0.5
    CHECK(model.weight.value[0] == Approx(0.5f));
    opt.step(model);  // buf = 0.5 + 1 = 1.5, w = 0.5 - 0.75 = -0.25
    CHECK(model.weight.value[0] == Approx(-0.25f));
    float buffer = 0;
    opt.for_each_state(0, [&](std::string_view field, bpr::tensor<float>& t) {
        CHECK(field == "momentum_buffer");
        buffer = t[0];
    });
    CHECK(buffer == Approx(1.5f));
}

TEST_CASE("sgd matches torch.optim.SGD over three steps", "[optim][sgd]") {
    // Reference: /usr/bin/python3 with torch 1.13, w0 = [0.5, -1.25, 2, 0] and the
    // gradients in `grads`, e.g. torch.optim.SGD([p], lr=0.1, momentum=0.9,
    // weight_decay=0.01); three p.grad = g; opt.step() rounds.
    struct reference {
        bpr::sgd_options options;
        std::vector<float> expected;
    };
    const std::vector<reference> cases = {
        {{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01},
         {0.490640402f, -1.29381955f, 1.9350785f, -0.0816519484f}},
        {{.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 5e-4},
         {0.50443095f, -1.29260874f, 1.96289039f, -0.0667206272f}},
    };
    for (const auto& c : cases) {
        toy_model model;
        set(model.weight.value, {0.5f, -1.25f, 2.0f, 0.0f});
        bpr::sgd<float> opt(c.options);
        for (const auto& g : grads) {
            set(model.weight.grad, g);
            opt.step(model);
        }
        for (int i = 0; i < 4; ++i)
            CHECK(model.weight.value[i] == Approx(c.expected[i]).epsilon(1e-6).margin(1e-7));
    }
}

TEST_CASE("sgd weight decay can skip bias and norm parameters", "[optim][sgd]") {
    toy_model model;
    set(model.weight.value, {1.0f, 1.0f, 1.0f, 1.0f});
    set(model.bias.value, {1.0f, 1.0f});
    bpr::sgd<float> all({.lr = 0.1, .weight_decay = 0.5});
    bpr::sgd<float> weights_only(
        {.lr = 0.1, .weight_decay = 0.5, .decay = bpr::decay_scope::weights_only});
    toy_model copy = model;
    all.step(model);
    weights_only.step(copy);
    CHECK(model.bias.value[0] == Approx(0.95f));
    CHECK(copy.bias.value[0] == 1.0f);
    CHECK(copy.weight.value[0] == Approx(0.95f));
}

TEST_CASE("sgd state can be reset at positions and whole slots", "[optim][sgd]") {
    toy_model model;
    set(model.weight.grad, {1.0f, 2.0f, 3.0f, 4.0f});
    set(model.bias.grad, {1.0f, 1.0f});
    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.9});
    opt.step(model);
    const std::vector<bpr::index_t> positions = {1, 3};
    opt.reset_state(0, positions);
    std::vector<float> buffer;
    opt.for_each_state(
        0, [&](std::string_view, bpr::tensor<float>& t) { buffer.assign(t.begin(), t.end()); });
    CHECK(buffer == std::vector<float>{1.0f, 0.0f, 3.0f, 0.0f});
    opt.reset_state(1);
    opt.for_each_state(1, [&](std::string_view, bpr::tensor<float>& t) {
        CHECK(t[0] == 0.0f);
        CHECK(t[1] == 0.0f);
    });
    const std::vector<bpr::index_t> outside = {4};
    CHECK_THROWS_WITH(opt.reset_state(0, outside), Catch::Contains("position 4") &&
                                                       Catch::Contains("weight") &&
                                                       Catch::Contains("[4]"));
    CHECK_THROWS_WITH(opt.reset_state(7), Catch::Contains("slot index 7"));
}

TEST_CASE("sgd rejects state for a different model", "[optim][sgd]") {
    toy_model model;
    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.9});
    opt.step(model);
    toy_model other;
    other.weight = bpr::param<float>({5}, bpr::param_role::weight);
    CHECK_THROWS_WITH(opt.step(other), Catch::Contains("weight") && Catch::Contains("[4]") &&
                                           Catch::Contains("[5]"));
    one_param smaller;
    CHECK_THROWS_WITH(opt.step(smaller),
                      Catch::Contains("1 parameters") && Catch::Contains("2 slots"));
}

TEST_CASE("sgd rejects invalid hyper-parameters", "[optim][sgd]") {
    CHECK_THROWS_WITH(bpr::sgd<float>({.lr = -1}), Catch::Contains("lr") && Catch::Contains("-1"));
    CHECK_THROWS_WITH(bpr::sgd<float>({.lr = 0.1, .nesterov = true}), Catch::Contains("nesterov"));
    bpr::sgd<float> opt;
    CHECK_THROWS_WITH(opt.set_lr(-0.5), Catch::Contains("-0.5"));
}
