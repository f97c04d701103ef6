#include "bpr/pipeline/pipeline.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "bpr/optim/sgd.hpp"
#include "bpr/pipeline/fine_tune.hpp"
#include "bpr/train/fit.hpp"
#include "synthetic.hpp"

using namespace bpr;
using bpr::testing::make_borders;
using bpr::testing::make_tiny_mlp;
using bpr::testing::tiny_mlp;

using default_recipe = pipeline<prune_to_budget<magnitude, global_allocation, one_shot>,
                                score<gradient_magnitude>, regrow<top_k, init_zero>>;

static_assert(prune_stage<prune_to_budget<>>);
static_assert(prune_stage<prune_to_budget<snip, lamp_allocation, iterative>>);
static_assert(!prune_stage<score<gradient_magnitude>>);
static_assert(score_stage<score<taylor>>);
static_assert(!score_stage<regrow<>>);
static_assert(regrow_stage<regrow<capped_top_k, init_kaiming>>);
static_assert(!regrow_stage<prune_to_budget<>>);

namespace {
struct task {
    data::dataset train = make_borders(1200, 1);
    data::dataset val = make_borders(400, 2);
    data::dataset test = make_borders(400, 3);
    tiny_mlp model = make_tiny_mlp(4);
    sgd<float> opt{{.lr = 0.05, .momentum = 0.9}};
    data::loader_options options{.batch_size = 32, .shuffle = true, .seed = 9};

    task() {
        data::batch_loader loader(train, options);
        fit(model, opt, cosine_lr{.base = 0.05}, loader, {.epochs = 6, .progress = nullptr});
        opt = sgd<float>({.lr = 0.05, .momentum = 0.9});
    }
    fit_fine_tuner<tiny_mlp, sgd<float>> tuner() {
        return {.model = model,
                .opt = opt,
                .train = train,
                .train_options = options,
                .validation = &val,
                .test = &test,
                .schedule = cosine_lr{.base = 0.02}};
    }
};

void check_dead_weights_zero(tiny_mlp& model, const mask_set<unstructured>& masks) {
    std::size_t next = 0;
    visit_params(model, [&](std::size_t index, const std::string&, auto& p) {
        if (next < masks.size() && masks[next].index == index) {
            const auto& bits = masks[next++].bits;
            for (index_t i = 0; i < p.value.size(); ++i)
                if (!bits.kept(i)) CHECK(p.value[i] == 0.0f);
        }
    });
}
}  // namespace

TEST_CASE("the pipeline regrows to the target and beats its pruned start on a tiny task",
          "[pipeline][run]") {
    task t;
    auto tune = t.tuner();
    pipeline_inputs in;
    in.start = budget::sparsity(0.98);   // 12 of 640 weights
    in.target = budget::sparsity(0.90);  // 64
    in.steps = 2;
    in.fine_tune_length = 1;
    in.prune_fine_tune_length = 1;
    in.gradients = make_gradient_source(t.model, t.train, t.options);
    in.score_batches = 4;
    default_recipe recipe;
    const auto result = recipe.run(t.model, tune, in, t.opt);

    const auto& steps = result.steps.points;
    REQUIRE(steps.size() == 4);  // dense, one prune round, two regrowth steps
    CHECK(steps[0].phase == step_phase::dense);
    CHECK(steps[1].phase == step_phase::prune);
    CHECK(steps[1].nonzeros == 12);
    CHECK(steps[2].nonzeros == 38);  // 12 + 52 / 2
    CHECK(steps[3].nonzeros == 64);
    CHECK(result.masks.nonzeros() == 64);
    CHECK(result.regrowth.size() == 2);
    CHECK(result.regrowth[0].grown == 26);
    check_dead_weights_zero(t.model, result.masks);
    // Fine-tuning wanted only the alive weights' gradients and released that on exit,
    // so regrowth scores see dense gradients.
    visit_params(t.model, [&](std::size_t, const std::string& name, auto& p) {
        INFO(name);
        CHECK(p.grad_needed.empty());
    });
    result.masks.restrict_gradients(t.model);
    std::size_t next = 0;
    visit_params(t.model, [&](std::size_t index, const std::string&, auto& p) {
        if (next < result.masks.size() && result.masks[next].index == index) {
            const auto bits = result.masks[next++].bits.bits();
            REQUIRE(p.grad_needed.size() == bits.size());
            CHECK(std::equal(bits.begin(), bits.end(), p.grad_needed.begin()));
        } else {
            CHECK(p.grad_needed.empty());
        }
    });
    result.masks.release_gradients(t.model);
    visit_params(t.model,
                 [&](std::size_t, const std::string&, auto& p) { CHECK(p.grad_needed.empty()); });
    INFO(result.steps.table());
    CHECK(steps[0].val_accuracy > 0.9);
    CHECK(steps[3].val_accuracy > steps[1].val_accuracy + 0.05);
    CHECK(std::isfinite(steps[3].test_accuracy));
    CHECK(steps[3].bytes == model_cost(t.model, storage_format::csr16).bytes(64));
}

