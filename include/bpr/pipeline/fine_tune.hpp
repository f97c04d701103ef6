#pragma once
// Adapters from bpr::fit to the pipeline: a masked fine-tune callable and a gradient
// source for regrowth scores.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/data/batch_loader.hpp"
#include "bpr/data/dataset.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/nn/loss.hpp"
#include "bpr/optim/optimizer.hpp"
#include "bpr/optim/schedule.hpp"
#include "bpr/pipeline/pipeline.hpp"
#include "bpr/train/evaluate.hpp"
#include "bpr/train/fit.hpp"

namespace bpr {

// What it represents: the pipeline's fine-tune callable built on bpr::fit: trains the
// model under the request's masks for `length` epochs (a fresh `schedule` cycle each
// call, e.g. cosine from base to 0), then evaluates on the validation split (selection)
// and, if given, the test set (reporting only).
// Requires: `validation` carved from the training data; the referenced model,
// optimizer and datasets outlive the callable.
// Guarantees: masked gradients are zeroed after backward (after any score has read
// them), the masks and optimizer-state masks are applied before training and the masks
// again after every step (the state of a dead weight then stays zero, its gradient
// being zero), so pruned weights stay exactly zero; each call draws a new seeded
// shuffle order (seed + call number), so fine-tuning does not repeat one epoch order.
template <layer Model, optimizer Optimizer, lr_schedule Schedule = cosine_lr>
struct fit_fine_tuner {
    Model& model;
    Optimizer& opt;
    const data::dataset& train;
    data::loader_options train_options{};
    const data::dataset* validation = nullptr;
    const data::dataset* test = nullptr;
    Schedule schedule{};
    std::FILE* progress = nullptr;
    std::uint64_t calls = 0;
    // Progress is reported to request.on_unit in mini-batch steps done in this call:
    // after every epoch, and every `checkpoint_steps` steps if > 0 (so a killed run
    // loses at most that many steps).
    std::int64_t checkpoint_steps = 0;

    template <mask_policy G>
    evaluation operator()(const tune_request<G>& request) {
        const auto& masks = request.masks;
        masks.apply(model);
        masks.mask_state(opt);
        // Only alive weights need gradients while fine-tuning (layers on sparse kernels
        // then skip the rest); released on every exit, for scores that need them all.
        masks.restrict_gradients(model);
        struct release {
            const mask_set<G>& masks;
            Model& model;
            ~release() { masks.release_gradients(model); }
        } release_on_exit{masks, model};
        if (request.length > 0) {
            // A resumed call (done > 0) continues the interrupted call's epochs: same
            // shuffle seed, schedule position and optimizer state.
            if (request.done == 0) ++calls;
            data::loader_options options = train_options;
            options.seed = train_options.seed + 0x9e3779b97f4a7c15ULL * calls;
            data::batch_loader loader(train, options);
            const std::int64_t batches = loader.batches_per_epoch();
            const std::int64_t total = request.length * batches;
            BPR_REQUIRE(request.done >= 0 && request.done <= total,
                        "fit_fine_tuner: ", request.done, " steps done of ", total, " (",
                        request.length, " epochs of ", batches,
                        " batches): checkpoint of another setting?");
            fit_callbacks callbacks;
            callbacks.after_backward = [&](const step_info&) { masks.mask_grads(model); };
            callbacks.after_step = [&](const step_info& info) {
                masks.apply(model);
                const std::int64_t done = info.global_step + 1;
                if (request.on_unit && checkpoint_steps > 0 && done % checkpoint_steps == 0 &&
                    done % batches != 0)
                    request.on_unit(done);
            };
            callbacks.on_epoch_end = [&](const epoch_metrics& m) {
                if (request.on_unit) request.on_unit((m.epoch + 1) * batches);
                return train_control::proceed;
            };
            try {
                if (request.done < total)
                    fit(model, opt, schedule, loader,
                        {.epochs = request.length,
                         .start_epoch = request.done / batches,
                         .start_batch = static_cast<index_t>(request.done % batches),
                         .validation = nullptr,
                         .progress = progress},
                        callbacks);
            } catch (const error& e) {
                detail::fail("fine-tuning after ", phase_name(request.phase), " step ",
                             request.step, ": ", e.what());
            }
        }
        evaluation e;
        if (validation != nullptr) {
            const eval_result r = evaluate(model, *validation, 256, train_options.norm);
            e.val_accuracy = r.accuracy;
            e.loss = r.loss;
        }
        if (test != nullptr)
            e.test_accuracy = evaluate(model, *test, 256, train_options.norm).accuracy;
        return e;
    }
};

// What it represents: a pipeline_inputs::gradients callable running forward (train
// mode) and backward of one batch of a seeded shuffle of `train` with softmax
// cross-entropy, leaving the dense gradients in the model's params. Successive calls
// walk through the training data (call n loads batch n mod batches), so each
// regrowth step scores on fresh batches; the argument is ignored. Copies share one
// position (calls()), which a checkpoint saves and seek() restores on resume.
// Requires: `model` and `train` outlive the callable; a float classifier.
template <layer Model>
class gradient_source {
  public:
    gradient_source(Model& model, const data::dataset& train, data::loader_options options)
        : model_(&model), state_(std::make_shared<state>()) {
        options.augment = {};
        state_->loader = std::make_shared<data::batch_loader>(train, options);
    }

    void operator()(std::size_t) const {
        const auto batches = static_cast<std::size_t>(state_->loader->batches_per_epoch());
        BPR_REQUIRE(batches > 0, "gradient source: training data gives no batches");
        auto& s = *state_;
        s.loader->load(static_cast<index_t>(s.calls++ % batches), s.batch);
        softmax_cross_entropy<float> loss;
        model_->forward(s.batch.images, s.logits, mode::train);
        loss.forward(s.logits, s.batch.labels);
        loss.backward(s.grad_logits);
        model_->backward(s.batch.images, s.logits, s.grad_logits, s.grad_input);
    }

    // Batches served so far (the position in the data), for checkpoints.
    std::int64_t calls() const { return static_cast<std::int64_t>(state_->calls); }
    void seek(std::int64_t calls) {
        BPR_REQUIRE(calls >= 0, "gradient source: position ", calls, " is negative");
        state_->calls = static_cast<std::size_t>(calls);
    }

  private:
    struct state {
        std::shared_ptr<data::batch_loader> loader;
        data::batch batch;
        tensor<float> logits, grad_logits, grad_input;
        std::size_t calls = 0;
    };
    Model* model_;
    std::shared_ptr<state> state_;
};

template <layer Model>
gradient_source<Model> make_gradient_source(Model& model, const data::dataset& train,
                                            data::loader_options options) {
    return gradient_source<Model>(model, train, options);
}

}  // namespace bpr
