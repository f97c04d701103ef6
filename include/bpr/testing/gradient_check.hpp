#pragma once
// bpr::testing::check_gradients: compares a layer's backward with central finite
// differences, so users can test their own layers the way bpr tests its own.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr::testing {

// How check_gradients probes a layer.
struct gradient_check_options {
    // Finite-difference step; central differences have error O(step^2).
    double step = 1e-5;
    // Relative errors are |analytic - numeric| / max(|analytic|, |numeric|, floor), so
    // gradients far below `floor` are compared absolutely (round-off dominates there).
    double floor = 1e-3;
    // The mode forward runs in (train exercises batch statistics and dropout masks).
    mode forward_mode = mode::train;
    // Inputs are drawn uniformly with magnitude in [min_magnitude, max_magnitude] and a
    // random sign, keeping them away from kinks at 0 (relu, relu6 at 0).
    double min_magnitude = 0.05;
    double max_magnitude = 1.0;
    // At most this many entries per tensor are probed (a random subset); 0 = all.
    index_t max_entries_per_tensor = 0;
    // A layer with a seed(uint64) method (dropout) is reseeded with this before every
    // forward, so that each forward draws the same random mask. Only the checked layer
    // itself is reseeded: check a model that contains dropout in eval mode.
    std::uint64_t layer_seed = 12345;
};

// The outcome of check_gradients: the worst entry over the input gradient and every
// parameter gradient, and where it is.
struct gradient_check_report {
    double max_relative_error = 0.0;
    std::string worst_tensor;  // "input" or the parameter's name
    index_t worst_index = -1;
    double worst_analytic = 0.0;
    double worst_numeric = 0.0;
    index_t entries_checked = 0;

    std::string str() const {
        return detail::concat("max relative error ", max_relative_error, " at ", worst_tensor, "[",
                              worst_index, "] (analytic ", worst_analytic, ", numeric ",
                              worst_numeric, ") over ", entries_checked, " entries");
    }
};

namespace detail {

template <typename L>
void reseed_if_random(L& l, std::uint64_t seed) {
    if constexpr (requires { l.seed(seed); }) l.seed(seed);
}

inline std::vector<index_t> probe_indices(index_t size, index_t limit, rng& generator) {
    std::vector<index_t> indices(static_cast<std::size_t>(size));
    for (index_t i = 0; i < size; ++i)
        indices[static_cast<std::size_t>(i)] = i;
    if (limit > 0 && limit < size) {
        bpr::shuffle(indices.begin(), indices.end(), generator);
        indices.resize(static_cast<std::size_t>(limit));
        std::sort(indices.begin(), indices.end());
    }
    return indices;
}

}  // namespace detail

// What it does: draws a random input of `input_shape` and a random projection R of the
// output, takes loss = sum(forward(input) * R), runs backward once with grad_out = R,
// then perturbs each probed entry of the input and of every parameter (through
// visit_params) by +-step and compares (loss+ - loss-) / (2 step) with the analytic
// gradient.
// Requires: a layer over double (float has too little precision for this check); a
// deterministic forward (layers with a seed(uint64) method are reseeded before each
// forward). Batch-statistics layers are fine: the loss stays a deterministic function.
// Guarantees: parameter values are restored; the layer's running statistics may move.
template <layer L>
gradient_check_report check_gradients(L& l, const shape& input_shape, rng& generator,
                                      const gradient_check_options& options = {}) {
    static_assert(std::is_same_v<typename L::value_type, double>,
                  "check_gradients needs a layer over double");
    BPR_REQUIRE(options.step > 0.0, "check_gradients: step must be > 0, got ", options.step);
    BPR_REQUIRE(options.min_magnitude <= options.max_magnitude, "check_gradients: min_magnitude ",
                options.min_magnitude, " exceeds max_magnitude ", options.max_magnitude);
    using tensor_t = tensor<double>;

    tensor_t input(input_shape);
    for (auto& v : input) {
        const double magnitude = generator.uniform(options.min_magnitude, options.max_magnitude);
        v = generator.uniform() < 0.5 ? -magnitude : magnitude;
    }
    const shape out_shape = l.output_shape(input_shape);
    tensor_t projection(out_shape);
    for (auto& v : projection)
        v = generator.uniform(-1.0, 1.0);

    tensor_t output;
    auto loss_at = [&](const tensor_t& x) {
        detail::reseed_if_random(l, options.layer_seed);
        l.forward(x, output, options.forward_mode);
        BPR_REQUIRE(output.shape() == out_shape, "check_gradients: forward produced shape ",
                    output.shape().str(), ", output_shape said ", out_shape.str());
        double loss = 0;
        for (index_t i = 0; i < output.size(); ++i)
            loss += output[i] * projection[i];
        return loss;
    };

    // The analytic gradients, from one forward + backward.
    loss_at(input);
    tensor_t grad_input;
    l.backward(input, output, projection, grad_input);
    BPR_REQUIRE(grad_input.shape() == input_shape, "check_gradients: backward produced grad_in ",
                grad_input.shape().str(), ", expected ", input_shape.str());
    std::vector<tensor_t> param_grads;
    visit_params(l,
                 [&](std::size_t, const std::string&, auto& p) { param_grads.push_back(p.grad); });

    gradient_check_report report;
    auto compare = [&](const std::string& name, index_t index, double analytic, double numeric) {
        const double scale = std::max({std::abs(analytic), std::abs(numeric), options.floor});
        const double error = std::abs(analytic - numeric) / scale;
        ++report.entries_checked;
        if (error > report.max_relative_error || report.worst_index < 0) {
            report.max_relative_error = error;
            report.worst_tensor = name;
            report.worst_index = index;
            report.worst_analytic = analytic;
            report.worst_numeric = numeric;
        }
    };
    // Perturbs value[i] in place and returns the central difference of the loss.
    auto central_difference = [&](double& value, auto&& loss) {
        const double saved = value;
        value = saved + options.step;
        const double plus = loss();
        value = saved - options.step;
        const double minus = loss();
        value = saved;
        return (plus - minus) / (2.0 * options.step);
    };

    for (index_t i :
         detail::probe_indices(input.size(), options.max_entries_per_tensor, generator)) {
        const double numeric = central_difference(input[i], [&] { return loss_at(input); });
        compare("input", i, grad_input[i], numeric);
    }
    visit_params(l, [&](std::size_t index, const std::string& name, auto& p) {
        const tensor_t& analytic = param_grads[index];
        for (index_t i :
             detail::probe_indices(p.value.size(), options.max_entries_per_tensor, generator)) {
            const double numeric = central_difference(p.value[i], [&] { return loss_at(input); });
            compare(name, i, analytic[i], numeric);
        }
    });
    return report;
}

}  // namespace bpr::testing
