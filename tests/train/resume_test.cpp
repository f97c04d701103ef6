// bpr-train's resume path (checkpoint after every epoch, load, fit from start_epoch)
// and the divergence stop, on a tiny model.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/data/batch_loader.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/optim/schedule.hpp"
#include "bpr/optim/sgd.hpp"
#include "bpr/train/fit.hpp"

#include "tiny_mlp.hpp"

namespace {

using bpr_test::make_mlp;
using bpr_test::mlp;
using bpr_test::weights_of;

// Random 1x4x4 images whose class is the brightest row among the first three.
bpr::data::dataset make_data(bpr::index_t count) {
    bpr::data::dataset data;
    data.num_classes = 3;
    data.source = "rows";
    data.images.resize({count, 1, 4, 4});
    data.labels.resize(static_cast<std::size_t>(count));
    bpr::rng generator(3);
    for (bpr::index_t i = 0; i < count; ++i) {
        const int label = static_cast<int>(generator.below(3));
        data.labels[static_cast<std::size_t>(i)] = label;
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 4; ++x)
                data.images(i, 0, y, x) =
                    static_cast<std::uint8_t>(generator.below(100) + (y == label ? 120 : 0));
    }
    return data;
}

std::vector<float> momentum_of(bpr::sgd<float>& opt) {
    std::vector<float> all;
    opt.visit_state(
        [&](const std::string&, auto& t) { all.insert(all.end(), t.begin(), t.end()); });
    return all;
}

struct temp_dir {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("bpr_train_resume_" + std::to_string(::getpid()));
    temp_dir() { std::filesystem::create_directories(path); }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

constexpr std::int64_t epochs = 4;
const bpr::cosine_lr schedule{.base = 0.2};
const bpr::data::loader_options loader_options{
    .batch_size = 16, .shuffle = true, .seed = 5, .augment = {.pad = 1, .flip = true}};

}  // namespace

TEST_CASE("fit resumed from its epoch checkpoint ends bit-identical to an uninterrupted run",
          "[train][resume]") {
    const auto data = make_data(96);
    temp_dir dir;
    const auto file = dir.path / "run.ckpt";

    // Uninterrupted, as bpr-train --out runs: a checkpoint after every epoch.
    auto whole = make_mlp(7);
    bpr::sgd<float> whole_opt({.lr = 0.2, .momentum = 0.9, .weight_decay = 5e-4});
    bpr::data::batch_loader whole_loader(data, loader_options);
    bpr::fit(whole, whole_opt, schedule, whole_loader, {.epochs = epochs, .progress = nullptr});

    for (std::int64_t stop_after = 1; stop_after < epochs; ++stop_after) {
        // Interrupted after `stop_after` epochs (their checkpoints written) ...
        auto first = make_mlp(7);
        bpr::sgd<float> first_opt({.lr = 0.2, .momentum = 0.9, .weight_decay = 5e-4});
        bpr::data::batch_loader first_loader(data, loader_options);
        bpr::fit_callbacks save;
        save.on_epoch_end = [&](const bpr::epoch_metrics& m) {
            bpr::save_checkpoint(file, first, first_opt, {.epoch = m.epoch + 1});
            return m.epoch + 1 == stop_after ? bpr::train_control::stop
                                             : bpr::train_control::proceed;
        };
        bpr::fit(first, first_opt, schedule, first_loader, {.epochs = epochs, .progress = nullptr},
                 save);

        // ... and resumed in a fresh process's objects (another init: all from the file).
        auto resumed = make_mlp(99);
        bpr::sgd<float> resumed_opt({.lr = 0.2, .momentum = 0.9, .weight_decay = 5e-4});
        const auto info = bpr::load_checkpoint(file, resumed, resumed_opt);
        REQUIRE(info.epoch == stop_after);
        bpr::data::batch_loader resumed_loader(data, loader_options);
        bpr::fit(resumed, resumed_opt, schedule, resumed_loader,
                 {.epochs = epochs, .start_epoch = info.epoch, .progress = nullptr});

        INFO("interrupted after epoch " << stop_after);
        CHECK(weights_of(resumed) == weights_of(whole));  // exact float equality
        CHECK(momentum_of(resumed_opt) == momentum_of(whole_opt));
    }
}

