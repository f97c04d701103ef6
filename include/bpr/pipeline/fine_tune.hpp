#pragma once
// Adapters from bpr::fit to the pipeline: a masked fine-tune callable and a gradient
// source for regrowth scores.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <tuple>
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
// them), the masks and optimizer-state masks are applied before training and after
// every step, so pruned weights stay exactly zero; each call draws a new seeded
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

    template <mask_policy G>
    evaluation operator()(const tune_request<G>& request) {
        const auto& masks = request.masks;
        masks.apply(model);
        masks.mask_state(opt);
        if (request.length > 0) {
            data::loader_options options = train_options;
            options.seed = train_options.seed + 0x9e3779b97f4a7c15ULL * ++calls;
            data::batch_loader loader(train, options);
            fit_callbacks callbacks;
            callbacks.after_backward = [&](const step_info&) { masks.mask_grads(model); };
            callbacks.after_step = [&](const step_info&) { masks.apply(model); };
            fit(model, opt, schedule, loader,
                {.epochs = request.length, .validation = nullptr, .progress = progress}, callbacks);
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

// What it returns: a pipeline_inputs::gradients callable running forward (train mode)
// and backward of one batch of a seeded shuffle of `train` with softmax cross-entropy,
// leaving the dense gradients in the model's params. Successive calls walk through the
// training data (call n loads batch n mod batches), so each regrowth step scores on
// fresh batches; the argument is ignored.
// Requires: `model` and `train` outlive the callable; a float classifier.
template <layer Model>
std::function<void(std::size_t)> make_gradient_source(Model& model, const data::dataset& train,
                                                      data::loader_options options) {
    options.augment = {};
    auto loader = std::make_shared<data::batch_loader>(train, options);
    auto state = std::make_shared<
        std::tuple<data::batch, tensor<float>, tensor<float>, tensor<float>, std::size_t>>();
    return [&model, loader, state](std::size_t) {
        const auto batches = static_cast<std::size_t>(loader->batches_per_epoch());
        BPR_REQUIRE(batches > 0, "gradient source: training data gives no batches");
        auto& [batch, logits, grad_logits, grad_input, calls] = *state;
        loader->load(static_cast<index_t>(calls++ % batches), batch);
        softmax_cross_entropy<float> loss;
        model.forward(batch.images, logits, mode::train);
        loss.forward(logits, batch.labels);
        loss.backward(grad_logits);
        model.backward(batch.images, logits, grad_logits, grad_input);
    };
}

}  // namespace bpr
