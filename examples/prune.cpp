// bpr-prune: prune a trained model to a hardware budget, fine-tune, export it sparse.
//
//   bpr-prune --model lenet5 --budget 95%                    # trains LeNet-5 first
//   bpr-prune --model lenet5 --checkpoint lenet.ckpt --budget 48KiB --format csr16
//             --allocation lamp --schedule iterative --finetune-epochs 1 --out l.bprs
//
// The recipe, top to bottom: parse flags; load the data and carve a seeded validation
// split out of the training set (every choice by accuracy uses it, the test set is
// touched once at the end); load the dense checkpoint or train one; prune with the
// chosen criterion x allocation x schedule, fine-tuning after every round with the
// masks' gradient hook; evaluate; write the sparse file, the report and the summary.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/data/batch_loader.hpp"
#include "bpr/data/split.hpp"
#include "bpr/data/transforms.hpp"
#include "bpr/io/atomic_file.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/io/json.hpp"
#include "bpr/io/sparse_model.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/models/catalog.hpp"
#include "bpr/nn/models/lenet.hpp"
#include "bpr/nn/models/resnet.hpp"
#include "bpr/optim.hpp"
#include "bpr/pipeline/cliff.hpp"
#include "bpr/prune.hpp"
#include "bpr/report/svg.hpp"
#include "bpr/train.hpp"
#include "common.hpp"

const char* const bpr_examples::program_name = "bpr-prune";

namespace {

using namespace bpr_examples;

const char* usage = R"(usage: bpr-prune [flags]

Prunes a trained model to a budget, fine-tunes it, and writes it in a sparse format.

