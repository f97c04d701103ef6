#pragma once
// Classification loss: softmax cross-entropy with label smoothing, and accuracy counting.

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"

namespace bpr {

namespace detail {

template <typename T>
void require_logits_and_labels(const tensor<T>& logits, std::span<const int> labels,
                               const char* where) {
    BPR_REQUIRE(logits.shape().rank() == 2, where, ": logits have rank ", logits.shape().rank(),
                " (shape ", logits.shape().str(), "), expected 2 ([N, classes])");
    BPR_REQUIRE(static_cast<index_t>(labels.size()) == logits.extent(0), where, ": ", labels.size(),
                " labels for ", logits.extent(0), " rows of logits");
    const index_t classes = logits.extent(1);
    BPR_REQUIRE(classes >= 1, where, ": logits have 0 classes");
    for (std::size_t i = 0; i < labels.size(); ++i)
        BPR_REQUIRE(labels[i] >= 0 && labels[i] < classes, where, ": label ", labels[i],
                    " at position ", i, " is out of range [0, ", classes, ")");
}

}  // namespace detail

// What it represents: torch.nn.CrossEntropyLoss(label_smoothing=s) with mean
// reduction over [N, classes] logits: the target distribution is (1 - s) on the label
// plus s / classes on every class.
// Requires: labels.size() == N, every label in [0, classes); 0 <= s < 1.
// Guarantees: forward is stable for any finite logits (log-sum-exp, accumulated in
// double); backward writes d(mean loss)/d(logits) of the last forward.
template <typename T = float>
class softmax_cross_entropy {
  public:
    using value_type = T;

    explicit softmax_cross_entropy(double label_smoothing = 0.0) : smoothing_(label_smoothing) {
        BPR_REQUIRE(label_smoothing >= 0.0 && label_smoothing < 1.0,
                    "softmax_cross_entropy: label_smoothing must be in [0, 1), got ",
                    label_smoothing);
    }

    double label_smoothing() const { return smoothing_; }

    // Mean loss over the batch; keeps the probabilities for backward.
    T forward(const tensor<T>& logits, std::span<const int> labels) {
        detail::require_logits_and_labels(logits, labels, "softmax_cross_entropy");
        const index_t n = logits.extent(0), classes = logits.extent(1);
        probabilities_.resize(logits.shape());
        labels_.assign(labels.begin(), labels.end());
        const double off = smoothing_ / static_cast<double>(classes);
        const double on = 1.0 - smoothing_ + off;
        double total = 0;
        for (index_t row = 0; row < n; ++row) {
            const T* z = logits.data() + row * classes;
            T* p = probabilities_.data() + row * classes;
            const double peak = *std::max_element(z, z + classes);
            double sum = 0;
            for (index_t j = 0; j < classes; ++j)
                sum += std::exp(static_cast<double>(z[j]) - peak);
            const double log_sum = peak + std::log(sum);
            // -sum_j q_j log p_j with log p_j = z_j - log_sum and sum_j q_j = 1.
            double weighted = 0;
            for (index_t j = 0; j < classes; ++j) {
                const double q = j == labels[row] ? on : off;
                weighted += q * static_cast<double>(z[j]);
                p[j] = static_cast<T>(std::exp(static_cast<double>(z[j]) - log_sum));
            }
            total += log_sum - weighted;
        }
        return static_cast<T>(total / static_cast<double>(n));
    }

    // grad_logits = (softmax(logits) - target) / N for the last forward.
    void backward(tensor<T>& grad_logits) const {
        BPR_REQUIRE(!labels_.empty(), "softmax_cross_entropy::backward: no forward before it");
        const index_t n = probabilities_.extent(0), classes = probabilities_.extent(1);
        grad_logits.resize(probabilities_.shape());
        const double off = smoothing_ / static_cast<double>(classes);
        const double on = 1.0 - smoothing_ + off;
        const double inv_n = 1.0 / static_cast<double>(n);
        for (index_t row = 0; row < n; ++row)
            for (index_t j = 0; j < classes; ++j) {
                const double q = j == labels_[row] ? on : off;
                grad_logits[row * classes + j] =
                    static_cast<T>((probabilities_[row * classes + j] - q) * inv_n);
            }
    }

    // softmax(logits) of the last forward.
    const tensor<T>& probabilities() const { return probabilities_; }

  private:
    double smoothing_;
    tensor<T> probabilities_;
    std::vector<int> labels_;
};

// Number of rows whose arg-max (the first one on ties) equals the label.
template <typename T>
index_t count_correct(const tensor<T>& logits, std::span<const int> labels) {
    detail::require_logits_and_labels(logits, labels, "count_correct");
    const index_t n = logits.extent(0), classes = logits.extent(1);
    index_t correct = 0;
    for (index_t row = 0; row < n; ++row) {
        const T* z = logits.data() + row * classes;
        if (std::max_element(z, z + classes) - z == labels[row]) ++correct;
    }
    return correct;
}

}  // namespace bpr
