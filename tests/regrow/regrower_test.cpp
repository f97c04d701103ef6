#include "bpr/regrow/regrower.hpp"

#include <catch2/catch.hpp>
#include <vector>

#include "bpr/optim/sgd.hpp"
#include "test_model.hpp"

using namespace bpr;
using bpr::testing::regrow_probe_model;

namespace {
// Scores given by the test: a then b, row-major.
struct fixed_score {
    static constexpr std::string_view name = "fixed";
    std::vector<double> a, b;
    template <typename Model>
    void score(Model&, std::span<const std::size_t>, const regrow_context&,
               std::vector<std::vector<double>>& out) const {
        out = {a, b};
    }
};
static_assert(regrow_score<fixed_score>);

// Gives regrown weights 42, and throws on its second call (the second layer).
struct init_fails_on_second_layer {
    static constexpr std::string_view name = "fails on the second layer";
    int* calls = nullptr;
    void initialize(tensor<float>& value, std::span<const index_t> positions, const tensor<float>*,
                    rng&) const {
        BPR_REQUIRE((*calls)++ != 1, "init_fails_on_second_layer: failing on purpose");
        for (const index_t p : positions)
            value[p] = 42.0f;
    }
};
static_assert(regrow_init<init_fails_on_second_layer>);

// All weights 1..14, a: first two alive, b: first alive.
struct pruned_fixture {
    regrow_probe_model model;
    mask_set<> masks;
    dense_snapshot w0;
    detail::no_optimizer opt_none;
    pruned_fixture() {
        for (index_t i = 0; i < 6; ++i)
            model.a.value[i] = float(1 + i);
        for (index_t i = 0; i < 8; ++i)
            model.b.value[i] = float(7 + i);
        model.bias.value.fill(0.25f);
        w0.take(model);
        masks = mask_set<>::dense(model);
        masks[0].bits.set_bits(std::vector<std::uint8_t>{1, 1, 0, 0, 0, 0});
        masks[1].bits.set_bits(std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0, 0, 0});
        masks.apply(model);
    }
};
}  // namespace

TEST_CASE("top-k regrows the best dead weights, exact counts per layer", "[regrow][regrower]") {
    pruned_fixture f;
    // Alive weights score highest but are not candidates.
    regrower<fixed_score, top_k> r(fixed_score{{100, 100, 5, 1, 7, 0}, {100, 6, 0, 0, 0, 0, 8, 0}});
    const regrow_report report = r.grow(f.model, f.masks, 3, {.dense = &f.w0});
    CHECK(report.grown == 3);
    REQUIRE(report.layers.size() == 2);
    CHECK(report.layers[0].grown == 1);
    CHECK(report.layers[0].positions == std::vector<index_t>{4});
    CHECK(report.layers[1].grown == 2);
    CHECK(report.layers[1].positions == std::vector<index_t>{1, 6});
    CHECK(f.masks[0].bits.count() == 3);
    CHECK(f.masks[1].bits.count() == 3);
    CHECK(f.masks.nonzeros() == 6);
    CHECK(f.masks[0].bits.kept(4));
    CHECK(f.masks[1].bits.kept(6));
}

TEST_CASE("per-layer minimums are regrown first, the rest goes by score", "[regrow][regrower]") {
    pruned_fixture f;
    const auto scores = fixed_score{{100, 100, 5, 1, 7, 0}, {100, 6, 0, 0, 0, 0, 8, 0}};
    regrower<fixed_score, top_k> r(scores);
    // Layer a must take 3 (its best: 7, 5, 1), then the best remaining one is b's 8.
    const std::vector<index_t> minimum{3, 0};
    const regrow_report report = r.grow(f.model, f.masks, 4, {.dense = &f.w0}, f.opt_none,
                                        std::span<const index_t>(minimum));
    REQUIRE(report.layers.size() == 2);
    CHECK(report.layers[0].positions == std::vector<index_t>{2, 3, 4});
    CHECK(report.layers[1].positions == std::vector<index_t>{6});

    pruned_fixture g;
    const std::vector<index_t> too_many{5, 0};  // a has 4 dead weights
    CHECK_THROWS_WITH(r.grow(g.model, g.masks, 5, {.dense = &g.w0}, g.opt_none,
                             std::span<const index_t>(too_many)),
                      Catch::Contains("at least 5") && Catch::Contains("can take 4"));
    const std::vector<index_t> above_count{2, 2};
    CHECK_THROWS_WITH(r.grow(g.model, g.masks, 3, {.dense = &g.w0}, g.opt_none,
                             std::span<const index_t>(above_count)),
                      Catch::Contains("at least 4") && Catch::Contains("the 3 asked for"));
    CHECK(g.masks.nonzeros() == 3);
}

