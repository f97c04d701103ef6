#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/data/batch_loader.hpp"
#include "bpr/data/split.hpp"
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

// Three classes of 1x4x4 images: a bright top row, a bright bottom row, or a bright
// left column, over noise. Linearly separable, so a tiny model reaches ~100%.
bpr::data::dataset make_dataset(bpr::index_t count, std::uint64_t seed) {
    bpr::data::dataset data;
    data.num_classes = 3;
    data.source = "synthetic";
    data.images.resize({count, 1, 4, 4});
    data.labels.resize(static_cast<std::size_t>(count));
    bpr::rng generator(seed);
    for (bpr::index_t i = 0; i < count; ++i) {
        const int label = static_cast<int>(generator.below(3));
        data.labels[static_cast<std::size_t>(i)] = label;
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 4; ++x) {
                const bool bright =
                    (label == 0 && y == 0) || (label == 1 && y == 3) || (label == 2 && x == 0);
                const int noise = static_cast<int>(generator.below(60));
                data.images(i, 0, y, x) = static_cast<std::uint8_t>(bright ? 180 + noise : noise);
            }
    }
    data.validate();
    return data;
}

}  // namespace

TEST_CASE("fit learns a separable synthetic problem", "[train][fit]") {
    const auto all = make_dataset(600, 1);
    const auto parts = bpr::data::split(all, 100, 2);
    auto model = make_mlp(3);
    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.9});
    bpr::data::batch_loader train(parts.train, {.batch_size = 32, .seed = 4});
    const auto result =
        bpr::fit(model, opt, bpr::cosine_lr{.base = 0.1}, train,
                 {.epochs = 5, .validation = &parts.validation, .progress = nullptr});
    REQUIRE(result.history.size() == 5);
    CHECK(result.history.back().train_accuracy > 0.97);
    REQUIRE(result.history.back().validation.has_value());
    CHECK(result.history.back().validation->accuracy > 0.97);
    CHECK(result.history.back().train_loss < result.history.front().train_loss);
    CHECK(result.best_epoch >= 0);
    CHECK(result.best_validation_accuracy > 0.97);
    CHECK(result.images_per_second > 0);
    const auto check = bpr::evaluate(model, parts.validation, 64);
    CHECK(check.accuracy == result.history.back().validation->accuracy);
    CHECK(check.count == 100);
}

TEST_CASE("fit is deterministic for a seed", "[train][fit]") {
    const auto data = make_dataset(200, 5);
    auto run = [&](std::uint64_t loader_seed) {
        auto model = make_mlp(7);
        bpr::sgd<float> opt({.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-4});
        bpr::data::batch_loader train(
            data, {.batch_size = 16, .seed = loader_seed, .augment = {.flip = true}});
        bpr::fit(model, opt, bpr::warmup{bpr::cosine_lr{.base = 0.05}, 5, 0.1}, train,
                 {.epochs = 2, .progress = nullptr});
        return weights_of(model);
    };
    const auto first = run(11);
    CHECK(first == run(11));
    CHECK(first != run(12));
}

TEST_CASE("fit reports divergence with the epoch, step and parameter", "[train][fit]") {
    const auto data = make_dataset(64, 9);
    auto model = make_mlp(1);
    bpr::sgd<float> opt;
    bpr::data::batch_loader train(data, {.batch_size = 16, .seed = 1});
    CHECK_THROWS_WITH(
        bpr::fit(model, opt, bpr::constant_lr{1e30}, train, {.epochs = 3, .progress = nullptr}),
        Catch::Contains("fit: loss is") && Catch::Contains("epoch 1") && Catch::Contains("step") &&
            Catch::Contains("weight"));
}

TEST_CASE("fit callbacks see every step and can stop early", "[train][fit]") {
    const auto data = make_dataset(64, 3);
    auto model = make_mlp(2);
    bpr::sgd<float> opt;
    bpr::data::batch_loader train(data, {.batch_size = 16, .seed = 1});
    int backward_calls = 0, step_calls = 0;
    std::vector<double> lrs;
    bpr::fit_callbacks callbacks;
    callbacks.after_backward = [&](const bpr::step_info&) { ++backward_calls; };
    callbacks.after_step = [&](const bpr::step_info& info) {
        ++step_calls;
        CHECK(info.global_step == info.epoch * 4 + info.batch);
    };
    callbacks.on_epoch_end = [&](const bpr::epoch_metrics& m) {
        lrs.push_back(m.lr);
        return m.epoch == 1 ? bpr::train_control::stop : bpr::train_control::proceed;
    };
    const auto result = bpr::fit(
        model, opt, bpr::step_lr{0.1, {1}, 0.5}, train,
        {.epochs = 5, .schedule_by = bpr::schedule_unit::epoch, .progress = nullptr}, callbacks);
    CHECK(result.stopped_early);
    CHECK(result.history.size() == 2);
    CHECK(backward_calls == 8);
    CHECK(step_calls == 8);
    CHECK(lrs == std::vector<double>{0.1, 0.05});
    CHECK(opt.lr() == 0.05);
    CHECK(result.best_epoch == -1);
}