TEST_CASE("the pipeline is deterministic and zero steps is one-way pruning", "[pipeline][run]") {
    pipeline_inputs in;
    in.start = budget::nonzeros(20);
    in.target = budget::nonzeros(40);
    in.steps = 1;
    in.score_batches = 2;
    in.seed = 3;
    using recipe = pipeline<prune_to_budget<magnitude, global_allocation, iterative>,
                            score<random_regrowth>, regrow<proportional, init_kaiming>>;
    trajectory first;
    std::vector<float> first_weights;
    for (int run = 0; run < 2; ++run) {
        task t;
        auto tune = t.tuner();
        const auto result = recipe{}.run(t.model, tune, in);
        CHECK(result.masks.nonzeros() == 40);
        std::vector<float> weights;
        visit_params(t.model, [&](std::size_t, const std::string&, auto& p) {
            weights.insert(weights.end(), p.value.begin(), p.value.end());
        });
        if (run == 0) {
            first = result.steps;
            first_weights = weights;
        } else {
            REQUIRE(result.steps.points.size() == first.points.size());
            for (std::size_t i = 0; i < first.points.size(); ++i) {
                CHECK(result.steps.points[i].nonzeros == first.points[i].nonzeros);
                CHECK(result.steps.points[i].val_accuracy == first.points[i].val_accuracy);
            }
            CHECK(weights == first_weights);
        }
    }
    task t;
    auto tune = t.tuner();
    in.steps = 0;
    in.target = in.start;
    const auto one_way = recipe{}.run(t.model, tune, in);
    CHECK(one_way.regrowth.empty());
    CHECK(one_way.masks.nonzeros() == 20);
    // iterative 20% rounds from dense down to 20 of 640 weights
    CHECK(one_way.pruning.rounds.size() > 10);
}

TEST_CASE("impossible targets are errors naming the numbers", "[pipeline][run]") {
    task t;
    auto tune = t.tuner();
    pipeline_inputs in;
    in.start = budget::sparsity(0.90);
    in.target = budget::sparsity(0.95);
    in.evaluate_dense = false;
    in.prune_fine_tune_length = 0;
    CHECK_THROWS_WITH(default_recipe{}.run(t.model, tune, in),
                      Catch::Contains("regrowth only adds") && Catch::Contains("64"));
    task u;
    auto tune_u = u.tuner();
    in.target = budget::sparsity(0.5);
    in.steps = 1;  // gradient score without a gradient source
    CHECK_THROWS_WITH(default_recipe{}.run(u.model, tune_u, in),
                      Catch::Contains("regrow_context::gradients"));
}

TEST_CASE("an exchange drops the weakest alive weights and regrows as many on top",
          "[pipeline][run][exchange]") {
    task t;
    auto inner = t.tuner();
    // Weights and masks after the pruning round (the drop's input) and the masks of
    // regrowth step 1 as its fine-tuning starts (after drop and grow).
    std::vector<std::vector<float>> pruned_weights;
    mask_set<unstructured> pruned_masks, step1_masks;
    auto tune = [&](const tune_request<unstructured>& request) {
        if (request.phase == step_phase::regrow && request.step == 1) step1_masks = request.masks;
        const evaluation e = inner(request);
        if (request.phase == step_phase::prune) {
            pruned_masks = request.masks;
            pruned_weights.clear();
            visit_params(t.model, [&](std::size_t, const std::string&, auto& p) {
                pruned_weights.emplace_back(p.value.begin(), p.value.end());
            });
        }
        return e;
    };
    pipeline_inputs in;
    in.start = budget::nonzeros(20);
    in.target = budget::nonzeros(40);
    in.steps = 2;
    in.exchange = 0.5;
    in.gradients = make_gradient_source(t.model, t.train, t.options);
    in.score_batches = 2;
    const auto result = default_recipe{}.run(t.model, tune, in, t.opt);

    // The counts follow the schedule as without an exchange; each step regrows its
    // share plus what it dropped (half of the weights alive before it).
    CHECK(result.masks.nonzeros() == 40);
    REQUIRE(result.regrowth.size() == 2);
    CHECK(result.regrowth[0].grown == 10 + 10);
    CHECK(result.regrowth[1].grown == 10 + 15);
    CHECK(result.steps.points.back().nonzeros == 40);

    // Step 1 dropped exactly 10 of the 20 alive weights (some may have been regrown at
    // once), and they were the 10 of smallest magnitude (global magnitude pruning).
    REQUIRE(step1_masks.nonzeros() == 30);
    float largest_dropped = 0, smallest_kept = INFINITY;
    index_t dropped = 0;
    for (std::size_t i = 0; i < pruned_masks.size(); ++i) {
        const auto& before = pruned_masks[i].bits;
        const auto& after = step1_masks[i].bits;
        const auto& grown = result.regrowth[0].layers[i].positions;
        const auto& w = pruned_weights[pruned_masks[i].index];
        for (index_t el = 0; el < before.size(); ++el) {
            if (!before.kept(el)) continue;
            const bool regrown = std::binary_search(grown.begin(), grown.end(), el);
            const float magnitude = std::abs(w[static_cast<std::size_t>(el)]);
            if (!after.kept(el) || regrown) {
                ++dropped;
                largest_dropped = std::max(largest_dropped, magnitude);
            } else {
                smallest_kept = std::min(smallest_kept, magnitude);
            }
        }
    }
    CHECK(dropped == 10);
    CHECK(largest_dropped <= smallest_kept);
    // What a layer lost it regrew (at least), so no layer is thinner after the step.
    for (std::size_t i = 0; i < pruned_masks.size(); ++i) {
        const auto& layer = result.regrowth[0].layers[i];
        INFO(layer.name);
        CHECK(layer.grown >= layer.dropped);
        CHECK(step1_masks[i].bits.count() >= pruned_masks[i].bits.count());
        CHECK(step1_masks[i].bits.count() ==
              pruned_masks[i].bits.count() - layer.dropped + layer.grown);
    }
    check_dead_weights_zero(t.model, result.masks);

    in.exchange = 1.0;
    task u;
    auto tune_u = u.tuner();
    CHECK_THROWS_WITH(default_recipe{}.run(u.model, tune_u, in),
                      Catch::Contains("exchange") && Catch::Contains("[0, 1)"));
}
