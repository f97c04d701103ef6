#pragma once
// The trainer tests' model: 1x4x4 images -> 8 hidden units -> 3 classes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/sequential.hpp"

namespace bpr_test {

using mlp =
    bpr::sequential<bpr::flatten<float>, bpr::linear<float>, bpr::relu<float>, bpr::linear<float>>;

inline mlp make_mlp(std::uint64_t seed) {
    mlp model(bpr::flatten<float>{}, bpr::linear<float>(16, 8), bpr::relu<float>{},
              bpr::linear<float>(8, 3));
    bpr::rng generator(seed);
    bpr::initialize(model, generator);
    return model;
}

// Every parameter value, in visiting order.
template <typename Model>
std::vector<float> weights_of(Model& model) {
    std::vector<float> all;
    bpr::visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        all.insert(all.end(), p.value.begin(), p.value.end());
    });
    return all;
}

}  // namespace bpr_test
