#pragma once
// bpr::initialize: fills a model's parameters with a standard random initialization.

#include <cmath>
#include <string>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// Weight initializations. fan_in = numel / shape[0] (in_channels / groups * k * k for
// conv2d, in_features for linear); fan_out = numel / shape[1].
enum class init_scheme {
    // He et al.: normal with std = sqrt(2 / fan_in) (torch kaiming_normal_, fan_in, relu);
    // biases 0.
    kaiming_normal,
    // The same with fan_out, as torchvision's ResNets (kaiming_normal_(mode="fan_out")).
    kaiming_normal_fan_out,
    // What torch.nn.Conv2d / Linear do by default: weights kaiming_uniform_(a = sqrt(5)),
    // i.e. uniform in +-1 / sqrt(fan_in), and biases uniform in +-1 / sqrt(fan_in) of the
    // weight that precedes them.
    pytorch_default,
};

namespace detail {

template <typename T>
double fan_in_of(const tensor<T>& weight) {
    return static_cast<double>(weight.size()) / static_cast<double>(weight.extent(0));
}

template <typename T>
double fan_out_of(const tensor<T>& weight) {
    const shape& s = weight.shape();
    return s.rank() >= 2 ? static_cast<double>(weight.size()) / static_cast<double>(s[1])
                         : static_cast<double>(s[0]);
}

}  // namespace detail

// What it does: visits every parameter of `model` in visit_params order and sets
// weights by `scheme`, biases by `scheme` (0 unless pytorch_default), norm_scale to 1
// and norm_shift to 0. Gradients are zeroed. Buffers (running statistics) are left
// alone.
// Guarantees: draws come from `generator` in a fixed order, so the same seed gives the
// same model with any compiler and thread count.
template <typename Model>
void initialize(Model& model, rng& generator, init_scheme scheme = init_scheme::kaiming_normal) {
    double last_fan_in = 0.0;  // of the most recent weight, for pytorch_default biases
    visit_params(model, [&](std::size_t, const std::string& name, auto& p) {
        using T = typename std::remove_reference_t<decltype(p.value)>::value_type;
        p.grad.zero();
        if (p.value.empty()) return;
        switch (p.role) {
            case param_role::weight: {
                BPR_REQUIRE(p.value.shape().rank() >= 1, "initialize: weight ", name,
                            " has rank 0");
                const double fan_in = detail::fan_in_of(p.value);
                last_fan_in = fan_in;
                if (scheme == init_scheme::pytorch_default) {
                    const double bound = 1.0 / std::sqrt(fan_in);
                    for (auto& v : p.value)
                        v = static_cast<T>(generator.uniform(-bound, bound));
                } else {
                    const double fan = scheme == init_scheme::kaiming_normal
                                           ? fan_in
                                           : detail::fan_out_of(p.value);
                    const double stddev = std::sqrt(2.0 / fan);
                    for (auto& v : p.value)
                        v = static_cast<T>(generator.normal(0.0, stddev));
                }
                break;
            }
            case param_role::bias:
                if (scheme == init_scheme::pytorch_default && last_fan_in > 0.0) {
                    const double bound = 1.0 / std::sqrt(last_fan_in);
                    for (auto& v : p.value)
                        v = static_cast<T>(generator.uniform(-bound, bound));
                } else {
                    p.value.zero();
                }
                break;
            case param_role::norm_scale:
                p.value.fill(T(1));
                break;
            case param_role::norm_shift:
                p.value.zero();
                break;
        }
    });
}

}  // namespace bpr