TEST_CASE("a regrowth that throws leaves the masks and weights as they were",
          "[regrow][regrower]") {
    pruned_fixture f;
    int calls = 0;
    regrower<fixed_score, top_k, init_fails_on_second_layer> r(
        fixed_score{{100, 100, 5, 1, 7, 0}, {100, 6, 0, 0, 0, 0, 8, 0}}, {},
        init_fails_on_second_layer{&calls});
    // Layer a's weight 4 is initialised (to 42), then layer b's init throws.
    CHECK_THROWS_WITH(r.grow(f.model, f.masks, 3, {.dense = &f.w0}),
                      Catch::Contains("failing on purpose"));
    CHECK(calls == 2);
    CHECK(f.masks[0].bits.count() == 2);
    CHECK(f.masks[1].bits.count() == 1);
    CHECK_FALSE(f.masks[0].bits.kept(4));
    const float a[] = {1, 2, 0, 0, 0, 0};
    for (index_t i = 0; i < 6; ++i)
        CHECK(f.model.a.value[i] == a[i]);
    for (index_t i = 1; i < 8; ++i)
        CHECK(f.model.b.value[i] == 0.0f);
    CHECK(f.model.b.value[0] == 7.0f);
}

TEST_CASE("masks, weights and optimizer state agree after regrowth", "[regrow][regrower]") {
    pruned_fixture f;
    // Momentum state everywhere, as if a step had run on unmasked gradients.
    sgd<float> opt({.lr = 0.1, .momentum = 0.9});
    f.model.a.grad.fill(1.0f);
    f.model.bias.grad.fill(1.0f);
    f.model.b.grad.fill(1.0f);
    opt.step(f.model);
    f.w0.restore(f.model);
    f.masks.apply(f.model);

    regrower<fixed_score, top_k, init_dense> r(
        fixed_score{{0, 0, 3, 2, 1, 0}, {0, 0, 0, 0, 0, 0, 0, 9}});
    const auto report = r.grow(f.model, f.masks, 2, {.dense = &f.w0}, opt);
    CHECK(report.layers[0].positions == std::vector<index_t>{2});
    CHECK(report.layers[1].positions == std::vector<index_t>{7});
    // Regrown weights have their pre-pruning value; pruned ones are still zero.
    CHECK(f.model.a.value[2] == 3.0f);
    CHECK(f.model.b.value[7] == 14.0f);
    CHECK(f.model.a.value[3] == 0.0f);
    CHECK(f.model.b.value[1] == 0.0f);
    CHECK(f.model.a.value[0] == 1.0f);
    CHECK(f.model.bias.value[0] == 0.25f);
    for (const auto& e : f.masks) {
        const auto* p = e.index == 0 ? &f.model.a.value : &f.model.b.value;
        for (index_t i = 0; i < e.bits.size(); ++i)
            if (!e.bits.kept(i)) CHECK((*p)[i] == 0.0f);
    }
    // Their momentum is reset; everything else keeps its state.
    std::vector<float> momentum_a, momentum_b;
    opt.for_each_state(
        0, [&](std::string_view, tensor<float>& t) { momentum_a.assign(t.begin(), t.end()); });
    opt.for_each_state(
        2, [&](std::string_view, tensor<float>& t) { momentum_b.assign(t.begin(), t.end()); });
    CHECK(momentum_a[2] == 0.0f);
    CHECK(momentum_a[3] == 1.0f);
    CHECK(momentum_b[7] == 0.0f);
    CHECK(momentum_b[6] == 1.0f);
}

