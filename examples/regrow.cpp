// bpr-regrow: prune a trained model to an extreme budget, then regrow the most
// critical connections in steps up to a target, fine-tuning between steps.
//
//   bpr-regrow                                   # the embedded default (Fashion-MNIST,
//                                                # LeNet-5, 99.2% -> 99%), < 10 min
//   bpr-regrow --budget 99.5% --target 98% --steps 4 --score taylor --init dense
//   bpr-regrow --data cifar10:DIR --model resnet20 --checkpoint r20.ckpt --budget 48KiB
//   bpr-regrow --resume                          # continue a killed run from regrow-out/
//
// The recipe, top to bottom: parse flags; load the data and carve a seeded validation
// split (5,000 images) out of the training set: every choice uses it, the test set is
// only reported; load the dense checkpoint (or train one and say so); compose the
// pipeline from the chosen types; run it; write the trajectory (CSV, JSON, SVG), the
// final sparse model and summary.json; print the trajectory as a table. Along the way,
// a checkpoint (--out/state.ckpt) after every pruning or regrowth step and every
// fine-tune epoch lets --resume continue a killed run, bit-identical with --threads 1.
//
// The flags choose among many criteria, allocations, scores and inits. Instantiating
// the pipeline for every combination would compile hundreds of variants, so each
// choice is a small "runtime choice" type that satisfies the same concept as the
// library's types and forwards to one of them: a concept is a contract, not a list.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
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
#include "bpr/pipeline.hpp"
#include "bpr/pipeline/resume.hpp"
#include "bpr/train.hpp"
#include "common.hpp"

#ifndef BPR_SOURCE_DIR
#define BPR_SOURCE_DIR "."
#endif

const char* const bpr_examples::program_name = "bpr-regrow";

namespace {

using namespace bpr_examples;

const char* usage = R"(usage: bpr-regrow [flags]

Bidirectional pruning-regrowth: prunes a trained model to a budget, then regrows the
most critical weights in steps up to a target, fine-tuning after each step.

