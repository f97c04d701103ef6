#include "bpr/prune/pruner.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "../sparse/tiny_model.hpp"

using namespace bpr;

namespace {

// Alive weights per mask, in order.
template <typename G>
std::vector<index_t> counts(const mask_set<G>& masks) {
    std::vector<index_t> out;
    for (const auto& e : masks)
        out.push_back(e.bits.count());
    return out;
}

// Every pruned weight of the model is zero and every alive one is not.
template <typename Model, typename G>
void require_applied(Model& model, const mask_set<G>& masks) {
    visit_params(model, [&](std::size_t index, const std::string&, param<float>& p) {
        if (const auto* e = masks.find(index))
            for (index_t i = 0; i < p.value.size(); ++i)
                REQUIRE((p.value[i] != 0.0f) == e->bits.kept(i));
    });
}

template <typename G>
bool masks_equal(const mask_set<G>& a, const mask_set<G>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!std::ranges::equal(a[i].bits.bits(), b[i].bits.bits())) return false;
    return true;
}

}  // namespace

TEST_CASE("global magnitude keeps the globally largest weights, exactly", "[prune][pruner]") {
    auto net = test::make_tiny_net();
    std::vector<double> all;
    visit_params(net, [&](std::size_t, const std::string&, param<float>& p) {
        if (p.role == param_role::weight)
            for (float v : p.value)
                all.push_back(std::abs(double(v)));
    });
    std::sort(all.rbegin(), all.rend());
    const double threshold = all[151];  // 10% of 1528 = 152.8 -> 152 survive

    auto masks = mask_set<>::dense(net);
    pruner<> p;
    const auto result = p.run(net, masks, budget::sparsity(0.9));
    CHECK(result.budget.nonzeros == 152);
    CHECK(masks.nonzeros() == 152);
    REQUIRE(result.rounds.size() == 1);
    visit_params(net, [&](std::size_t index, const std::string&, param<float>& w) {
        if (const auto* e = masks.find(index))
            for (index_t i = 0; i < w.value.size(); ++i)
                REQUIRE(e->bits.kept(i) == (std::abs(double(w.value[i])) >= threshold));
    });
    require_applied(net, masks);
}

TEST_CASE("uniform, ERK and LAMP give their exact per-layer counts", "[prune][pruner]") {
    SECTION("uniform") {
        auto net = test::make_tiny_net();
        auto masks = mask_set<>::dense(net);
        pruner<magnitude, uniform_allocation> p;
        p.run(net, masks, budget::sparsity(0.9));
        CHECK(counts(masks) == std::vector<index_t>{21, 115, 16});  // 21.6, 115.2, 16
        require_applied(net, masks);
    }
    SECTION("erk") {
        auto net = test::make_tiny_net();
        auto masks = mask_set<>::dense(net);
        pruner<magnitude, erk_allocation> p;
        // ERK nonzeros are proportional to the sums of the extents: 8+3+3+3 = 17,
        // 16+8+3+3 = 30 and 10+16 = 26; 146 = 2 * 73.
        p.run(net, masks, budget::nonzeros(146));
        CHECK(counts(masks) == std::vector<index_t>{34, 60, 52});
        // 87 = 1.19 * 73: 20.26, 35.75, 30.99, remainder to the largest fractions.
        auto net2 = test::make_tiny_net();
        auto masks2 = mask_set<>::dense(net2);
        p.run(net2, masks2, budget::nonzeros(87));
        CHECK(counts(masks2) == std::vector<index_t>{20, 36, 31});
    }
    SECTION("lamp never empties a layer and keeps the budget") {
        auto net = test::make_tiny_net();
        auto masks = mask_set<>::dense(net);
        pruner<magnitude, lamp_allocation> p(magnitude{}, {}, {}, {.min_nonzeros = 0});
        p.run(net, masks, budget::nonzeros(3));
        CHECK(counts(masks) == std::vector<index_t>{1, 1, 1});  // each layer's best scores 1
    }
}

TEST_CASE("guards keep layers dense and floors hold", "[prune][pruner]") {
    auto net = test::make_tiny_net();
    auto masks = mask_set<>::dense(net);
    pruner<> p(magnitude{}, {}, {},
               {.min_density = 0.02, .keep_first_dense = true, .keep_last_dense = false});
    p.run(net, masks, budget::sparsity(0.8));
    const auto c = counts(masks);
    CHECK(c[0] == 216);
    CHECK(c[1] >= 24);  // ceil(0.02 * 1152)
    CHECK(c[2] >= 4);
    CHECK(masks.nonzeros() == 305);  // floor(0.2 * 1528)

    auto fresh = test::make_tiny_net();
    auto fresh_masks = mask_set<>::dense(fresh);
    CHECK_THROWS_WITH(p.run(fresh, fresh_masks, budget::sparsity(0.99)),
                      Catch::Contains("keeps 15") && Catch::Contains("at least 244"));
    CHECK(fresh_masks.nonzeros() == 1528);  // a refused budget prunes nothing
}

