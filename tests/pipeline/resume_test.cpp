// Checkpoint and resume of a pipeline run: interrupted after any checkpoint, the
// resumed run ends bit-identical to the uninterrupted one; bad checkpoints and
// divergence are reported by name.

#include "bpr/pipeline/resume.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "bpr/optim/sgd.hpp"
#include "bpr/pipeline/fine_tune.hpp"
#include "bpr/train/fit.hpp"
#include "synthetic.hpp"

using namespace bpr;
using bpr::testing::make_borders;
using bpr::testing::make_tiny_mlp;
using bpr::testing::tiny_mlp;

namespace {

// Iterative pruning (several rounds) and two fine-tune epochs per step, so that
// interruptions fall inside pruning, inside fine-tuning and between steps.
using recipe = pipeline<prune_to_budget<magnitude, global_allocation, iterative>,
                        score<gradient_magnitude>, regrow<top_k, init_zero>>;

// Simulates a kill right after a checkpoint: whatever the process did after its last
// checkpoint is lost, so stopping there is what any kill amounts to.
struct interrupted {};

struct temp_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("bpr_pipeline_resume_" + std::to_string(::getpid()));
    temp_dir() { std::filesystem::create_directories(path); }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

struct outcome {
    std::vector<float> weights, momentum;
    std::vector<std::uint8_t> bits;
    trajectory steps;
    prune_result pruning;
    std::vector<regrow_report> regrowth;
};

// One process of a run: builds everything from scratch (as bpr-regrow does), resumes
// from `file` if it exists, checkpoints into it, and stops after `stop_at` checkpoints
// (0: never).
struct run_process {
    const data::dataset& train;
    const data::dataset& val;
    std::filesystem::path file;
    double lr = 0.02;
    std::int64_t saves = 0;