  --data SPEC            fashion-mnist (default), fashion-mnist:DIR, cifar10:DIR,
                         folder:DIR (DIR/train/<class>/*, DIR/test/<class>/*)
  --model NAME           lenet5 (default), resnet20, resnet32, resnet56, resnet20b,
                         vgg16, densenet121, efficientnet_b0
  --checkpoint FILE      dense model to start from; default: the committed one in
                         models/ for lenet5 or resnet20 on Fashion-MNIST and resnet20
                         on CIFAR-10 (trained on the JPEG copy); otherwise a dense
                         model is trained first (--train-epochs)
  --train-epochs N       dense training when there is no checkpoint (default 15)
  --prune MODE           iterative (default) or one_shot
  --fraction X           iterative: fraction of remaining weights removed per round (0.8)
  --criterion NAME       magnitude (default), random, snip
  --allocation NAME      pruning allocation: global, uniform, erk, lamp (default)
  --min-density X        per-layer minimum density (default 0)
  --keep-first-dense     keep the first prunable layer dense
  --keep-last-dense      keep the last prunable layer dense
  --budget TEXT          what the hardware accepts: 99.2% (default), 0.992, a nonzero
                         count (492) or bytes in --format (4KiB)
  --target TEXT          where regrowth stops, same kinds (default 99%)
  --format NAME          csr16 (default) or bitmap
  --steps N              regrowth steps (default 2)
  --finetune-epochs N    fine-tune epochs after each regrowth step (default 1)
  --prune-finetune-epochs N  after each pruning round (default 1)
  --score NAME           taylor (|w0 g|, default), gradient (RigL), momentum (SNFS),
                         dense (g^2 w0^2 on the dense model), random (SET)
  --exchange X           each regrowth step first prunes this fraction of the alive
                         weights again (--criterion, --allocation) and regrows them
                         too: drop-and-grow (default 0: regrowth only adds)
  --score-batches N      batches of gradients per score (default 8)
  --init NAME            zero (default), dense (pre-pruning value), kaiming
  --init-scale X         kaiming: scale of the draws (default 0.1)
  --regrow-allocation NAME  top_k, proportional, capped (default: capped top-k)
  --max-share X          capped: most of one step a layer may take (default 0.5)
  --max-density X        no layer regrows above this density (default 1)
  --lr X                 fine-tune peak learning rate, SGD momentum 0.9, cosine (0.1)
  --train-lr X           dense training learning rate (default 0.05)
  --wd X                 weight decay (default 5e-4)
  --batch N              mini-batch size (default 128)
  --augment              random crop and flip while training and fine-tuning (as the
                         ResNet-20 checkpoints were trained; gradient scores never augment)
  --sparse-kernels D     convolutions whose weight density is <= D run forward and
                         backward-data on the sparse kernels (default 0: never); same
                         results up to float rounding, faster at high sparsity
  --val N                validation images carved from the training set (default: as
                         the checkpoint records it, else 5000)
  --val-seed N           seed of that split (default: as the checkpoint records it,
                         else 1, the split of the committed checkpoints); --seed does not
                         move it, so runs of different seeds validate on the same images
  --seed N               seed of pruning, scores, shuffling, augmentation (default 1)
  --threads N            threads (default 2)
  --out DIR              output directory (default regrow-out): trajectory.csv,
                         trajectory.json, trajectory.svg, model.bprs, summary.json, and
                         state.ckpt, the checkpoint written (atomically) after every
                         pruning or regrowth step and every fine-tune epoch
  --checkpoint-steps N   also checkpoint every N fine-tune mini-batches (default 100;
                         0: only after each epoch), so a kill loses at most N steps
  --resume               continue from DIR/state.ckpt if it exists (else start afresh);
                         the other flags must be the same (checked; --threads, --out,
                         --quiet and --checkpoint-steps may differ). With the same
                         --threads the run ends exactly as if it had never stopped
  --train-images N       use only N training images, evenly spaced over the file
                         (before the validation split; default all), e.g. for quick tests
  --test-images N        use only N test images, evenly spaced (default all)
  --quiet                no per-epoch progress
)";

struct settings {
    std::string data = "fashion-mnist", model = "lenet5", checkpoint;
    bool checkpoint_given = false;
    std::int64_t train_epochs = 15;
    std::string prune = "iterative", criterion = "magnitude", allocation = "lamp";
    double fraction = 0.8, min_density = 0.0;
    bool keep_first_dense = false, keep_last_dense = false;
    std::string budget = "99.2%", target = "99%", format = "csr16";
    std::int64_t steps = 2, finetune_epochs = 1, prune_finetune_epochs = 1;
    std::string score = "taylor", init = "zero", regrow_allocation = "capped";
    std::int64_t score_batches = 8;
    double exchange = 0.0;
    double init_scale = 0.1, max_share = 0.5, max_density = 1.0;
    double lr = 0.1, train_lr = 0.05, wd = 5e-4;
    bpr::index_t batch = 128;
    std::optional<bpr::index_t> val_flag;
    std::optional<std::uint64_t> val_seed_flag;
    bpr::index_t validation = 5000;  // resolved in run() (choose_split)
    std::uint64_t val_seed = 1, seed = 1;
    int threads = 2;
    std::string out = "regrow-out";
    bool resume = false;
    std::int64_t checkpoint_steps = 100;
    bpr::index_t train_images = 0, test_images = 0;  // 0: all
    bool quiet = false;
    bool augment = false;
    double sparse_kernels = 0.0;
};

settings parse(int argc, char** argv) {
    settings s;
    flag_table(usage)
        .text("--data", s.data)
        .text("--model", s.model, zoo_model_names())
        .custom("--checkpoint",
                [&s](const std::string& value) {
                    s.checkpoint = value;
                    s.checkpoint_given = true;
                })
        .integer("--train-epochs", s.train_epochs, 1)
        .text("--prune", s.prune, {"one_shot", "iterative"})
        .number("--fraction", s.fraction)
        .text("--criterion", s.criterion, {"magnitude", "random", "snip"})
        .text("--allocation", s.allocation, {"global", "uniform", "erk", "lamp"})
        .number("--min-density", s.min_density)
        .toggle("--keep-first-dense", s.keep_first_dense)
        .toggle("--keep-last-dense", s.keep_last_dense)
        .text("--budget", s.budget)
        .text("--target", s.target)
        .text("--format", s.format, {"csr16", "bitmap"})
        .integer("--steps", s.steps, 0)
        .integer("--finetune-epochs", s.finetune_epochs, 0)
        .integer("--prune-finetune-epochs", s.prune_finetune_epochs, 0)
        .text("--score", s.score, {"gradient", "momentum", "taylor", "dense", "random"})
        .integer("--score-batches", s.score_batches, 1)
        .number("--exchange", s.exchange)
        .text("--init", s.init, {"zero", "dense", "kaiming"})
        .number("--init-scale", s.init_scale)
        .text("--regrow-allocation", s.regrow_allocation, {"top_k", "proportional", "capped"})
        .number("--max-share", s.max_share)
        .number("--max-density", s.max_density)
        .number("--lr", s.lr)
        .number("--train-lr", s.train_lr)
        .number("--wd", s.wd)
        .integer("--batch", s.batch, 1)
        .integer("--val", s.val_flag, 1)
        .integer("--val-seed", s.val_seed_flag, 0)
        .integer("--seed", s.seed, 0)
        .integer("--threads", s.threads, 1)
        .text("--out", s.out)
        .toggle("--resume", s.resume)
        .integer("--checkpoint-steps", s.checkpoint_steps, 0)
        .integer("--train-images", s.train_images, 1)
        .integer("--test-images", s.test_images, 1)
        .toggle("--quiet", s.quiet)
        .toggle("--augment", s.augment)
        .number("--sparse-kernels", s.sparse_kernels)
        .parse(argc, argv);
    if (s.sparse_kernels < 0 || s.sparse_kernels > 1)
        usage_error("--sparse-kernels must be a density in [0, 1], got " +
                    std::to_string(s.sparse_kernels));
    if (s.exchange < 0 || s.exchange >= 1)
        usage_error("--exchange must be a fraction in [0, 1), got " + std::to_string(s.exchange));
    return s;
}

// ---- Runtime choices: one type per concept, forwarding to the library's types. ----

struct chosen_criterion {
    static constexpr std::string_view name = "chosen";
    std::string kind;
    bpr::snip snip_criterion;
    std::uint64_t seed = 0;
    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices,
               std::vector<std::vector<double>>& out) const {
        if (kind == "random") return bpr::random_score{.seed = seed}.score(model, indices, out);
        if (kind == "snip") return snip_criterion.score(model, indices, out);
        bpr::magnitude{}.score(model, indices, out);
    }
};

struct chosen_allocation {
    static constexpr std::string_view name = "chosen";
    std::string kind;
    double max_share = 0.5;
    void allocate(std::span<bpr::allocation_layer> layers, bpr::index_t total) const {
        if (kind == "uniform" || kind == "proportional")
            return bpr::uniform_allocation{}.allocate(layers, total);
        if (kind == "erk") return bpr::erk_allocation{}.allocate(layers, total);
        if (kind == "lamp") return bpr::lamp_allocation{}.allocate(layers, total);
        if (kind == "capped")
            return bpr::capped_top_k{.max_share = max_share}.allocate(layers, total);
        bpr::global_allocation{}.allocate(layers, total);  // global, top_k
    }
};

struct chosen_schedule {
    static constexpr std::string_view name = "chosen";
    bool iterative = false;
    double fraction = 0.2;
    std::vector<double> targets(double start, double final) const {
        if (iterative) return bpr::iterative{.fraction = fraction}.targets(start, final);
        return bpr::one_shot{}.targets(start, final);
    }
};

struct chosen_score {
    static constexpr std::string_view name = "chosen";
    std::string kind;
    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices,
               const bpr::regrow_context& context, std::vector<std::vector<double>>& out) const {
        if (kind == "momentum") return bpr::gradient_momentum{}.score(model, indices, context, out);
        if (kind == "taylor") return bpr::taylor{}.score(model, indices, context, out);
        if (kind == "dense") return bpr::dense_saliency{}.score(model, indices, context, out);
        if (kind == "random") return bpr::random_regrowth{}.score(model, indices, context, out);
        bpr::gradient_magnitude{}.score(model, indices, context, out);
    }
};

struct chosen_init {
    static constexpr std::string_view name = "chosen";
    std::string kind;
    double scale = 0.1;
    void initialize(bpr::tensor<float>& value, std::span<const bpr::index_t> positions,
                    const bpr::tensor<float>* dense, bpr::rng& generator) const {
        if (kind == "dense")
            return bpr::init_dense{}.initialize(value, positions, dense, generator);
        if (kind == "kaiming")
            return bpr::init_kaiming{.scale = scale}.initialize(value, positions, dense, generator);
        bpr::init_zero{}.initialize(value, positions, dense, generator);
    }
};

using recipe =
    bpr::pipeline<bpr::prune_to_budget<chosen_criterion, chosen_allocation, chosen_schedule>,
                  bpr::score<chosen_score>, bpr::regrow<chosen_allocation, chosen_init>>;

// Every setting that changes the run, one "flag=value" per line: stored in the
// checkpoint and compared on --resume, so a resume with other flags is refused.
std::string run_config(const settings& s) {
    std::string text;
    auto line = [&](const char* flag, const auto& value) {
        text += flag;
        text += '=';
        if constexpr (std::is_convertible_v<decltype(value), std::string>)
            text += value;
        else
            text += std::to_string(value);
        text += '\n';
    };
    line("data", s.data);
    line("model", s.model);
    line("checkpoint", s.checkpoint);
    line("train-epochs", s.train_epochs);
    line("prune", s.prune);
    line("fraction", s.fraction);
    line("criterion", s.criterion);
    line("allocation", s.allocation);
    line("min-density", s.min_density);
    line("keep-first-dense", s.keep_first_dense);
    line("keep-last-dense", s.keep_last_dense);
    line("budget", s.budget);
    line("target", s.target);
    line("format", s.format);
    line("steps", s.steps);
    line("finetune-epochs", s.finetune_epochs);
    line("prune-finetune-epochs", s.prune_finetune_epochs);
    line("score", s.score);
    line("score-batches", s.score_batches);
    line("init", s.init);
    line("init-scale", s.init_scale);
    line("regrow-allocation", s.regrow_allocation);
    line("max-share", s.max_share);
    line("max-density", s.max_density);
    line("lr", s.lr);
    line("train-lr", s.train_lr);
    line("wd", s.wd);
    line("batch", s.batch);
    line("val", s.validation);
    if (s.val_seed != 1) line("val-seed", s.val_seed);  // absent when 1: older state files match
    line("seed", s.seed);
    line("train-images", s.train_images);
    if (s.augment) line("augment", s.augment);  // absent when off: older state files still match
    if (s.sparse_kernels > 0) line("sparse-kernels", s.sparse_kernels);
    if (s.exchange > 0) line("exchange", s.exchange);  // absent when off: older state files match
    line("test-images", s.test_images);
    return text;
}

// The committed pretrained checkpoint (models/README.md) for a model on a data set, or
// "" when there is none: folders and other models start from a dense run.
std::string committed_checkpoint(const std::string& model, const std::string& data) {
    const bool fashion_mnist = data == "fashion-mnist" || data.starts_with("fashion-mnist:");
    const bool cifar10 = data.starts_with("cifar10:");
    const std::string models = BPR_SOURCE_DIR "/models/";
    if (model == "lenet5" && fashion_mnist) return models + "lenet5-fashion-mnist.ckpt";
    if (model == "resnet20" && fashion_mnist) return models + "resnet20-fashion-mnist.ckpt";
    if (model == "resnet20" && cifar10) return models + "resnet20-cifar10.ckpt";
    return "";
}

template <typename Model>
int run(settings s, Model model, data_pair data, std::chrono::steady_clock::time_point begin) {
    using clock = std::chrono::steady_clock;
    bpr::set_sparse_density(model, s.sparse_kernels);

    // The dense starting point, and the split and normalization it was trained with:
    // without --checkpoint, the committed one for this model and data set, if any.
    const std::string committed = committed_checkpoint(s.model, s.data);
    if (!s.checkpoint_given && !committed.empty() && std::filesystem::exists(committed))
        s.checkpoint = committed;
    // Resuming: the model, optimizer, masks, w0 and pipeline state all come from the
    // run's own checkpoint, loaded below; the dense start is not needed then.
    const std::filesystem::path out = s.out;
    const std::filesystem::path state_file = out / "state.ckpt";
    const bool resuming = s.resume && std::filesystem::exists(state_file);
    // The dense checkpoint, parsed once: its record of the split here, its weights below
    // (unless resuming; a resumed run reads only the record, if the file is still there).
    std::optional<bpr::checkpoint_file> dense_file;
    if (!s.checkpoint.empty() && (!resuming || std::filesystem::exists(s.checkpoint)))
        dense_file.emplace(s.checkpoint);
    const split_choice split = choose_split(dense_file ? &*dense_file : nullptr, data.train.size(),
                                            s.val_flag, s.val_seed_flag);
    s.validation = split.validation, s.val_seed = split.val_seed;
    if (s.validation >= data.train.size())
        usage_error("--val " + std::to_string(s.validation) + " leaves no training images (" +
                    std::to_string(data.train.size()) + ")");
    const auto parts = bpr::data::split(data.train, s.validation, s.val_seed);
    const bpr::data::normalization norm = split.normalization(parts.train);
    bpr::data::loader_options train_options{
        .batch_size = s.batch, .shuffle = true, .seed = s.seed, .norm = norm};
    if (s.augment) train_options.augment = standard_augmentation(parts.train);
    if (s.resume && !resuming)
        std::printf("no checkpoint %s yet: starting from the beginning\n", state_file.c_str());
    if (resuming) {
        // (loaded with the optimizer below)
    } else if (dense_file) {
        dense_file->load_model(model);
        std::printf("dense model loaded from %s%s\n", s.checkpoint.c_str(),
                    s.checkpoint_given ? ""
                                       : " (the committed one for this model and data; "
                                         "--train-epochs is not used, --checkpoint chooses)");
    } else {
        std::printf("no checkpoint%s%s%s: training the dense model for %lld epochs first\n",
                    committed.empty() ? "" : " (", committed.c_str(),
                    committed.empty() ? "" : " not found)", static_cast<long long>(s.train_epochs));
        bpr::rng generator(s.seed);
        // As bpr-train and bpr-prune: He init would make LeNet-5's fc layers sqrt(6)x
        // wider than PyTorch's, and global magnitude pruning would favour them.
        bpr::initialize(model, generator, bpr::models::default_init_scheme(s.model));
        bpr::data::batch_loader loader(parts.train, train_options);
        bpr::sgd<float> opt({.lr = s.train_lr, .momentum = 0.9, .weight_decay = s.wd});
        bpr::fit(model, opt, bpr::cosine_lr{.base = s.train_lr}, loader,
                 {.epochs = s.train_epochs, .progress = s.quiet ? nullptr : stdout});
    }
    dense_file.reset();  // its weights, if needed, are in the model now

    // The pipeline, its stages configured from the flags.
    const bpr::storage_format format = bpr::parse_format(s.format);
    bpr::data::loader_options score_options = train_options;
    score_options.seed = s.seed + 77;
    auto gradients = bpr::make_gradient_source(model, parts.train, score_options);

    recipe r;
    r.pruning.method.criterion = {.kind = s.criterion,
                                  .snip_criterion = {.gradients = gradients, .batches = 4},
                                  .seed = s.seed};
    r.pruning.method.allocator = {.kind = s.allocation};
    r.pruning.method.schedule = {.iterative = s.prune == "iterative", .fraction = s.fraction};
    r.pruning.method.guards = {.min_density = s.min_density,
                               .keep_first_dense = s.keep_first_dense,
                               .keep_last_dense = s.keep_last_dense};
    r.scoring.scorer = {.kind = s.score};
    r.regrowing.allocator = {.kind = s.regrow_allocation, .max_share = s.max_share};
    r.regrowing.init = {.kind = s.init, .scale = s.init_scale};
    r.regrowing.guards = {.max_density = s.max_density};

    bpr::pipeline_inputs in;
    in.start = bpr::budget::parse(s.budget, format);
    in.target = bpr::budget::parse(s.target, format);
    in.steps = static_cast<std::size_t>(s.steps);
    in.fine_tune_length = s.finetune_epochs;
    in.prune_fine_tune_length = s.prune_finetune_epochs;
    in.gradients = gradients;
    in.score_batches = static_cast<std::size_t>(s.score_batches);
    in.exchange = s.exchange;
    in.seed = s.seed;
    in.format = format;

    bpr::sgd<float> opt({.lr = s.lr, .momentum = 0.9, .weight_decay = s.wd});
    bpr::fit_fine_tuner<Model, bpr::sgd<float>> tune{.model = model,
                                                     .opt = opt,
                                                     .train = parts.train,
                                                     .train_options = train_options,
                                                     .validation = &parts.validation,
                                                     .test = &data.test,
                                                     .schedule = bpr::cosine_lr{.base = s.lr},
                                                     .progress = s.quiet ? nullptr : stdout,
                                                     .checkpoint_steps = s.checkpoint_steps};

    // Checkpoints: after every unit of work, with the positions of the seeded streams
    // (fine-tune calls, gradient batches) that the run's randomness depends on.
    std::filesystem::create_directories(out);
    const std::string config = run_config(s);
    bpr::pipeline_control<recipe::granularity> control;
    bpr::pipeline_checkpoint<recipe::granularity> resumed;
    if (resuming) {
        resumed =
            bpr::load_pipeline_checkpoint<recipe::granularity>(state_file, model, opt, config);
        tune.calls = static_cast<std::uint64_t>(resumed.counters.at("finetune_calls"));
        gradients.seek(resumed.counters.at("gradient_batches"));
        control.resume = &resumed.state;
        const auto& at = resumed.state.position;
        std::printf("resumed from %s: %s step %zu, %lld fine-tune batches done%s\n",
                    state_file.c_str(), std::string(bpr::phase_name(at.phase)).c_str(), at.step,
                    static_cast<long long>(at.tuned), at.recorded ? ", step complete" : "");
    }
    bpr::pipeline_checkpointer<Model, bpr::sgd<float>, recipe::granularity> saver(state_file, model,
                                                                                  opt, config);
    saver.counters = [&] {
        return std::map<std::string, std::int64_t>{
            {"finetune_calls", static_cast<std::int64_t>(tune.calls)},
            {"gradient_batches", gradients.calls()}};
    };
    control.checkpoint = [&](const bpr::pipeline_state<recipe::granularity>& st) {
        saver.save(st);
    };

    std::printf("pruning to %s (%s, %s, %s), then regrowing to %s in %lld steps (%s, %s, %s)\n",
                in.start.str().c_str(), s.prune.c_str(), s.criterion.c_str(), s.allocation.c_str(),
                in.target.str().c_str(), static_cast<long long>(s.steps), s.score.c_str(),
                s.init.c_str(), s.regrow_allocation.c_str());
    const auto result = r.run(model, tune, in, opt, control);
    const double seconds = std::chrono::duration<double>(clock::now() - begin).count();

    // Outputs.
    result.steps.write_csv(out / "trajectory.csv");
    result.steps.write_json(out / "trajectory.json");
    result.steps.write_svg(out / "trajectory.svg", s.model + " on " + s.data + ": prune " +
                                                       s.budget + ", regrow to " + s.target);
    const std::size_t file_bytes =
        bpr::write_sparse_model(out / "model.bprs", model, result.masks, format);

    const auto* dense = result.steps.last(bpr::step_phase::dense);
    const auto* pruned = result.steps.last(bpr::step_phase::prune);
    const auto& final_step = result.steps.back();
    // Where each regrowth step put its weights, layer by layer.
    std::vector<bpr::json_object> regrowth;
    for (const auto& step : result.regrowth) {
        std::vector<bpr::json_object> layers;
        for (const auto& layer : step.layers)
            layers.push_back(bpr::json_object{}
                                 .set("name", layer.name)
                                 .set("alive_before", static_cast<std::int64_t>(layer.alive_before))
                                 .set("grown", static_cast<std::int64_t>(layer.grown))
                                 .set("dropped", static_cast<std::int64_t>(layer.dropped)));
        regrowth.push_back(bpr::json_object{}
                               .set("requested", static_cast<std::int64_t>(step.requested))
                               .set("grown", static_cast<std::int64_t>(step.grown))
                               .set("layers", layers));
    }
    bpr::json_object summary;
    summary.set("model", s.model)
        .set("data", s.data)
        .set("checkpoint", s.checkpoint)
        .set("budget", s.budget)
        .set("target", s.target)
        .set("format", s.format)
        .set("prune", s.prune)
        .set("criterion", s.criterion)
        .set("allocation", s.allocation)
        .set("score", s.score)
        .set("init", s.init)
        .set("regrow_allocation", s.regrow_allocation)
        .set("augment", s.augment)
        .set("sparse_kernels", s.sparse_kernels)
        .set("exchange", s.exchange)
        .set("steps", s.steps)
        .set("finetune_epochs", s.finetune_epochs)
        .set("prune_finetune_epochs", s.prune_finetune_epochs)
        .set("seed", static_cast<std::int64_t>(s.seed))
        .set("validation_images", static_cast<std::int64_t>(s.validation))
        .set("val_seed", static_cast<std::int64_t>(s.val_seed))
        .set("threads", s.threads)
        .set("dense_accuracy", dense->test_accuracy)
        .set("dense_val_accuracy", dense->val_accuracy)
        .set("pruned_accuracy", pruned->test_accuracy)
        .set("pruned_val_accuracy", pruned->val_accuracy)
        .set("pruned_sparsity", pruned->sparsity)
        .set("pruned_nonzeros", static_cast<std::int64_t>(pruned->nonzeros))
        .set("final_accuracy", final_step.test_accuracy)
        .set("final_val_accuracy", final_step.val_accuracy)
        .set("final_sparsity", final_step.sparsity)
        .set("final_nonzeros", static_cast<std::int64_t>(final_step.nonzeros))
        .set("final_bytes", static_cast<std::int64_t>(final_step.bytes))
        .set("file_bytes", static_cast<std::int64_t>(file_bytes))
        .set("regrowth", regrowth)
        .set("seconds", seconds);
    bpr::write_file_atomically(out / "summary.json", summary.str() + "\n");

    std::printf("\n%s", result.steps.table().c_str());
    std::printf(
        "\ndense %.2f%% -> pruned %.2f%% at %.2f%% sparsity -> regrown %.2f%% at %.2f%% "
        "sparsity (%lld bytes in %s)\nwritten to %s/ in %.0f s (%lld checkpoints%s)\n",
        100 * dense->test_accuracy, 100 * pruned->test_accuracy, 100 * pruned->sparsity,
        100 * final_step.test_accuracy, 100 * final_step.sparsity,
        static_cast<long long>(final_step.bytes), s.format.c_str(), s.out.c_str(), seconds,
        static_cast<long long>(saver.saves()), resuming ? ", resumed" : "");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const settings s = parse(argc, argv);
    bpr::set_threads(s.threads);
    try {
        // The model is built for the data: any channel count, image size and class count.
        const auto begin = std::chrono::steady_clock::now();  // the run's time includes loading
        data_pair data = load_data(s.data);
        data.train = spread_images(std::move(data.train), s.train_images);
        data.test = spread_images(std::move(data.test), s.test_images);
        const model_input in = model_input_of(data, s.data);
        return with_zoo_model(s.model, in, [&](auto& model) {
            return run(s, std::move(model), std::move(data), begin);
        });
    } catch (const bpr::error& e) {
        std::fprintf(stderr, "bpr-regrow: %s\n", e.what());
        return 1;
    }
}
