#pragma once
// bpr::fit: the training loop (epochs of mini-batches, schedule, validation, callbacks).

#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/data/batch_loader.hpp"
#include "bpr/data/dataset.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/nn/loss.hpp"
#include "bpr/optim/optimizer.hpp"
#include "bpr/optim/schedule.hpp"
#include "bpr/train/evaluate.hpp"
#include "bpr/train/progress.hpp"

namespace bpr {

// Whether the schedule's step counts epochs or iterations (mini-batches).
enum class schedule_unit { epoch, iteration };

// What a callback asks of the loop after an epoch.
enum class train_control { proceed, stop };

// How bpr::fit trains. `validation`, if set, is evaluated after every epoch (it must
// be carved from the training data, never the test set) and drives best-epoch
// tracking; with restore_best the weights of the best epoch are put back at the end.
struct fit_options {
    std::int64_t epochs = 1;
    std::int64_t start_epoch = 0;  // > 0 to resume (the schedule continues from there)
    index_t start_batch = 0;       // resume inside start_epoch, at this mini-batch
    schedule_unit schedule_by = schedule_unit::iteration;
    double label_smoothing = 0.0;
    const data::dataset* validation = nullptr;
    index_t eval_batch = 256;
    bool restore_best = false;
    std::FILE* progress = stdout;  // nullptr: silent
    bool check_weights = true;     // scan every weight for NaN/Inf after each step
};

// Metrics of one finished epoch (epoch numbers are 0-based; reports add 1).
struct epoch_metrics {
    std::int64_t epoch = 0;
    double train_loss = 0.0;
    double train_accuracy = 0.0;
    double lr = 0.0;  // the rate of the epoch's last step
    double seconds = 0.0;
    double images_per_second = 0.0;
    std::optional<eval_result> validation;
};

// Where a step is, for the per-step hooks.
struct step_info {
    std::int64_t epoch = 0;
    index_t batch = 0;
    std::int64_t global_step = 0;
    double lr = 0.0;
};

// Hooks into the loop. after_backward runs between backward and the optimizer step
// (e.g. zero the gradients of pruned weights), after_step after it (e.g. re-apply
// masks to weights and optimizer state); on_epoch_end sees the metrics and may stop.
struct fit_callbacks {
    std::function<void(const step_info&)> after_backward;
    std::function<void(const step_info&)> after_step;
    std::function<train_control(const epoch_metrics&)> on_epoch_end;
};

// The outcome of bpr::fit. best_epoch is -1 without a validation set.
struct fit_result {
    std::vector<epoch_metrics> history;
    std::int64_t best_epoch = -1;
    double best_validation_accuracy = 0.0;
    bool stopped_early = false;
    double seconds = 0.0;
    double images_per_second = 0.0;  // training images only
};

namespace detail {

// Names the first parameter holding NaN or Inf, for divergence errors.
template <typename Model>
std::string first_non_finite_param(Model& model) {
    std::string found;
    visit_params(model, [&](std::size_t, const std::string& name, auto& p) {
        if (!found.empty()) return;
        using T = typename std::remove_cvref_t<decltype(p.value)>::value_type;
        const T* values = p.value.data();
        // Branch-free, so that the per-step check vectorises: NaN fails the comparison.
        bool finite = true;
        for (index_t i = 0; i < p.value.size(); ++i)
            finite &= std::abs(values[i]) <= std::numeric_limits<T>::max();
        if (!finite) found = name;
    });
    return found;
}

// Names the parameter holding the largest magnitude and says how large, for the
// divergence error when the weights are finite but the activations overflowed.
template <typename Model>
std::string largest_param(Model& model) {
    std::string name;
    double largest = -1;
    visit_params(model, [&](std::size_t, const std::string& n, auto& p) {
        for (const auto v : p.value)
            if (std::abs(static_cast<double>(v)) > largest) {
                largest = std::abs(static_cast<double>(v));
                name = n;
            }
    });
    return concat("the largest weight, magnitude ", largest, ", is in parameter '", name, "'");
}

// Copies of every parameter and buffer, to restore the best epoch's weights.
template <typename Model>
class weight_snapshot {
  public:
    void take(Model& model) {
        tensors_.clear();
        visit_params(
            model, [&](std::size_t, const std::string&, auto& p) { tensors_.push_back(p.value); });
        visit_buffers(model, [&](const std::string&, auto& t) { tensors_.push_back(t); });
    }
    void restore(Model& model) const {
        std::size_t i = 0;
        visit_params(model,
                     [&](std::size_t, const std::string&, auto& p) { p.value = tensors_[i++]; });
        visit_buffers(model, [&](const std::string&, auto& t) { t = tensors_[i++]; });
    }
    bool empty() const { return tensors_.empty(); }