    outcome operator()(int stop_at, const tiny_mlp& dense_start) {
        tiny_mlp model = dense_start;
        sgd<float> opt({.lr = 0.05, .momentum = 0.9});
        const data::loader_options options{.batch_size = 32, .shuffle = true, .seed = 9};
        fit_fine_tuner<tiny_mlp, sgd<float>> tune{.model = model,
                                                  .opt = opt,
                                                  .train = train,
                                                  .train_options = options,
                                                  .validation = &val,
                                                  .schedule = cosine_lr{.base = lr},
                                                  .checkpoint_steps = 7};
        auto gradients = make_gradient_source(model, train, options);
        pipeline_inputs in;
        in.start = budget::sparsity(0.98);
        in.target = budget::sparsity(0.90);
        in.steps = 2;
        in.fine_tune_length = 2;
        in.prune_fine_tune_length = 2;
        in.gradients = gradients;
        in.score_batches = 2;
        in.exchange = 0.25;  // each regrowth step also drops and regrows weights
        recipe r;
        r.pruning.method.schedule = {.fraction = 0.75};  // several rounds down to 98%

        const std::string config = "budget=0.98\ntarget=0.90\n";
        pipeline_control<unstructured> control;
        pipeline_checkpoint<unstructured> resumed;
        if (std::filesystem::exists(file)) {
            resumed = load_pipeline_checkpoint(file, model, opt, config);
            tune.calls = static_cast<std::uint64_t>(resumed.counters.at("tune_calls"));
            gradients.seek(resumed.counters.at("gradient_calls"));
            control.resume = &resumed.state;
        }
        pipeline_checkpointer<tiny_mlp, sgd<float>> saver(file, model, opt, config);
        saver.counters = [&] {
            return std::map<std::string, std::int64_t>{
                {"tune_calls", static_cast<std::int64_t>(tune.calls)},
                {"gradient_calls", gradients.calls()}};
        };
        control.checkpoint = [&](const pipeline_state<unstructured>& st) {
            saver.save(st);
            if (++saves == stop_at) throw interrupted{};
        };
        const auto result = r.run(model, tune, in, opt, control);

        outcome o;
        visit_params(model, [&](std::size_t, const std::string&, auto& p) {
            o.weights.insert(o.weights.end(), p.value.begin(), p.value.end());
        });
        opt.visit_state([&](const std::string&, auto& t) {
            o.momentum.insert(o.momentum.end(), t.begin(), t.end());
        });
        for (const auto& e : result.masks)
            o.bits.insert(o.bits.end(), e.bits.bits().begin(), e.bits.bits().end());
        o.steps = result.steps;
        o.pruning = result.pruning;
        o.regrowth = result.regrowth;
        return o;
    }
};

tiny_mlp trained_start(const data::dataset& train) {
    tiny_mlp model = make_tiny_mlp(4);
    sgd<float> opt({.lr = 0.05, .momentum = 0.9});
    data::batch_loader loader(train, {.batch_size = 32, .shuffle = true, .seed = 9});
    fit(model, opt, cosine_lr{.base = 0.05}, loader, {.epochs = 4, .progress = nullptr});
    return model;
}

bool same_bits(double a, double b) {
    return std::memcmp(&a, &b, sizeof a) == 0;
}

void require_identical(const outcome& a, const outcome& b) {
    CHECK(a.weights == b.weights);
    CHECK(a.momentum == b.momentum);
    CHECK(a.bits == b.bits);
    REQUIRE(a.steps.points.size() == b.steps.points.size());
    for (std::size_t i = 0; i < a.steps.points.size(); ++i) {
        const auto &p = a.steps.points[i], &q = b.steps.points[i];
        INFO("trajectory point " << i);
        CHECK(p.phase == q.phase);
        CHECK(p.step == q.step);
        CHECK(p.nonzeros == q.nonzeros);
        CHECK(p.bytes == q.bytes);
        CHECK(same_bits(p.sparsity, q.sparsity));
        CHECK(same_bits(p.val_accuracy, q.val_accuracy));
        CHECK(same_bits(p.loss, q.loss));  // `seconds` is wall time: it differs
    }
    REQUIRE(a.pruning.rounds.size() == b.pruning.rounds.size());
    for (std::size_t i = 0; i < a.pruning.rounds.size(); ++i) {
        CHECK(same_bits(a.pruning.rounds[i].target_sparsity, b.pruning.rounds[i].target_sparsity));
        CHECK(a.pruning.rounds[i].nonzeros == b.pruning.rounds[i].nonzeros);
    }
    CHECK(a.pruning.budget.floor == b.pruning.budget.floor);
    REQUIRE(a.regrowth.size() == b.regrowth.size());
    for (std::size_t i = 0; i < a.regrowth.size(); ++i) {
        REQUIRE(a.regrowth[i].layers.size() == b.regrowth[i].layers.size());
        for (std::size_t l = 0; l < a.regrowth[i].layers.size(); ++l) {
            CHECK(a.regrowth[i].layers[l].name == b.regrowth[i].layers[l].name);
            CHECK(a.regrowth[i].layers[l].positions == b.regrowth[i].layers[l].positions);
            CHECK(a.regrowth[i].layers[l].dropped == b.regrowth[i].layers[l].dropped);
            CHECK(a.regrowth[i].layers[l].alive_before == b.regrowth[i].layers[l].alive_before);
        }
    }
}

}  // namespace

TEST_CASE("a pipeline run interrupted after any checkpoint resumes bit-identical",
          "[pipeline][resume]") {
    const data::dataset train = make_borders(600, 1);
    const data::dataset val = make_borders(200, 2);
    const tiny_mlp start = trained_start(train);
    temp_dir dir;

    run_process whole{train, val, dir.path / "whole.ckpt"};
    const outcome reference = whole(0, start);
    const std::int64_t checkpoints = whole.saves;
    REQUIRE(reference.pruning.rounds.size() >= 2);  // iterative: resumes inside pruning
    REQUIRE(reference.regrowth.size() == 2);
    index_t dropped = 0;
    for (const auto& layer : reference.regrowth[0].layers)
        dropped += layer.dropped;
    CHECK(dropped == 3);  // a quarter of the 12 weights 98% keeps of 640
    // dense + per round (pruned, 5 mid-epoch and 2 epoch ends, recorded) + end of
    // pruning + per regrowth step (grown, 7 in fine-tuning, recorded); 19 batches an epoch
    CHECK(checkpoints ==
          1 + 9 * static_cast<std::int64_t>(reference.pruning.rounds.size()) + 1 + 2 * 9);

    // Stop after checkpoint n, resume, stop again a few checkpoints later, resume to the
    // end: every position of the run is a resume point at least once.
    for (std::int64_t first = 1; first < checkpoints; first += 3) {
        INFO("interrupted after checkpoint " << first << " of " << checkpoints);
        run_process parts{train, val, dir.path / ("run" + std::to_string(first) + ".ckpt")};
        CHECK_THROWS_AS(parts(static_cast<int>(first), start), interrupted);
        if (first + 3 < checkpoints) {
            CHECK_THROWS_AS(parts(static_cast<int>(first + 3), start), interrupted);
        }
        parts.saves = 0;
        require_identical(parts(0, start), reference);
    }
}