TEST_CASE("structured granularities keep whole units", "[prune][pruner]") {
    SECTION("channel") {
        auto net = test::make_tiny_net();
        auto masks = mask_set<channel>::dense(net);
        pruner<magnitude, global_allocation, one_shot, channel> p;
        p.run(net, masks, budget::sparsity(0.75));
        CHECK(masks.nonzeros() <= 382);
        CHECK(masks.nonzeros() > 382 - 72);  // within one conv2 filter of the budget
        for (const auto& e : masks)
            CHECK(channel::valid(e.bits.matrix(), e.bits.bits()));
        require_applied(net, masks);
    }
    SECTION("block 2x2") {
        auto net = test::make_tiny_net();
        auto masks = mask_set<block<2, 2>>::dense(net);
        pruner<magnitude, uniform_allocation, one_shot, block<2, 2>> p;
        p.run(net, masks, budget::sparsity(0.9));
        CHECK(masks.nonzeros() <= 152);
        for (const auto& e : masks)
            CHECK(block<2, 2>::valid(e.bits.matrix(), e.bits.bits()));
    }
    SECTION("2:4") {
        auto net = test::make_tiny_net();
        auto masks = mask_set<n_of_m<2, 4>>::dense(net);
        pruner<magnitude, global_allocation, one_shot, n_of_m<2, 4>> p;
        p.run(net, masks, budget::sparsity(0.5));
        CHECK(masks.nonzeros() == 764);
        for (const auto& e : masks)
            CHECK(n_of_m<2, 4>::valid(e.bits.matrix(), e.bits.bits()));
        auto dense = test::make_tiny_net();
        auto dense_masks = mask_set<n_of_m<2, 4>>::dense(dense);
        CHECK_THROWS_WITH(p.run(dense, dense_masks, budget::sparsity(0.4)),
                          Catch::Contains("granularity"));
    }
}

TEST_CASE("byte budgets: the file never exceeds the budget and is within one weight of it",
          "[prune][pruner]") {
    for (const auto format : {storage_format::csr16, storage_format::bitmap}) {
        for (const index_t bytes : {700, 1234, 2000, 4321, 7000}) {
            auto net = test::make_tiny_net();
            auto masks = mask_set<>::dense(net);
            pruner<> p;
            p.run(net, masks, budget::bytes(bytes, format));
            const index_t used = model_bytes(net, masks, format) +
                                 static_cast<index_t>(sparse_header_bytes);  // the file
            INFO(format_name(format) << " " << bytes);
            REQUIRE(used <= bytes);
            if (masks.nonzeros() < masks.total())  // unless the whole model fits
                REQUIRE(bytes - used < model_cost(net, format).per_nonzero);
        }
    }
    auto net = test::make_tiny_net();
    auto masks = mask_set<>::dense(net);
    CHECK_THROWS_WITH(pruner<>{}.run(net, masks, budget::bytes(300, storage_format::csr16)),
                      Catch::Contains("fixed overhead of 540"));
}

TEST_CASE("iterative pruning: 20 rounds of 20% with fine-tuning between", "[prune][pruner]") {
    // One 90,000-weight layer so that rounding is visible only in the last digit.
    using big = sequential<named<"conv", test::tiny_conv_params<100, 100, 3>>>;
    big net;
    test::randomize(net, 3);
    auto masks = mask_set<>::dense(net);
    pruner<magnitude, global_allocation, iterative> p;
    std::vector<index_t> seen;
    const auto result = p.run(net, masks, budget::sparsity(1 - std::pow(0.8, 20)),
                              [&](std::size_t round, const mask_set<>& m) {
                                  CHECK(round == seen.size());
                                  seen.push_back(m.nonzeros());
                              });
    REQUIRE(seen.size() == 20);
    for (int r = 1; r <= 20; ++r)
        CHECK(seen[static_cast<std::size_t>(r - 1)] ==
              static_cast<index_t>(std::floor(90000 * std::pow(0.8, r) + 1e-6)));
    CHECK(masks.nonzeros() == 1037);
    CHECK(masks.sparsity() == Approx(0.98847).margin(1.0 / 90000));
    CHECK(result.rounds.back().sparsity == masks.sparsity());
    // Pruning is one-way: asking for a denser model is an error.
    CHECK_THROWS_WITH(p.run(net, masks, budget::sparsity(0.5)), Catch::Contains("only 1037"));
}

TEST_CASE("gradual pruning and random criteria are deterministic", "[prune][pruner]") {
    auto a = test::make_tiny_net(4);
    auto b = test::make_tiny_net(4);
    auto ma = mask_set<>::dense(a);
    auto mb = mask_set<>::dense(b);
    pruner<random_score, global_allocation, gradual> p(random_score{.seed = 9}, {},
                                                       gradual{.events = 5});
    const auto ra = p.run(a, ma, budget::sparsity(0.95));
    p.run(b, mb, budget::sparsity(0.95));
    CHECK(ra.rounds.size() == 5);
    CHECK(masks_equal(ma, mb));
}