  private:
    std::vector<tensor<typename Model::value_type>> tensors_;
};

inline std::string fixed(double value, int digits) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*f", digits, value);
    return text;
}

inline std::string general(double value, int digits) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    return text;
}

inline std::string percent(double fraction) {
    char text[16];
    std::snprintf(text, sizeof text, "%.2f%%", 100.0 * fraction);
    return text;
}

}  // namespace detail

// What it does: trains `model` with softmax cross-entropy on the batches of `train`
// for options.epochs epochs, setting the optimizer's rate from `schedule` before each
// step. Requires: a float classifier (images -> [N, classes] logits), epochs >= 1.
// Guarantees: the same model initialisation, loader seed and thread count give the
// same weights; a NaN or Inf loss throws bpr::error naming the epoch and step (and the
// first parameter that went non-finite, if any), and so does a NaN or Inf weight after
// a step (naming the parameter; check_weights); the test set is never involved.
template <layer Model, optimizer Optimizer, lr_schedule Schedule>
requires std::same_as<typename Model::value_type, float> fit_result
fit(Model& model, Optimizer& opt, const Schedule& schedule, data::batch_loader& train,
    const fit_options& options = {}, const fit_callbacks& callbacks = {}) {
    BPR_REQUIRE(options.epochs >= 1, "fit: epochs is ", options.epochs, ", expected >= 1");
    BPR_REQUIRE(options.start_epoch >= 0 && options.start_epoch <= options.epochs,
                "fit: start_epoch is ", options.start_epoch, ", expected in [0, ", options.epochs,
                "]");
    BPR_REQUIRE(options.eval_batch >= 1, "fit: eval_batch is ", options.eval_batch,
                ", expected >= 1");
    BPR_REQUIRE(options.start_batch >= 0 &&
                    options.start_batch <= std::max<index_t>(train.batches_per_epoch() - 1, 0),
                "fit: start_batch is ", options.start_batch, ", expected in [0, ",
                train.batches_per_epoch() - 1, "]");
    using clock = std::chrono::steady_clock;
    const auto seconds_since = [](clock::time_point start) {
        return std::chrono::duration<double>(clock::now() - start).count();
    };

    softmax_cross_entropy<float> criterion(options.label_smoothing);
    tensor<float> logits, grad_logits, grad_input;
    std::optional<data::batch_loader> validation;
    if (options.validation != nullptr)
        validation.emplace(
            *options.validation,
            data::loader_options{
                .batch_size = options.eval_batch, .shuffle = false, .norm = train.options().norm});

    const index_t batches = train.batches_per_epoch();
    BPR_REQUIRE(batches > 0, "fit: training data ", train.data().source, " gives no batches");
    const std::int64_t total_steps =
        options.schedule_by == schedule_unit::iteration ? options.epochs * batches : options.epochs;
    const index_t images_per_epoch = train.images_per_epoch();

    progress_line line(options.progress);
    fit_result result;
    detail::weight_snapshot<Model> best;
    const auto run_start = clock::now();
    double training_seconds = 0.0;
    index_t images_trained = 0;
    data::batch batch;

    for (std::int64_t epoch = options.start_epoch; epoch < options.epochs; ++epoch) {
        const auto epoch_start = clock::now();
        train.start_epoch(epoch);
        double loss_sum = 0.0;
        index_t correct = 0, seen = 0;
        double lr = opt.lr();
        // A resumed epoch skips the batches done before the interruption; its metrics
        // then cover only the rest.
        const index_t first_batch = epoch == options.start_epoch ? options.start_batch : 0;
        for (index_t number = first_batch; number < batches; ++number) {
            const std::int64_t global_step = epoch * batches + number;
            lr = schedule.lr(options.schedule_by == schedule_unit::iteration ? global_step : epoch,
                             total_steps);
            const step_info info{epoch, number, global_step, lr};
            train.load(number, batch);
            const index_t n = batch.images.extent(0);

            model.forward(batch.images, logits, mode::train);
            const float loss = criterion.forward(logits, batch.labels);
            if (!std::isfinite(loss)) {
                const std::string culprit = detail::first_non_finite_param(model);
                detail::fail(
                    "fit: loss is ", loss, " at epoch ", epoch + 1, ", step ", number + 1, " of ",
                    batches, " (global step ", global_step + 1, ", lr ", lr, "); ",
                    culprit.empty()
                        ? detail::concat("all weights are finite (activations overflowed; ",
                                         detail::largest_param(model), ")")
                        : detail::concat("parameter '", culprit, "' holds non-finite values"),
                    "; try a lower learning rate");
            }
            loss_sum += static_cast<double>(loss) * n;
            correct += count_correct(logits, std::span<const int>(batch.labels));
            seen += n;

            criterion.backward(grad_logits);
            model.backward(batch.images, logits, grad_logits, grad_input);
            if (callbacks.after_backward) callbacks.after_backward(info);
            opt.step(model, lr);
            if (callbacks.after_step) callbacks.after_step(info);
            // A weight that went NaN or Inf stops the run here, before any checkpoint of
            // this epoch is written: the last one on disk stays the last good state.
            if (options.check_weights) {
                const std::string culprit = detail::first_non_finite_param(model);
                if (!culprit.empty())
                    detail::fail("fit: parameter '", culprit,
                                 "' holds non-finite values after epoch ", epoch + 1, ", step ",
                                 number + 1, " of ", batches, " (global step ", global_step + 1,
                                 ", lr ", lr, ", loss ", loss, "); try a lower learning rate");
            }

            if (line.interactive()) {
                const double elapsed = training_seconds + seconds_since(epoch_start);
                const double rate = static_cast<double>(images_trained + seen) / elapsed;
                const double remaining =
                    static_cast<double>((options.epochs - epoch) * images_per_epoch - seen);
                line.update(detail::concat(
                    "epoch ", epoch + 1, "/", options.epochs, "  batch ", number + 1, "/", batches,
                    "  loss ", detail::fixed(loss_sum / seen, 4), "  acc ",
                    detail::percent(static_cast<double>(correct) / seen), "  ",
                    static_cast<long>(rate), " img/s  ETA ", format_duration(remaining / rate)));
            }
        }
        const double epoch_train_seconds = seconds_since(epoch_start);
        training_seconds += epoch_train_seconds;
        images_trained += seen;

        epoch_metrics metrics;
        metrics.epoch = epoch;
        metrics.train_loss = loss_sum / static_cast<double>(seen);
        metrics.train_accuracy = static_cast<double>(correct) / static_cast<double>(seen);
        metrics.lr = lr;
        metrics.images_per_second = static_cast<double>(seen) / epoch_train_seconds;
        if (validation) {
            metrics.validation = evaluate(model, *validation);
            if (result.best_epoch < 0 ||
                metrics.validation->accuracy > result.best_validation_accuracy) {
                result.best_epoch = epoch;
                result.best_validation_accuracy = metrics.validation->accuracy;
                if (options.restore_best) best.take(model);
            }
        }
        metrics.seconds = seconds_since(epoch_start);
        result.history.push_back(metrics);

        const std::int64_t epochs_left = options.epochs - epoch - 1;
        const double eta = seconds_since(run_start) /
                           static_cast<double>(epoch + 1 - options.start_epoch) *
                           static_cast<double>(epochs_left);
        std::string summary = detail::concat("epoch ", epoch + 1, "/", options.epochs, "  loss ",
                                             detail::fixed(metrics.train_loss, 4), "  acc ",
                                             detail::percent(metrics.train_accuracy));
        if (metrics.validation)
            summary += detail::concat("  val_loss ", detail::fixed(metrics.validation->loss, 4),
                                      "  val_acc ", detail::percent(metrics.validation->accuracy));
        summary += detail::concat("  lr ", detail::general(lr, 3), "  ",
                                  static_cast<long>(metrics.images_per_second), " img/s  ",
                                  format_duration(metrics.seconds));
        if (epochs_left > 0) summary += detail::concat("  ETA ", format_duration(eta));
        line.finish(summary);

        if (callbacks.on_epoch_end && callbacks.on_epoch_end(metrics) == train_control::stop) {
            result.stopped_early = epoch + 1 < options.epochs;
            break;
        }
    }
    if (options.restore_best && !best.empty()) best.restore(model);
    result.seconds = seconds_since(run_start);
    result.images_per_second =
        training_seconds > 0 ? static_cast<double>(images_trained) / training_seconds : 0.0;
    return result;
}

}  // namespace bpr