TEST_CASE("fit restores the best validation epoch when asked", "[train][fit]") {
    const auto all = make_dataset(300, 8);
    const auto parts = bpr::data::split(all, 60, 1);
    auto model = make_mlp(4);
    bpr::sgd<float> opt;
    bpr::data::batch_loader train(parts.train, {.batch_size = 32, .seed = 2});
    std::vector<float> best_weights;
    double best = -1;
    bpr::fit_callbacks callbacks;
    callbacks.on_epoch_end = [&](const bpr::epoch_metrics& m) {
        if (m.validation->accuracy > best) {
            best = m.validation->accuracy;
            best_weights = weights_of(model);
        }
        return bpr::train_control::proceed;
    };
    // A rate that ends far too high makes the last epochs worse than an earlier one.
    const auto result = bpr::fit(model, opt, bpr::step_lr{0.05, {2}, 60.0}, train,
                                 {.epochs = 4,
                                  .schedule_by = bpr::schedule_unit::epoch,
                                  .validation = &parts.validation,
                                  .restore_best = true,
                                  .progress = nullptr},
                                 callbacks);
    CHECK(result.best_epoch < 3);  // the test only means something if the last epoch lost
    CHECK(result.best_validation_accuracy == best);
    CHECK(weights_of(model) == best_weights);
}

TEST_CASE("fit resumes from start_epoch with the same schedule position", "[train][fit]") {
    const auto data = make_dataset(64, 2);
    auto model = make_mlp(5);
    bpr::sgd<float> opt;
    bpr::data::batch_loader train(data, {.batch_size = 32, .seed = 1});
    std::vector<double> lrs;
    bpr::fit_callbacks callbacks;
    callbacks.after_step = [&](const bpr::step_info& info) { lrs.push_back(info.lr); };
    bpr::fit(model, opt, bpr::cosine_lr{.base = 1.0}, train,
             {.epochs = 4, .start_epoch = 2, .progress = nullptr}, callbacks);
    REQUIRE(lrs.size() == 4);
    CHECK(lrs[0] == Approx(bpr::cosine_lr{.base = 1.0}.lr(4, 8)));
    CHECK_THROWS_WITH(bpr::fit(model, opt, bpr::constant_lr{}, train, {.epochs = 0}),
                      Catch::Contains("epochs is 0"));
}

TEST_CASE("fit hooks keep masked weights and their momentum at zero", "[train][fit]") {
    const auto data = make_dataset(96, 4);
    auto model = make_mlp(6);
    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3});
    bpr::data::batch_loader train(data, {.batch_size = 32, .seed = 3});
    // "Prune" every other weight of the first linear layer (visit index 0).
    std::vector<bpr::index_t> pruned;
    for (bpr::index_t i = 0; i < model.get<1>().weight().value.size(); i += 2)
        pruned.push_back(i);
    auto zero_pruned = [&](bpr::tensor<float>& t) {
        for (const bpr::index_t i : pruned)
            t[i] = 0.0f;
    };
    zero_pruned(model.get<1>().weight().value);
    bpr::fit_callbacks callbacks;
    callbacks.after_backward = [&](const bpr::step_info&) {
        zero_pruned(model.get<1>().weight().grad);
    };
    callbacks.after_step = [&](const bpr::step_info&) { opt.reset_state(0, pruned); };
    bpr::fit(model, opt, bpr::constant_lr{0.1}, train, {.epochs = 2, .progress = nullptr},
             callbacks);
    bool weights_zero = true, state_zero = true, others_moved = false;
    for (const bpr::index_t i : pruned)
        weights_zero = weights_zero && model.get<1>().weight().value[i] == 0.0f;
    opt.for_each_state(0, [&](std::string_view, bpr::tensor<float>& t) {
        for (const bpr::index_t i : pruned)
            state_zero = state_zero && t[i] == 0.0f;
        others_moved = t[1] != 0.0f;
    });
    CHECK(weights_zero);
    CHECK(state_zero);
    CHECK(others_moved);
}
