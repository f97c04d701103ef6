// bpr-train: train any model of the zoo on Fashion-MNIST, CIFAR-10 or an image folder.
//
//   bpr-train --model lenet5 --epochs 30                      # Fashion-MNIST (default)
//   bpr-train --model resnet20 --data cifar10:DIR --augment --val 5000 --out r20.ckpt
//
// The program reads top to bottom as the recipe it runs: parse flags, load data (with
// an optional validation split carved from the training set), build and initialise
// the model, train with SGD (or AdamW) under a schedule, evaluate on the test set
// once at the end, and write the checkpoint and a JSON summary.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/data.hpp"
#include "bpr/io/atomic_file.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/io/json.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/models.hpp"
#include "bpr/optim.hpp"
#include "bpr/train.hpp"
#include "common.hpp"

const char* const bpr_examples::program_name = "bpr-train";

namespace {

using namespace bpr_examples;

const char* usage = R"(usage: bpr-train [flags]

Trains a model and reports its test accuracy.

  --model NAME      lenet5 (default), resnet20, resnet32, resnet56, resnet20b (projection
                    shortcuts), vgg16, densenet121, efficientnet_b0
  --data SPEC       fashion-mnist (default; Debian's /usr/share/datasets/fashion-mnist),
                    fashion-mnist:DIR, cifar10:DIR (the cifar-10-batches-bin folder or its
                    parent), folder:DIR (DIR/train/<class>/*.png|jpg and DIR/test/...)
  --train-images N  use only N training images, evenly spaced over the file (before
                    the --val split; default all): quick runs and smoke tests
  --test-images N   use only N test images, evenly spaced (default all)
  --epochs N        training epochs (default 30)
  --batch N         mini-batch size (default 128)
  --optimizer NAME  sgd (default) or adamw
  --lr X            peak learning rate (default 0.05 for sgd, 0.001 for adamw)
  --momentum X      SGD momentum (default 0.9)
  --nesterov        use Nesterov momentum
  --wd X            weight decay (default 5e-4 for sgd, 0.05 for adamw)
  --schedule NAME   cosine (default), step (x0.1 at 50% and 75%), onecycle, constant
  --warmup N        linear warm-up epochs before the schedule (default 0)
  --label-smoothing X  (default 0)
  --augment         random crop (pad 4, or 2 below 32 px) and horizontal flip
  --cutout N        also set an N x N square at a random centre to the mean (Cutout,
                    DeVries & Taylor 2017: 16 on CIFAR-10; default 0, off)
  --val N           carve N training images out as a validation set (default 0); the
                    best epoch is then chosen on it and its weights are kept
  --val-seed N      seed of that split (default 1); the checkpoint records it, with
                    --val and the normalization, for bpr-prune, bpr-regrow, bpr-infer
  --seed N          seed of initialisation, shuffling, augmentation (default 1)
  --threads N       threads (default 2)
  --out FILE        write a checkpoint (model, optimizer state, epoch; with --val also
                    the best epoch so far and its weights) atomically after every
                    epoch, and at the end (then with the best epoch's weights if --val)
  --init FILE       start from the model weights of a checkpoint (e.g. another run's
                    --out) with a fresh optimizer and schedule: a warm restart or a
                    fine-tune on new data; the model must match
  --resume FILE     continue an interrupted run from its --out checkpoint (same flags);
                    with the same --threads it ends bit-identical to an uninterrupted
                    run
  --json FILE       write a JSON summary (test_accuracy, val_accuracy, epochs,
                    seconds, images_per_second, params, ...)
  --quiet           no per-epoch output
  --help            this text
)";

struct settings {
    std::string model = "lenet5";
    std::string data = "fashion-mnist";
    bpr::index_t train_images = 0;
    bpr::index_t test_images = 0;
    std::int64_t epochs = 30;
    bpr::index_t batch = 128;
    std::string optimizer = "sgd";
    std::optional<double> lr;
    double momentum = 0.9;
    bool nesterov = false;
    std::optional<double> weight_decay;
    std::string schedule = "cosine";
    std::int64_t warmup = 0;
    double label_smoothing = 0.0;
    bool augment = false;
    int cutout = 0;
    bpr::index_t validation = 0;
    std::uint64_t val_seed = 1, seed = 1;
    int threads = 2;
    std::string out;
    std::string init;
    std::string resume;
    std::string json;
    bool quiet = false;
};

settings parse(int argc, char** argv) {
    settings s;
    flag_table(usage)
        .text("--model", s.model, zoo_model_names())
        .text("--data", s.data)
        .integer("--train-images", s.train_images, 1)
        .integer("--test-images", s.test_images, 1)
        .integer("--epochs", s.epochs, 1)
        .integer("--batch", s.batch, 1)
        .text("--optimizer", s.optimizer, {"sgd", "adamw"})
        .number("--lr", s.lr)
        .number("--momentum", s.momentum)
        .toggle("--nesterov", s.nesterov)
        .number("--wd", s.weight_decay)
        .text("--schedule", s.schedule, {"cosine", "step", "onecycle", "constant"})
        .integer("--warmup", s.warmup, 0)
        .number("--label-smoothing", s.label_smoothing)
        .toggle("--augment", s.augment)
        .integer("--cutout", s.cutout, 0)
        .integer("--val", s.validation, 0)
        .integer("--val-seed", s.val_seed, 0)
        .integer("--seed", s.seed, 0)
        .integer("--threads", s.threads, 1)
        .text("--out", s.out)
        .text("--init", s.init)
        .text("--resume", s.resume)
        .text("--json", s.json)
        .toggle("--quiet", s.quiet)
        .parse(argc, argv);
    if (s.warmup >= s.epochs)
        usage_error("--warmup " + std::to_string(s.warmup) + " must be below --epochs " +
                    std::to_string(s.epochs));
    return s;
}

bpr::any_schedule make_schedule(const settings& s, double lr, std::int64_t steps_per_epoch) {
    // Schedules run per iteration; milestones and warm-up are given in epochs.
    const std::int64_t warmup_steps = s.warmup * steps_per_epoch;
    const std::int64_t main_steps = (s.epochs - s.warmup) * steps_per_epoch;
    bpr::any_schedule main = bpr::constant_lr{lr};
    if (s.schedule == "cosine") main = bpr::cosine_lr{.base = lr, .min_lr = 0.0};
    if (s.schedule == "step")
        main = bpr::step_lr{
            .base = lr, .milestones = {main_steps / 2, main_steps * 3 / 4}, .gamma = 0.1};
    if (s.schedule == "onecycle") main = bpr::one_cycle_lr{.max_lr = lr};
    if (warmup_steps == 0) return main;
    return bpr::warmup<bpr::any_schedule>{main, warmup_steps, 0.0};
}

double opt_weight_decay(const auto& opt) {
    return opt.options().weight_decay;
}

// Everything after the model is built, generic over its type.
template <typename Model, typename Optimizer>
int run(const settings& s, Model& model, Optimizer& opt, const data_pair& data,
        const bpr::data::dataset& train_set, const bpr::data::dataset* validation, double lr) {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();

    const bpr::data::normalization norm = bpr::data::compute_normalization(train_set);
    bpr::data::loader_options loader{
        .batch_size = s.batch, .shuffle = true, .seed = s.seed, .norm = norm};
    if (s.augment) loader.augment = standard_augmentation(train_set);
    loader.augment.cutout = s.cutout;
    bpr::data::batch_loader train(train_set, loader);

    const bpr::any_schedule schedule = make_schedule(s, lr, train.batches_per_epoch());
    const std::int64_t steps_per_epoch = train.batches_per_epoch();

    // The best validation epoch so far and a copy of its weights (with --val). They
    // are part of every checkpoint, so a resumed run picks the same best epoch.
    std::int64_t best_epoch = -1;
    double best_accuracy = 0.0;
    Model best_model = model;

    // Resuming: weights, optimizer state, the epoch and the best epoch come from the
    // checkpoint; the batch order, augmentation and schedule depend only on (seed,
    // epoch), so the run continues exactly as if it had not stopped.
    std::int64_t start_epoch = 0;
    if (!s.init.empty()) {
        bpr::load_checkpoint(s.init, model);
        best_model = model;
        if (s.resume.empty()) std::printf("weights from %s\n", s.init.c_str());
    }
    if (!s.resume.empty()) {
        const bpr::checkpoint_file file(s.resume);
        const bpr::checkpoint_info info = file.info();
        BPR_REQUIRE(info.epoch >= 0 && info.epoch <= s.epochs, s.resume,
                    ": section 'meta' field 'epoch' is ", info.epoch, ", outside [0, --epochs ",
                    s.epochs, "]");
        if (validation != nullptr && file.has_section("best_meta")) {
            best_epoch = file.integer("best_meta", "epoch");
            best_accuracy = file.real("best_meta", "val_accuracy");
            file.load_model_tensors("best", best_model);
        } else if (validation != nullptr && info.epoch > 0) {
            std::printf(
                "note: %s holds no best epoch (older file): best-epoch tracking "
                "restarts at epoch %lld\n",
                s.resume.c_str(), static_cast<long long>(info.epoch + 1));
        }
        file.load_model(model, opt);
        start_epoch = info.epoch;
        std::printf("resumed from %s after epoch %lld\n", s.resume.c_str(),
                    static_cast<long long>(start_epoch));
    }
    // Two sections: "best" holds only tensors named like the model's (load_tensors
    // matches every entry against the model), "best_meta" the epoch and its accuracy.
    auto best_sections = [&] {
        bpr::checkpoint_section meta("best_meta");
        meta.add("epoch", best_epoch);
        meta.add("val_accuracy", best_accuracy);
        return std::vector<bpr::checkpoint_section>{meta,
                                                    bpr::model_tensors_section("best", best_model)};
    };
    // The split and normalization go with the weights, so that bpr-prune, bpr-regrow
    // and bpr-infer validate on images this model never saw and scale inputs alike.
    const bpr::checkpoint_section data_record =
        bpr::data_section({.total_images = train_set.size() + (validation ? validation->size() : 0),
                           .validation = s.validation,
                           .val_seed = s.val_seed,
                           .norm = norm});
    auto save = [&](std::int64_t epoch) {
        const bpr::checkpoint_info info{.epoch = epoch, .step = epoch * steps_per_epoch};
        std::vector<bpr::checkpoint_section> extra{data_record};
        if (validation != nullptr && best_epoch >= 0) {
            const auto best = best_sections();
            extra.insert(extra.end(), best.begin(), best.end());
        }
        bpr::save_checkpoint(s.out, model, opt, info,
                             std::span<const bpr::checkpoint_section>(extra));
    };

    bpr::fit_options options{.epochs = s.epochs,
                             .start_epoch = start_epoch,
                             .schedule_by = bpr::schedule_unit::iteration,
                             .label_smoothing = s.label_smoothing,
                             .validation = validation,
                             .restore_best = false,  // tracked here, to survive a resume
                             .progress = s.quiet ? nullptr : stdout};
    // A checkpoint after every epoch, so an interrupted run can be resumed.
    bpr::fit_callbacks callbacks;
    callbacks.on_epoch_end = [&](const bpr::epoch_metrics& m) {
        if (m.validation && (best_epoch < 0 || m.validation->accuracy > best_accuracy)) {
            best_epoch = m.epoch;
            best_accuracy = m.validation->accuracy;
            best_model = model;
        }
        if (!s.out.empty()) save(m.epoch + 1);
        return bpr::train_control::proceed;
    };
    bpr::fit_result result = bpr::fit(model, opt, schedule, train, options, callbacks);
    if (best_epoch >= 0) {
        model = best_model;  // the best validation epoch's weights
        result.best_epoch = best_epoch;
        result.best_validation_accuracy = best_accuracy;
    }

    // The test set is touched once, here, after all choices are made.
    const bpr::eval_result test = bpr::evaluate(model, data.test, 256, norm);
    const double seconds = std::chrono::duration<double>(clock::now() - start).count();
    std::printf("test accuracy %.2f%%  test loss %.4f", 100.0 * test.accuracy, test.loss);
    if (result.best_epoch >= 0)
        std::printf("  (weights of epoch %lld, best validation accuracy %.2f%%)",
                    static_cast<long long>(result.best_epoch + 1),
                    100.0 * result.best_validation_accuracy);
    std::printf("\n%lld epochs in %s, %.0f training images/s\n",
                static_cast<long long>(result.history.size()),
                bpr::format_duration(seconds).c_str(), result.images_per_second);

    if (!s.out.empty()) {
        // The final weights (the best epoch's with --val), marked as a finished run.
        save(s.epochs);
        std::printf("checkpoint written to %s\n", s.out.c_str());
    }
    if (!s.json.empty()) {
        bpr::json_object summary;
        summary.set("model", s.model)
            .set("data", s.data)
            .set("train_images", static_cast<std::int64_t>(s.train_images))
            .set("test_images", static_cast<std::int64_t>(s.test_images))
            .set("test_accuracy", test.accuracy)
            .set("test_loss", test.loss);
        if (result.best_epoch >= 0) {
            summary.set("val_accuracy", result.best_validation_accuracy)
                .set("best_epoch", result.best_epoch + 1);
        } else {
            summary.set("val_accuracy", std::numeric_limits<double>::quiet_NaN());
        }
        std::vector<bpr::json_object> history;
        for (const auto& m : result.history) {
            bpr::json_object epoch;
            epoch.set("epoch", m.epoch + 1)
                .set("train_loss", m.train_loss)
                .set("train_accuracy", m.train_accuracy)
                .set("lr", m.lr)
                .set("seconds", m.seconds);
            if (m.validation) epoch.set("val_accuracy", m.validation->accuracy);
            history.push_back(epoch);
        }
        summary.set("epochs", s.epochs)
            .set("epochs_run", static_cast<std::int64_t>(result.history.size()))
            .set("resumed_from", s.resume)
            .set("initialised_from", s.init)
            .set("seconds", seconds)
            .set("images_per_second", result.images_per_second)
            .set("params", static_cast<std::int64_t>(bpr::count_params(model)))
            .set("optimizer", s.optimizer)
            .set("lr", lr)
            .set("momentum", s.momentum)
            .set("weight_decay", opt_weight_decay(opt))
            .set("schedule", s.schedule)
            .set("warmup", s.warmup)
            .set("batch", static_cast<std::int64_t>(s.batch))
            .set("augment", s.augment)
            .set("cutout", s.cutout)
            .set("validation_images", static_cast<std::int64_t>(s.validation))
            .set("val_seed", static_cast<std::int64_t>(s.val_seed))
            .set("seed", static_cast<std::int64_t>(s.seed))
            .set("threads", s.threads)
            .set("history", history);
        bpr::write_file_atomically(s.json, summary.str() + "\n");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const settings s = parse(argc, argv);
    try {
        bpr::set_threads(s.threads);
        data_pair data = load_data(s.data);
        data.train = spread_images(std::move(data.train), s.train_images);
        data.test = spread_images(std::move(data.test), s.test_images);
        const model_input input = model_input_of(data, s.data);
        if (s.validation >= data.train.size())
            usage_error("--val " + std::to_string(s.validation) + " leaves no training images (" +
                        std::to_string(data.train.size()) + " in " + s.data + ")");

        // The validation split is carved from the training set, seeded.
        std::optional<bpr::data::split_result> parts;
        if (s.validation > 0) parts = bpr::data::split(data.train, s.validation, s.val_seed);
        const bpr::data::dataset& train_set = parts ? parts->train : data.train;
        const bpr::data::dataset* validation = parts ? &parts->validation : nullptr;

        std::printf(
            "bpr-train: %s on %s (%lld train%s, %lld test images, %d classes), %d threads\n",
            s.model.c_str(), s.data.c_str(), static_cast<long long>(train_set.size()),
            validation ? (", " + std::to_string(validation->size()) + " validation").c_str() : "",
            static_cast<long long>(data.test.size()), input.classes, s.threads);

        return with_zoo_model(s.model, input, [&](auto& model) {
            bpr::rng generator(s.seed);
            // LeNet-5 as PyTorch initialises it by default; the deep nets with He init.
            bpr::initialize(model, generator, bpr::models::default_init_scheme(s.model));
            std::printf("model: %lld parameters\n",
                        static_cast<long long>(bpr::count_params(model)));
            if (s.optimizer == "adamw") {
                const double lr = s.lr.value_or(1e-3);
                bpr::adamw<float> opt({.lr = lr, .weight_decay = s.weight_decay.value_or(0.05)});
                return run(s, model, opt, data, train_set, validation, lr);
            }
            const double lr = s.lr.value_or(0.05);
            bpr::sgd<float> opt({.lr = lr,
                                 .momentum = s.momentum,
                                 .nesterov = s.nesterov,
                                 .weight_decay = s.weight_decay.value_or(5e-4)});
            return run(s, model, opt, data, train_set, validation, lr);
        });
    } catch (const bpr::error& e) {
        std::fprintf(stderr, "bpr-train: %s\n", e.what());
        return 1;
    }
}
