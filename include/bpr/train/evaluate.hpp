#pragma once
// bpr::evaluate: mean loss and accuracy of a classifier over a dataset.

#include <cmath>
#include <concepts>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/data/batch_loader.hpp"
#include "bpr/data/dataset.hpp"
#include "bpr/data/transforms.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/nn/loss.hpp"

namespace bpr {

// The mean cross-entropy (no label smoothing) and top-1 accuracy over `count` images.
struct eval_result {
    double loss = 0.0;
    double accuracy = 0.0;
    index_t count = 0;
};

// Evaluates `model` in eval mode over every batch of `loader`'s current epoch order.
// Requires: a model mapping float images to [N, classes] logits. The loader should
// not augment (evaluation is then deterministic regardless of its seed).
template <layer Model>
requires std::same_as<typename Model::value_type, float> eval_result
evaluate(Model& model, data::batch_loader& loader) {
    softmax_cross_entropy<float> criterion;
    tensor<float> logits;
    double loss_sum = 0.0;
    index_t correct = 0, count = 0;
    data::batch batch;
    for (index_t number = 0; number < loader.batches_per_epoch(); ++number) {
        loader.load(number, batch);
        model.forward(batch.images, logits, mode::eval);
        const index_t n = batch.images.extent(0);
        loss_sum += static_cast<double>(criterion.forward(logits, batch.labels)) * n;
        correct += count_correct(logits, std::span<const int>(batch.labels));
        count += n;
    }
    BPR_REQUIRE(count > 0, "evaluate: dataset ", loader.data().source, " is empty");
    return {loss_sum / static_cast<double>(count),
            static_cast<double>(correct) / static_cast<double>(count), count};
}

// Evaluates over `data` in its stored order, `batch` images at a time, normalized as
// the training loader normalizes (pass the same `norm`).
template <layer Model>
requires std::same_as<typename Model::value_type, float> eval_result
evaluate(Model& model, const data::dataset& data, index_t batch = 256,
         const data::normalization& norm = {}) {
    data::batch_loader loader(data, {.batch_size = batch, .shuffle = false, .norm = norm});
    return evaluate(model, loader);
}

}  // namespace bpr