TEST_CASE("resuming refuses other settings, another model and damaged files by name",
          "[pipeline][resume]") {
    const data::dataset train = make_borders(300, 1);
    const data::dataset val = make_borders(100, 2);
    const tiny_mlp start = trained_start(train);
    temp_dir dir;
    run_process p{train, val, dir.path / "run.ckpt"};
    CHECK_THROWS_AS(p(12, start), interrupted);

    tiny_mlp model = start;
    sgd<float> opt({.lr = 0.05, .momentum = 0.9});
    CHECK_THROWS_WITH(load_pipeline_checkpoint(p.file, model, opt, "budget=0.99\ntarget=0.90\n"),
                      Catch::Contains("field 'config'") && Catch::Contains("'budget=0.98'") &&
                          Catch::Contains("'budget=0.99'"));

    // Another model: the masks name the parameter and both shapes; nothing is loaded.
    using other = sequential<flatten<float>, linear<float>, relu<float>, linear<float>>;
    other wide(flatten<float>{}, linear<float>(36, 8), relu<float>{}, linear<float>(8, 4));
    sgd<float> wide_opt({.lr = 0.05});
    CHECK_THROWS_WITH(
        load_pipeline_checkpoint(p.file, wide, wide_opt, "budget=0.98\ntarget=0.90\n"),
        Catch::Contains("masks") && Catch::Contains("1.weight") && Catch::Contains("[16, 36]") &&
            Catch::Contains("[8, 36]"));

    // A flipped byte anywhere in the pipeline section: its CRC names the section.
    std::string bytes;
    {
        std::ifstream in(p.file, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto at = bytes.find("position.tuned");
    REQUIRE(at != std::string::npos);
    bytes[at + 20] = static_cast<char>(bytes[at + 20] ^ 0x10);
    const auto damaged = dir.path / "damaged.ckpt";
    {
        std::ofstream out(damaged, std::ios::binary);
        out << bytes;
    }
    const std::vector<float> before = [&] {
        std::vector<float> w;
        visit_params(model, [&](std::size_t, const std::string&, auto& q) {
            w.insert(w.end(), q.value.begin(), q.value.end());
        });
        return w;
    }();
    CHECK_THROWS_WITH(load_pipeline_checkpoint(damaged, model, opt, "budget=0.98\ntarget=0.90\n"),
                      Catch::Contains("damaged.ckpt") && Catch::Contains("section 'pipeline'") &&
                          Catch::Contains("crc32"));
    std::vector<float> after;
    visit_params(model, [&](std::size_t, const std::string&, auto& q) {
        after.insert(after.end(), q.value.begin(), q.value.end());
    });
    CHECK(after == before);
}

TEST_CASE(
    "divergence in the pipeline's fine-tuning names the step and parameter and keeps "
    "the last checkpoint",
    "[pipeline][divergence]") {
    const data::dataset train = make_borders(300, 1);
    const data::dataset val = make_borders(100, 2);
    const tiny_mlp start = trained_start(train);
    temp_dir dir;
    run_process p{train, val, dir.path / "run.ckpt", 1e300};  // infinite in float
    std::string message;
    try {
        p(0, start);
    } catch (const error& e) {
        message = e.what();
    }
    INFO(message);
    CHECK_THAT(message, Catch::Contains("fine-tuning after prune step 1") &&
                            Catch::Contains("non-finite") && Catch::Contains("weight'") &&
                            Catch::Contains("epoch 1, step 1 of"));
    // The last checkpoint (round 1 pruned, before its fine-tuning) loads, finite.
    tiny_mlp model = start;
    sgd<float> opt({.lr = 0.05, .momentum = 0.9});
    const auto ck = load_pipeline_checkpoint(p.file, model, opt, "budget=0.98\ntarget=0.90\n");
    CHECK(ck.state.position.phase == step_phase::prune);
    CHECK(ck.state.position.step == 1);
    CHECK(ck.state.position.tuned == 0);
    visit_params(model, [&](std::size_t, const std::string&, auto& q) {
        for (const float v : q.value)
            REQUIRE(std::isfinite(v));
    });
}
