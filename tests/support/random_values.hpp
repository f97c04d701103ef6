#pragma once
// Random tensors and parameters for the unit tests, shared so that no two test files of
// one area define the same helper: the sanitizer build compiles each area as one unity
// translation unit (docs/architecture.md, "The test suite's cost").

#include <cstdint>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr_test {

// Every value uniform in [low, high], one draw per value.
template <typename T>
void fill_uniform(bpr::tensor<T>& t, bpr::rng& r, double low = -1.0, double high = 1.0) {
    for (auto& v : t)
        v = static_cast<T>(r.uniform(low, high));
}

template <typename T = float>
bpr::tensor<T> uniform_tensor(const bpr::shape& s, bpr::rng& r) {
    bpr::tensor<T> t(s);
    fill_uniform(t, r);
    return t;
}

// Every parameter of `layer` uniform in [low, high].
template <typename Layer>
void randomize_params(Layer& layer, std::uint64_t seed, double low = -0.5, double high = 0.5) {
    bpr::rng r(seed);
    bpr::visit_params(layer, [&](std::size_t, const std::string&, auto& p) {
        for (auto& v : p.value)
            v = r.uniform(low, high);
    });
}

// The same, but normalization scales in [0.5, 1.5]: away from zero, so that no channel of a
// gradient check is switched off.
template <typename Layer>
void randomize_params_with_unit_scales(Layer& layer, std::uint64_t seed) {
    bpr::rng r(seed);
    bpr::visit_params(layer, [&](std::size_t, const std::string&, auto& p) {
        const bool scale = p.role == bpr::param_role::norm_scale;
        for (auto& v : p.value)
            v = scale ? r.uniform(0.5, 1.5) : r.uniform(-0.5, 0.5);
    });
}

template <typename Layer>
std::vector<std::string> param_names(Layer& layer) {
    std::vector<std::string> names;
    bpr::visit_params(layer,
                      [&](std::size_t, const std::string& name, auto&) { names.push_back(name); });
    return names;
}

}  // namespace bpr_test