  --model NAME         lenet5 (default), resnet20, resnet32, resnet56, resnet20b,
                       vgg16, densenet121, efficientnet_b0
  --data SPEC          fashion-mnist (default), fashion-mnist:DIR, cifar10:DIR,
                       folder:DIR (DIR/train/<class>/*.jpg and DIR/test/...)
  --checkpoint FILE    dense model to start from (bpr-train --out); without it, a
                       dense model is trained first (--train-epochs)
  --save-dense FILE    write the dense model trained here as a checkpoint
  --train-epochs N     dense training epochs when no checkpoint is given (default 30;
                       0 keeps the random initialisation, e.g. to check byte budgets)
  --budget TEXT        99%, 0.99, a nonzero count (615) or bytes (48KiB, 1.5MB);
                       default 90%
  --format NAME        csr16 (default) or bitmap: byte budgets, report and --out file
  --criterion NAME     magnitude (default), random, snip
  --allocation NAME    global (default), uniform, erk, lamp
  --schedule NAME      one_shot (default), iterative, gradual
  --fraction X         iterative: fraction of the remaining weights removed per round
                       (default 0.2)
  --events N           gradual: pruning events (default 10)
  --snip-batches N     snip: batches of gradients (default 4)
  --min-density X      per-layer minimum density (default 0)
  --keep-first-dense   keep the first prunable layer dense
  --keep-last-dense    keep the last prunable layer dense
  --finetune-epochs N  fine-tune epochs after each pruning round (default 2)
  --lr X               fine-tune peak learning rate, SGD momentum 0.9, cosine (default 0.01)
  --train-lr X         dense training learning rate (default 0.05)
  --wd X               weight decay (default 5e-4)
  --batch N            mini-batch size (default 128)
  --augment            random crop and flip during training
  --sparse-kernels D   convolutions whose weight density is <= D train and evaluate on
                       the sparse kernels (default 0: never); same results up to float
                       rounding, faster at high sparsity
  --val N              validation images carved from the training set (default: as
                       the checkpoint records it, else 5000)
  --val-seed N         seed of that split (default: as the checkpoint records it, else
                       1, the split of the committed checkpoints), so that the
                       validation images are ones the dense model never saw
  --seed N             seed (default 1)
  --threads N          threads (default 2)
  --out FILE           write the pruned model as a sparse model file
  --report FILE        write the per-layer report as JSON
  --json FILE          write a summary (sparsity, nonzeros, bytes, file_bytes,
                       test_accuracy, val_accuracy, dense accuracies, rounds, ...)
  --no-eval            skip all evaluation (accuracies are null): only prune and export,
                       e.g. to check byte budgets quickly
  --quiet              no per-epoch output

The accuracy cliff (a sweep instead of one budget):
  --sweep LIST         sparsities in percent, e.g. 50,80,90,95,98,99,99.5. one_shot
                       prunes the dense model afresh to each and fine-tunes it;
                       iterative and gradual walk down once to the sparsest and record
                       every round. Prints a table and the cliff (chosen on the
                       validation split) with the suggested regrowth target.
  --plot FILE          sweep: accuracy vs sparsity as an SVG plot
  --csv FILE           sweep: one row per point
)";

struct settings {
    std::string model = "lenet5", data = "fashion-mnist", checkpoint, save_dense;
    std::int64_t train_epochs = 30, finetune_epochs = 2;
    std::string budget = "90%", format = "csr16", criterion = "magnitude", allocation = "global",
                schedule = "one_shot";
    double fraction = 0.2, min_density = 0.0, lr = 0.01, train_lr = 0.05, wd = 5e-4;
    double sparse_kernels = 0.0;
    int events = 10;
    std::int64_t snip_batches = 4;
    bool keep_first_dense = false, keep_last_dense = false, augment = false, quiet = false,
         no_eval = false;
    bpr::index_t batch = 128;
    std::optional<bpr::index_t> validation;  // unset: choose_split decides
    std::optional<std::uint64_t> val_seed;
    std::uint64_t seed = 1;
    int threads = 2;
    std::string out, report, json;
    std::vector<double> sweep;  // sparsities as fractions; empty: prune to --budget once
    std::string plot, csv;
};

// "50,90,99.5" (percent) -> {0.5, 0.9, 0.995}, ascending.
std::vector<double> parse_sweep(const std::string& flag, const std::string& text) {
    std::vector<double> sparsities;
    std::size_t begin = 0;
    while (begin <= text.size()) {
        const std::size_t end = std::min(text.find(',', begin), text.size());
        const double percent = parse_number(flag, text.substr(begin, end - begin));
        if (!(percent > 0 && percent < 100))
            usage_error(flag + ": sparsity " + text.substr(begin, end - begin) +
                        "% is outside (0, 100)");
        sparsities.push_back(percent / 100);
        begin = end + 1;
    }
    std::sort(sparsities.begin(), sparsities.end());
    sparsities.erase(std::unique(sparsities.begin(), sparsities.end()), sparsities.end());
    return sparsities;
}

settings parse(int argc, char** argv) {
    settings s;
    flag_table(usage)
        .text("--model", s.model, zoo_model_names())
        .text("--data", s.data)
        .text("--checkpoint", s.checkpoint)
        .text("--save-dense", s.save_dense)
        .integer("--train-epochs", s.train_epochs, 0)
        .text("--budget", s.budget)
        .text("--format", s.format, {"csr16", "bitmap"})
        .text("--criterion", s.criterion, {"magnitude", "random", "snip"})
        .text("--allocation", s.allocation, {"global", "uniform", "erk", "lamp"})
        .text("--schedule", s.schedule, {"one_shot", "iterative", "gradual"})
        .number("--fraction", s.fraction)
        .integer("--events", s.events, 1)
        .integer("--snip-batches", s.snip_batches, 1)
        .number("--min-density", s.min_density)
        .toggle("--keep-first-dense", s.keep_first_dense)
        .toggle("--keep-last-dense", s.keep_last_dense)
        .integer("--finetune-epochs", s.finetune_epochs, 0)
        .number("--lr", s.lr)
        .number("--train-lr", s.train_lr)
        .number("--wd", s.wd)
        .integer("--batch", s.batch, 1)
        .toggle("--augment", s.augment)
        .number("--sparse-kernels", s.sparse_kernels)
        .integer("--val", s.validation, 0)
        .integer("--val-seed", s.val_seed, 0)
        .integer("--seed", s.seed, 0)
        .integer("--threads", s.threads, 1)
        .text("--out", s.out)
        .text("--report", s.report)
        .text("--json", s.json)
        .toggle("--quiet", s.quiet)
        .toggle("--no-eval", s.no_eval)
        .custom("--sweep",
                [&s](const std::string& value) { s.sweep = parse_sweep("--sweep", value); })
        .text("--plot", s.plot)
        .text("--csv", s.csv)
        .parse(argc, argv);
    if (s.sparse_kernels < 0 || s.sparse_kernels > 1)
        usage_error("--sparse-kernels must be a density in [0, 1], got " +
                    std::to_string(s.sparse_kernels));
    if (s.sweep.empty() && !(s.plot.empty() && s.csv.empty()))
        usage_error("--plot and --csv need --sweep");
    if (!s.sweep.empty() && (s.no_eval || !s.out.empty() || !s.report.empty()))
        usage_error(
            "--sweep measures accuracy at many budgets: it cannot be combined with "
            "--no-eval, --out or --report");
    return s;
}

// Everything that does not depend on the pruning types.
template <typename Model>
struct context {
    const settings& s;
    Model& model;
    const bpr::data::dataset& train_set;
    const bpr::data::dataset& validation;
    const bpr::data::dataset& test_set;
    bpr::data::normalization norm;

    bpr::data::loader_options loader_options(bool shuffle) const {
        bpr::data::loader_options o{
            .batch_size = s.batch, .shuffle = shuffle, .seed = s.seed, .norm = norm};
        if (s.augment && shuffle) o.augment = standard_augmentation(train_set);
        return o;
    }

    // SGD momentum 0.9 with a cosine schedule from `lr`; masks (if any) hook the
    // gradients, and validation picks the best epoch.
    template <typename Masks>
    bpr::fit_result train(std::int64_t epochs, double lr, const Masks* masks,
                          std::uint64_t round_seed) {
        bpr::data::loader_options o = loader_options(true);
        o.seed = s.seed + round_seed;
        bpr::data::batch_loader loader(train_set, o);
        bpr::sgd<float> opt(
            {.lr = lr, .momentum = 0.9, .weight_decay = s.wd, .decay = bpr::decay_scope::all});
        bpr::fit_callbacks hooks;
        if (masks) {
            hooks.after_backward = [&](const bpr::step_info&) { masks->mask_grads(model); };
            hooks.after_step = [&](const bpr::step_info&) { masks->apply(model); };
            masks->restrict_gradients(model);  // pruned weights need no gradient
        }
        struct release {
            const Masks* masks;
            Model& model;
            ~release() {
                if (masks) masks->release_gradients(model);  // SNIP scores need them all
            }
        } release_on_exit{masks, model};
        bpr::fit_options options{.epochs = epochs,
                                 .schedule_by = bpr::schedule_unit::iteration,
                                 .validation = validation.empty() ? nullptr : &validation,
                                 .restore_best = !validation.empty(),
                                 .progress = s.quiet ? nullptr : stdout};
        return bpr::fit(model, opt, bpr::cosine_lr{.base = lr, .min_lr = 0.0}, loader, options,
                        hooks);
    }

    double validation_accuracy() {
        if (validation.empty() || s.no_eval) return std::numeric_limits<double>::quiet_NaN();
        return bpr::evaluate(model, validation, 256, norm).accuracy;
    }
};

// The settings and dense accuracies every --json summary starts with.
bpr::json_object run_summary(const settings& s, double dense_val, double dense_test) {
    bpr::json_object j;
    j.set("model", s.model)
        .set("data", s.data)
        .set("format", s.format)
        .set("criterion", s.criterion)
        .set("allocation", s.allocation)
        .set("schedule", s.schedule)
        .set("sparse_kernels", s.sparse_kernels)
        .set("finetune_epochs_per_round", s.finetune_epochs)
        .set("lr", s.lr)
        .set("seed", static_cast<std::int64_t>(s.seed))
        .set("threads", s.threads)
        .set("dense_test_accuracy", dense_test)
        .set("dense_val_accuracy", dense_val);
    return j;
}

// The chosen pruner behind one signature: the criterion x allocation x schedule types
// are composed at compile time (bpr::pruner), but the program picks them from flags,
// so each combination is compiled once here and everything after is shared code.
using fine_tune_hook = std::function<void(std::size_t round, const bpr::mask_set<>& masks)>;
template <typename Model>
using prune_method = std::function<bpr::prune_result(Model&, bpr::mask_set<>&, const bpr::budget&,
                                                     const fine_tune_hook&)>;

template <typename Model>
int prune_and_report(context<Model>& ctx, const prune_method<Model>& prune, double dense_val,
                     double dense_test, double start_seconds) {
    const settings& s = ctx.s;
    using clock = std::chrono::steady_clock;
    const auto begin = clock::now();
    const bpr::storage_format format = bpr::parse_format(s.format);
    const bpr::budget budget = bpr::budget::parse(s.budget, format);

    auto masks = bpr::mask_set<>::dense(ctx.model);
    std::vector<bpr::json_object> rounds;
    const auto result =
        prune(ctx.model, masks, budget, [&](std::size_t round, const bpr::mask_set<>& m) {
            std::printf("round %zu: %lld nonzeros, sparsity %.4f%%\n", round + 1,
                        static_cast<long long>(m.nonzeros()), 100.0 * m.sparsity());
            bpr::json_object r;
            r.set("round", static_cast<std::int64_t>(round + 1))
                .set("nonzeros", static_cast<std::int64_t>(m.nonzeros()))
                .set("sparsity", m.sparsity())
                .set("val_accuracy_pruned", ctx.validation_accuracy());
            if (s.finetune_epochs > 0) ctx.train(s.finetune_epochs, s.lr, &m, 1000 + round);
            r.set("val_accuracy", ctx.validation_accuracy());
            rounds.push_back(r);
        });
    const double prune_seconds = std::chrono::duration<double>(clock::now() - begin).count();

    // The test set, once.
    const double val = ctx.validation_accuracy();
    const double test = s.no_eval ? std::numeric_limits<double>::quiet_NaN()
                                  : bpr::evaluate(ctx.model, ctx.test_set, 256, ctx.norm).accuracy;
    const auto report = bpr::make_sparsity_report(ctx.model, masks, format);
    report.print(std::cout);
    if (s.no_eval)
        std::printf("accuracies not measured (--no-eval)\n");
    else
        std::printf("dense: val %.2f%% test %.2f%%   pruned: val %.2f%% test %.2f%%\n",
                    100 * dense_val, 100 * dense_test, 100 * val, 100 * test);

    std::int64_t file_bytes = -1;
    if (!s.out.empty()) {
        file_bytes =
            static_cast<std::int64_t>(bpr::write_sparse_model(s.out, ctx.model, masks, format));
        std::printf("sparse model written to %s: %lld bytes (%lld + %zu header)\n", s.out.c_str(),
                    static_cast<long long>(file_bytes), static_cast<long long>(report.bytes),
                    bpr::sparse_header_bytes);
    }
    if (!s.report.empty()) bpr::write_file_atomically(s.report, report.to_json().str() + "\n");
    if (!s.json.empty()) {
        bpr::json_object j = run_summary(s, dense_val, dense_test);
        j.set("budget", s.budget)
            .set("sparsity", report.sparsity)
            .set("nonzeros", static_cast<std::int64_t>(report.nonzeros))
            .set("prunable", static_cast<std::int64_t>(report.prunable))
            .set("bytes", static_cast<std::int64_t>(report.bytes))
            .set("file_bytes", file_bytes)
            .set("header_bytes", static_cast<std::int64_t>(bpr::sparse_header_bytes))
            .set("budget_nonzeros", static_cast<std::int64_t>(result.budget.nonzeros))
            .set("test_accuracy", test)
            .set("val_accuracy", val)
            .set("prune_seconds", prune_seconds)
            .set("dense_seconds", start_seconds)
            .set("rounds", rounds);
        bpr::write_file_atomically(s.json, j.str() + "\n");
    }
    return 0;
}

// One point of the accuracy-vs-sparsity curve.
struct sweep_row {
    double sparsity = 0;
    std::int64_t nonzeros = 0, bytes = 0;
    double val = 0, test = 0;
};

std::string decimal(double value, int digits) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", digits, value);
    return text;
}

// Sparsity s drawn at -log10(1 - s), so that 90%, 99% and 99.9% are evenly spaced:
// the cliff lives in the last few percent, which a linear axis squeezes into a corner.
double density_axis(double sparsity) {
    return -std::log10(std::max(1.0 - sparsity, 1e-6));
}

void write_sweep_plot(const settings& s, const std::vector<sweep_row>& rows,
                      const bpr::cliff_result& cliff, double dense_val, double dense_test) {
    bpr::svg_plot plot;
    plot.title = s.model + ": accuracy vs sparsity (" + s.schedule + ", " + s.criterion + ", " +
                 s.allocation + ")";
    plot.x_label = "sparsity (log scale of the weights kept)";
    plot.y_label = "accuracy (%)";
    plot.x_min = 0;
    for (const double t : {0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999})
        plot.x_ticks.emplace_back(density_axis(t), decimal(100 * t, t < 0.99 ? 0 : 1) + "%");
    bpr::svg_series test{
        .name = "test", .points = {}, .marker = bpr::svg_marker::circle, .color = "#1f77b4"};
    bpr::svg_series val{
        .name = "validation", .points = {}, .marker = bpr::svg_marker::square, .color = "#ff7f0e"};
    test.points.emplace_back(0.0, 100 * dense_test);
    val.points.emplace_back(0.0, 100 * dense_val);
    for (const auto& r : rows) {
        test.points.emplace_back(density_axis(r.sparsity), 100 * r.test);
        val.points.emplace_back(density_axis(r.sparsity), 100 * r.val);
    }
    plot.add(test).add(val);
    if (cliff.found)
        plot.add({.name = "cliff (validation)",
                  .points = {{density_axis(cliff.cliff_sparsity), 100 * rows[cliff.index - 1].val}},
                  .marker = bpr::svg_marker::cross,
                  .color = "#d62728",
                  .line = false});
    plot.write(s.plot);
}

// --sweep: the accuracy cliff of one pruning method. one_shot prunes the dense model
// afresh to every sparsity; iterative and gradual walk down once to the sparsest one
// and every round is a point. Every point gets the same fine-tuning (--finetune-epochs
// per round) and is evaluated on validation (where the cliff is chosen) and on test
// (reported, never chosen on).
template <typename Model>
int sweep_and_report(context<Model>& ctx, const prune_method<Model>& prune, double dense_val,
                     double dense_test) {
    const settings& s = ctx.s;
    using clock = std::chrono::steady_clock;
    const auto begin = clock::now();
    const bpr::storage_format format = bpr::parse_format(s.format);
    std::vector<sweep_row> rows;
    std::printf("%9s %9s %9s %9s %9s %8s\n", "sparsity", "nonzeros", "bytes", "val_acc", "test_acc",
                "seconds");
    std::printf("%8.3f%% %9lld %9s %8.2f%% %8.2f%% %8s\n", 0.0,
                static_cast<long long>(bpr::mask_set<>::dense(ctx.model).nonzeros()), "-",
                100 * dense_val, 100 * dense_test, "-");
    auto measure = [&](const bpr::mask_set<>& masks) {
        const auto report = bpr::make_sparsity_report(ctx.model, masks, format);
        sweep_row row{.sparsity = report.sparsity,
                      .nonzeros = static_cast<std::int64_t>(report.nonzeros),
                      .bytes = static_cast<std::int64_t>(report.bytes),
                      .val = ctx.validation_accuracy(),
                      .test = bpr::evaluate(ctx.model, ctx.test_set, 256, ctx.norm).accuracy};
        rows.push_back(row);
        std::printf("%8.3f%% %9lld %9lld %8.2f%% %8.2f%% %8.1f\n", 100 * row.sparsity,
                    static_cast<long long>(row.nonzeros), static_cast<long long>(row.bytes),
                    100 * row.val, 100 * row.test,
                    std::chrono::duration<double>(clock::now() - begin).count());
        std::fflush(stdout);
    };
    auto fine_tune = [&](std::size_t round, const bpr::mask_set<>& masks) {
        if (s.finetune_epochs > 0) ctx.train(s.finetune_epochs, s.lr, &masks, 1000 + round);
    };

    if (s.schedule == "one_shot") {
        const Model dense = ctx.model;
        for (const double target : s.sweep) {
            ctx.model = dense;
            auto masks = bpr::mask_set<>::dense(ctx.model);
            prune(ctx.model, masks, bpr::budget::sparsity(target), fine_tune);
            measure(masks);
        }
    } else {
        auto masks = bpr::mask_set<>::dense(ctx.model);
        prune(ctx.model, masks, bpr::budget::sparsity(s.sweep.back()),
              [&](std::size_t round, const bpr::mask_set<>& m) {
                  fine_tune(round, m);
                  measure(m);
              });
    }

    // The cliff is chosen on validation (the test set only reports); without a
    // validation split there is nothing honest to choose on.
    std::vector<bpr::sweep_point> points{{0.0, dense_val}};
    for (const auto& r : rows)
        points.push_back({r.sparsity, r.val});
    bpr::cliff_result cliff;
    const bool can_choose = !ctx.validation.empty() && points.size() >= 4;
    if (can_choose) cliff = bpr::find_cliff(points);
    if (!can_choose)
        std::printf("cliff: not chosen (needs a validation split, --val, and >= 3 sweep points)\n");
    else if (cliff.found)
        std::printf(
            "cliff (validation): accuracy falls steeply from %.3f%% sparsity; suggested "
            "regrowth target: %.3f%%\n",
            100 * cliff.cliff_sparsity, 100 * cliff.suggested_target);
    else
        std::printf("cliff (validation): none found up to %.3f%% sparsity\n",
                    100 * rows.back().sparsity);

    if (!s.csv.empty()) {
        std::string csv = "sparsity,nonzeros,bytes,val_accuracy,test_accuracy\n";
        for (const auto& r : rows)
            csv += decimal(r.sparsity, 6) + "," + std::to_string(r.nonzeros) + "," +
                   std::to_string(r.bytes) + "," + decimal(r.val, 6) + "," + decimal(r.test, 6) +
                   "\n";
        bpr::write_file_atomically(s.csv, csv);
    }
    if (!s.plot.empty()) write_sweep_plot(s, rows, cliff, dense_val, dense_test);
    if (!s.json.empty()) {
        std::vector<bpr::json_object> sweep;
        for (const auto& r : rows) {
            bpr::json_object j;
            j.set("sparsity", r.sparsity)
                .set("nonzeros", r.nonzeros)
                .set("bytes", r.bytes)
                .set("val_accuracy", r.val)
                .set("test_accuracy", r.test);
            sweep.push_back(j);
        }
        bpr::json_object c;
        c.set("chosen_on", can_choose ? "validation" : "none")
            .set("found", cliff.found)
            .set("cliff_sparsity", can_choose ? cliff.cliff_sparsity : -1.0)
            .set("suggested_target", can_choose ? cliff.suggested_target : -1.0);
        bpr::json_object j = run_summary(s, dense_val, dense_test);
        j.set("fraction", s.fraction)
            .set("seconds", std::chrono::duration<double>(clock::now() - begin).count())
            .set("sweep", sweep)
            .set("cliff", c);
        bpr::write_file_atomically(s.json, j.str() + "\n");
    }
    return 0;
}

// Turns the criterion/allocation/schedule names into types, composed into a pruner.
template <typename Model>
prune_method<Model> make_prune_method(const settings& s, context<Model>& ctx,
                                      bpr::data::batch_loader& snip_loader) {
    const bpr::prune_guards guards{.min_density = s.min_density,
                                   .keep_first_dense = s.keep_first_dense,
                                   .keep_last_dense = s.keep_last_dense};
    auto compose = [&](auto criterion, auto allocation, auto schedule) -> prune_method<Model> {
        bpr::pruner<decltype(criterion), decltype(allocation), decltype(schedule)> p(
            std::move(criterion), allocation, schedule, guards);
        return [p](Model& model, bpr::mask_set<>& masks, const bpr::budget& budget,
                   const fine_tune_hook& fine_tune) mutable {
            return p.run(model, masks, budget, fine_tune);
        };
    };
    auto with_schedule = [&](auto criterion, auto allocation) {
        if (s.schedule == "iterative")
            return compose(criterion, allocation, bpr::iterative{.fraction = s.fraction});
        if (s.schedule == "gradual")
            return compose(criterion, allocation, bpr::gradual{.events = s.events});
        return compose(criterion, allocation, bpr::one_shot{});
    };
    auto with_allocation = [&](auto criterion) {
        if (s.allocation == "uniform") return with_schedule(criterion, bpr::uniform_allocation{});
        if (s.allocation == "erk") return with_schedule(criterion, bpr::erk_allocation{});
        if (s.allocation == "lamp") return with_schedule(criterion, bpr::lamp_allocation{});
        return with_schedule(criterion, bpr::global_allocation{});
    };
    if (s.criterion == "random") return with_allocation(bpr::random_score{.seed = s.seed});
    if (s.criterion == "snip") {
        // Gradients of the first batches of the (unshuffled) training data.
        bpr::snip criterion{.gradients =
                                [&ctx, &snip_loader](std::size_t b) {
                                    bpr::data::batch batch;
                                    snip_loader.load(static_cast<bpr::index_t>(b), batch);
                                    bpr::tensor<float> logits, grad, grad_in;
                                    bpr::softmax_cross_entropy<float> loss;
                                    ctx.model.forward(batch.images, logits, bpr::mode::train);
                                    loss.forward(logits, batch.labels);
                                    loss.backward(grad);
                                    ctx.model.backward(batch.images, logits, grad, grad_in);
                                },
                            .batches = static_cast<std::size_t>(std::min<std::int64_t>(
                                s.snip_batches, snip_loader.batches_per_epoch()))};
        return with_allocation(criterion);
    }
    return with_allocation(bpr::magnitude{});
}

template <typename Model>
int run(const settings& s, Model model, const data_pair& data,
        std::chrono::steady_clock::time_point begin) {
    using clock = std::chrono::steady_clock;
    // The dense checkpoint, parsed once: its record of the split, then its weights.
    std::optional<bpr::checkpoint_file> dense;
    if (!s.checkpoint.empty()) dense.emplace(s.checkpoint);
    const split_choice split =
        choose_split(dense ? &*dense : nullptr, data.train.size(), s.validation, s.val_seed);
    if (split.validation >= data.train.size())
        usage_error("--val " + std::to_string(split.validation) + " leaves no training images (" +
                    std::to_string(data.train.size()) + ")");
    const auto parts = bpr::data::split(data.train, split.validation, split.val_seed);
    bpr::set_sparse_density(model, s.sparse_kernels);
    context<Model> ctx{
        s, model, parts.train, parts.validation, data.test, split.normalization(parts.train)};

    if (dense) {
        dense->load_model(model);
        dense.reset();  // the weights are in the model now
        std::printf("dense model loaded from %s\n", s.checkpoint.c_str());
    } else {
        bpr::rng generator(s.seed);
        // As bpr-train: LeNet-5 as PyTorch initialises it, ResNet-20 with He init.
        bpr::initialize(model, generator, bpr::models::default_init_scheme(s.model));
        std::printf("training the dense model for %lld epochs\n",
                    static_cast<long long>(s.train_epochs));
        if (s.train_epochs > 0)
            ctx.train(s.train_epochs, s.train_lr, static_cast<const bpr::mask_set<>*>(nullptr), 0);
        if (!s.save_dense.empty()) {
            bpr::save_checkpoint(s.save_dense, model);
            std::printf("dense checkpoint written to %s\n", s.save_dense.c_str());
        }
    }
    const double dense_seconds = std::chrono::duration<double>(clock::now() - begin).count();
    const double dense_val = ctx.validation_accuracy();
    const double dense_test = s.no_eval ? std::numeric_limits<double>::quiet_NaN()
                                        : bpr::evaluate(model, data.test, 256, ctx.norm).accuracy;

    bpr::data::batch_loader snip_loader(parts.train, ctx.loader_options(false));
    const prune_method<Model> prune = make_prune_method(s, ctx, snip_loader);
    if (!s.sweep.empty()) return sweep_and_report(ctx, prune, dense_val, dense_test);
    return prune_and_report(ctx, prune, dense_val, dense_test, dense_seconds);
}

}  // namespace

int main(int argc, char** argv) {
    const settings s = parse(argc, argv);
    bpr::set_threads(s.threads);
    try {
        // The model is built for the data: any channel count, image size and class count.
        const auto begin = std::chrono::steady_clock::now();  // dense_seconds includes loading
        const data_pair data = load_data(s.data);
        const model_input in = model_input_of(data, s.data);
        return with_zoo_model(s.model, in,
                              [&](auto& model) { return run(s, std::move(model), data, begin); });
    } catch (const bpr::error& e) {
        std::fprintf(stderr, "bpr-prune: %s\n", e.what());
        return 1;
    }
}