TEST_CASE("regrowth inits: zero and scaled random", "[regrow][regrower]") {
    pruned_fixture f;
    fixed_score s{{0, 0, 3, 2, 1, 0}, {0, 0, 0, 0, 0, 0, 0, 9}};
    regrower<fixed_score, top_k, init_zero> zero(s);
    zero.grow(f.model, f.masks, 2, {});
    CHECK(f.masks.nonzeros() == 5);
    CHECK(f.model.a.value[2] == 0.0f);
    CHECK(f.model.b.value[7] == 0.0f);

    pruned_fixture g;
    regrower<fixed_score, top_k, init_kaiming> random(s);
    random.grow(g.model, g.masks, 2, {.seed = 5});
    CHECK(g.model.a.value[2] != 0.0f);
    CHECK(g.model.b.value[7] != 0.0f);
    pruned_fixture h;
    random.grow(h.model, h.masks, 2, {.seed = 5});
    CHECK(h.model.a.value[2] == g.model.a.value[2]);
}

TEST_CASE("proportional and capped allocations and guards give exact per-layer counts",
          "[regrow][regrower]") {
    fixed_score s{{0, 0, 9, 9, 9, 9}, {0, 1, 1, 1, 1, 1, 1, 1}};
    {
        pruned_fixture f;  // a: 4 dead of 6, b: 7 dead of 8
        regrower<fixed_score, proportional> r(s);
        const auto report = r.grow(f.model, f.masks, 7, {});
        CHECK(report.layers[0].grown + report.layers[1].grown == 7);
        CHECK(report.layers[0].grown == 3);  // 7 * 6 / 14 = 3
        CHECK(report.layers[1].grown == 4);
    }
    {
        pruned_fixture f;
        regrower<fixed_score, capped_top_k> r(s, capped_top_k{.max_share = 0.5});
        const auto report = r.grow(f.model, f.masks, 4, {});
        CHECK(report.layers[0].grown == 2);
        CHECK(report.layers[1].grown == 2);
    }
    {
        pruned_fixture f;  // max_density 0.5: a may reach 3 of 6 (has 2), b 4 of 8 (has 1)
        regrower<fixed_score, top_k> r(s, {}, {}, regrow_guards{.max_density = 0.5});
        const auto report = r.grow(f.model, f.masks, 4, {});
        CHECK(report.layers[0].grown == 1);
        CHECK(report.layers[1].grown == 3);
        CHECK_THROWS_WITH(r.grow(f.model, f.masks, 1, {}),
                          Catch::Contains("can take only 0") && Catch::Contains("max_density"));
    }
    {
        pruned_fixture f;
        regrower<fixed_score, top_k> r(s);
        CHECK_THROWS_WITH(r.grow(f.model, f.masks, 12, {}),
                          Catch::Contains("regrow 12") && Catch::Contains("11 are dead"));
        CHECK(r.grow(f.model, f.masks, 0, {}).grown == 0);
    }
}

TEST_CASE("channel granularity regrows whole dead rows", "[regrow][regrower]") {
    regrow_probe_model m;
    m.b.value.fill(1.0f);
    auto masks = mask_set<channel>::dense(m);
    masks[1].bits.set_bits(std::vector<std::uint8_t>{1, 1, 0, 0, 0, 0, 1, 1});
    masks[0].bits.set_bits(std::vector<std::uint8_t>{1, 1, 1, 0, 0, 0});
    regrower<fixed_score, top_k, init_zero, channel> r(
        fixed_score{{0, 0, 0, 0, 0, 0}, {0, 0, 1, 1, 5, 5, 0, 0}});
    const auto report = r.grow(m, masks, 2, {});
    CHECK(report.layers[1].positions == std::vector<index_t>{4, 5});
    CHECK(masks.nonzeros() == 9);
}
