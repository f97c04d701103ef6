#include "bpr/sparse/mask.hpp"

#include <catch2/catch.hpp>

#include "bpr/optim/adamw.hpp"
#include "bpr/optim/sgd.hpp"
#include "tiny_model.hpp"

using namespace bpr;

namespace {

// One training step of MSE regression on a fixed random batch, with the mask hooks.
template <typename Model, typename Optimizer, typename G>
void train_step(Model& model, Optimizer& opt, const mask_set<G>* masks, rng& generator) {
    tensor<float> x({8, 6}), y, grad_in, grad_out;
    for (auto& v : x)
        v = static_cast<float>(generator.normal());
    model.forward(x, y, mode::train);
    grad_out.resize(y.shape());
    for (index_t i = 0; i < y.size(); ++i)
        grad_out[i] = y[i] - static_cast<float>(i % 3);  // d/dy of 0.5 (y - t)^2
    model.backward(x, y, grad_out, grad_in);
    if (masks) masks->mask_grads(model);
    opt.step(model);
}

// A random unstructured mask pattern at ~70% sparsity.
template <typename Model>
mask_set<> random_masks(Model& model, std::uint64_t seed) {
    auto masks = mask_set<>::dense(model);
    rng generator(seed);
    for (auto& e : masks) {
        std::vector<std::uint8_t> bits(static_cast<std::size_t>(e.bits.size()));
        for (auto& b : bits)
            b = generator.uniform() < 0.3;
        e.bits.set_bits(bits);
    }
    return masks;
}

template <typename Model, typename Optimizer>
void require_masked_zero(Model& model, Optimizer& opt, const mask_set<>& masks) {
    visit_params(model, [&](std::size_t index, const std::string& name, param<float>& p) {
        const auto* e = masks.find(index);
        if (!e) return;
        INFO(name);
        for (index_t i = 0; i < p.value.size(); ++i)
            if (!e->bits.kept(i)) REQUIRE(p.value[i] == 0.0f);
        opt.for_each_state(index, [&](std::string_view field, tensor<float>& t) {
            INFO(field);
            for (index_t i = 0; i < t.size(); ++i)
                if (!e->bits.kept(i)) REQUIRE(t[i] == 0.0f);
        });
    });
}

}  // namespace

TEST_CASE("mask counts, applies and validates its bits", "[sparse][mask]") {
    mask<> m(shape{2, 3});
    CHECK(m.count() == 6);
    CHECK(m.density() == 1.0);
    const std::vector<std::uint8_t> bits{1, 0, 0, 1, 1, 0};
    m.set_bits(bits);
    CHECK(m.count() == 3);
    CHECK(m.pruned_positions() == std::vector<index_t>{1, 2, 5});
    tensor<float> t(shape{2, 3}, 7.0f);
    m.apply(t);
    CHECK(std::vector<float>(t.begin(), t.end()) == std::vector<float>{7, 0, 0, 7, 7, 0});

    tensor<float> wrong(shape{3, 2});
    CHECK_THROWS_WITH(m.apply(wrong, "fc.weight"),
                      Catch::Contains("fc.weight") && Catch::Contains("[3, 2]"));
    CHECK_THROWS_WITH(m.set_bits(std::vector<std::uint8_t>(5, 1)), Catch::Contains("5 mask bits"));

    mask<channel> c(shape{2, 3});
    CHECK_THROWS_WITH(c.set_bits(bits), Catch::Contains("channel"));
    c.set_bits(std::vector<std::uint8_t>{0, 0, 0, 1, 1, 1});
    CHECK(c.count() == 3);
    mask<n_of_m<2, 4>> nm(shape{1, 4});
    CHECK_THROWS_WITH(nm.set_bits(std::vector<std::uint8_t>{1, 1, 1, 0}),
                      Catch::Contains("n_of_m"));
}

TEST_CASE("mask_set covers weights only unless asked, and checks the model", "[sparse][mask]") {
    auto net = test::make_tiny_net();
    auto masks = mask_set<>::dense(net);
    REQUIRE(masks.size() == 3);
    CHECK(masks[0].name == "conv1.weight");
    CHECK(masks[1].name == "conv2.weight");
    CHECK(masks[2].name == "fc.weight");
    CHECK(masks[2].index == 6);
    CHECK(masks.total() == 216 + 1152 + 160);
    CHECK(masks.sparsity() == 0.0);

    auto with_bias = mask_set<>::dense(net, {.weights = true, .biases = true});
    CHECK(with_bias.size() == 4);
    auto all = mask_set<>::dense(net, {.weights = true, .biases = true, .norm = true});
    CHECK(all.size() == 8);

    auto other = test::make_tiny_mlp();
    CHECK_THROWS_WITH(masks.apply(other), Catch::Contains("mask_set::apply"));
}

TEST_CASE("masked weights and optimizer state stay exactly zero through training",
          "[sparse][mask]") {
    SECTION("sgd with momentum, nesterov and weight decay") {
        auto net = test::make_tiny_mlp(3);
        sgd<float> opt({.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-3});
        rng generator(5);
        for (int i = 0; i < 10; ++i)  // dense warm-up: momentum becomes nonzero everywhere
            train_step(net, opt, static_cast<const mask_set<>*>(nullptr), generator);
        const auto masks = random_masks(net, 11);
        masks.apply(net);
        masks.mask_state(opt);
        require_masked_zero(net, opt, masks);
        for (int i = 0; i < 300; ++i)
            train_step(net, opt, &masks, generator);
        require_masked_zero(net, opt, masks);
    }
    SECTION("adamw") {
        auto net = test::make_tiny_mlp(4);
        adamw<float> opt({.lr = 1e-2, .weight_decay = 0.1});
        rng generator(6);
        for (int i = 0; i < 10; ++i)
            train_step(net, opt, static_cast<const mask_set<>*>(nullptr), generator);
        const auto masks = random_masks(net, 12);
        masks.apply(net);
        masks.mask_state(opt);
        for (int i = 0; i < 300; ++i)
            train_step(net, opt, &masks, generator);
        require_masked_zero(net, opt, masks);
    }
    SECTION("without zeroing the state, momentum revives pruned weights") {
        // The control that shows the invariant above is not vacuous.
        auto net = test::make_tiny_mlp(3);
        sgd<float> opt({.lr = 0.05, .momentum = 0.9});
        rng generator(5);
        for (int i = 0; i < 10; ++i)
            train_step(net, opt, static_cast<const mask_set<>*>(nullptr), generator);
        const auto masks = random_masks(net, 11);
        masks.apply(net);
        train_step(net, opt, &masks, generator);
        int revived = 0;
        visit_params(net, [&](std::size_t index, const std::string&, param<float>& p) {
            if (const auto* e = masks.find(index))
                for (index_t i = 0; i < p.value.size(); ++i)
                    revived += !e->bits.kept(i) && p.value[i] != 0.0f;
        });
        CHECK(revived > 0);
    }
}