TEST_CASE("fit resumed inside an epoch (start_batch) ends bit-identical", "[train][resume]") {
    const auto data = make_data(96);  // 6 batches an epoch
    temp_dir dir;
    const auto file = dir.path / "run.ckpt";
    auto whole = make_mlp(7);
    bpr::sgd<float> whole_opt({.lr = 0.2, .momentum = 0.9});
    bpr::data::batch_loader whole_loader(data, loader_options);
    bpr::fit(whole, whole_opt, schedule, whole_loader, {.epochs = epochs, .progress = nullptr});

    struct stop {};
    for (const std::int64_t stop_after : {1, 5, 8, 13}) {  // global steps done
        auto first = make_mlp(7);
        bpr::sgd<float> first_opt({.lr = 0.2, .momentum = 0.9});
        bpr::data::batch_loader first_loader(data, loader_options);
        bpr::fit_callbacks save;
        save.after_step = [&](const bpr::step_info& info) {
            if (info.global_step + 1 != stop_after) return;
            bpr::save_checkpoint(file, first, first_opt, {.step = stop_after});
            throw stop{};
        };
        CHECK_THROWS_AS(bpr::fit(first, first_opt, schedule, first_loader,
                                 {.epochs = epochs, .progress = nullptr}, save),
                        stop);
        auto resumed = make_mlp(99);
        bpr::sgd<float> resumed_opt({.lr = 0.2, .momentum = 0.9});
        const auto info = bpr::load_checkpoint(file, resumed, resumed_opt);
        bpr::data::batch_loader resumed_loader(data, loader_options);
        const auto batches = resumed_loader.batches_per_epoch();
        bpr::fit(resumed, resumed_opt, schedule, resumed_loader,
                 {.epochs = epochs,
                  .start_epoch = info.step / batches,
                  .start_batch = static_cast<bpr::index_t>(info.step % batches),
                  .progress = nullptr});
        INFO("interrupted after step " << stop_after);
        CHECK(weights_of(resumed) == weights_of(whole));
        CHECK(momentum_of(resumed_opt) == momentum_of(whole_opt));
    }
}

TEST_CASE("a NaN weight stops fit naming step and parameter; the last checkpoint stays",
          "[train][divergence]") {
    const auto data = make_data(64);
    temp_dir dir;
    const auto file = dir.path / "run.ckpt";
    auto model = make_mlp(3);
    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.9});
    bpr::data::batch_loader loader(data, {.batch_size = 16, .seed = 2});  // 4 steps an epoch

    std::vector<float> saved;
    bpr::fit_callbacks callbacks;
    callbacks.on_epoch_end = [&](const bpr::epoch_metrics& m) {
        bpr::save_checkpoint(file, model, opt, {.epoch = m.epoch + 1});
        saved = weights_of(model);
        return bpr::train_control::proceed;
    };
    // Poison one weight of the second layer after step 3 of epoch 2 (a bit flip, a bad
    // kernel); the loss of that step was still finite.
    callbacks.after_step = [&](const bpr::step_info& info) {
        if (info.epoch == 1 && info.batch == 2)
            model.get<3>().weight().value[5] = std::numeric_limits<float>::quiet_NaN();
    };
    std::string message;
    try {
        bpr::fit(model, opt, bpr::constant_lr{0.1}, loader, {.epochs = 3, .progress = nullptr},
                 callbacks);
    } catch (const bpr::error& e) {
        message = e.what();
    }
    INFO(message);
    CHECK_THAT(message, Catch::Contains("parameter '3.weight'") &&
                            Catch::Contains("epoch 2, step 3 of 4") &&
                            Catch::Contains("global step 7") && Catch::Contains("non-finite"));

    // The checkpoint on disk is epoch 1's, intact, with finite values.
    auto reloaded = make_mlp(11);
    bpr::sgd<float> reloaded_opt({.lr = 0.1, .momentum = 0.9});
    CHECK(bpr::load_checkpoint(file, reloaded, reloaded_opt).epoch == 1);
    CHECK(weights_of(reloaded) == saved);
    for (const float v : weights_of(reloaded))
        CHECK(std::isfinite(v));
}

TEST_CASE("a learning rate that overflows the weights stops fit at that step, by name",
          "[train][divergence]") {
    const auto data = make_data(64);
    auto model = make_mlp(3);
    bpr::sgd<float> opt;
    bpr::data::batch_loader loader(data, {.batch_size = 16, .seed = 2});
    // 1e300 is infinite in float: the first step makes weights non-finite.
    CHECK_THROWS_WITH(
        bpr::fit(model, opt, bpr::constant_lr{1e300}, loader, {.epochs = 2, .progress = nullptr}),
        Catch::Contains("epoch 1, step 1 of 4") && Catch::Contains("non-finite") &&
            Catch::Contains("parameter '1.weight'"));
    // A merely huge rate keeps the weights finite but overflows the activations: the
    // loss check names the step and the parameter with the largest weight.
    auto other = make_mlp(3);
    bpr::sgd<float> other_opt;
    CHECK_THROWS_WITH(bpr::fit(other, other_opt, bpr::constant_lr{1e38}, loader,
                               {.epochs = 2, .progress = nullptr}),
                      Catch::Contains("fit: loss is") && Catch::Contains("step 2 of 4") &&
                          Catch::Contains("the largest weight, magnitude"));
}
