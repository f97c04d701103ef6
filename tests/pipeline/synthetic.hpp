#pragma once
// A tiny synthetic classification task for pipeline tests: 1x6x6 images whose class
// is which border (top, bottom, left, right) is bright, over noise; and a small MLP.

#include <cstdint>

#include "bpr/core/rng.hpp"
#include "bpr/data/dataset.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/sequential.hpp"

namespace bpr::testing {

using tiny_mlp = sequential<flatten<float>, linear<float>, relu<float>, linear<float>>;

inline tiny_mlp make_tiny_mlp(std::uint64_t seed) {
    tiny_mlp model(flatten<float>{}, linear<float>(36, 16), relu<float>{}, linear<float>(16, 4));
    rng generator(seed);
    initialize(model, generator);
    return model;
}

inline data::dataset make_borders(index_t count, std::uint64_t seed) {
    data::dataset d;
    d.num_classes = 4;
    d.source = "borders";
    d.images.resize({count, 1, 6, 6});
    d.labels.resize(static_cast<std::size_t>(count));
    rng g(seed);
    for (index_t i = 0; i < count; ++i) {
        const int label = static_cast<int>(g.below(4));
        d.labels[static_cast<std::size_t>(i)] = label;
        for (index_t y = 0; y < 6; ++y)
            for (index_t x = 0; x < 6; ++x) {
                const bool on = (label == 0 && y == 0) || (label == 1 && y == 5) ||
                                (label == 2 && x == 0) || (label == 3 && x == 5);
                const double v = on ? 150 + 105 * g.uniform() : 140 * g.uniform();
                d.images[(i * 6 + y) * 6 + x] = static_cast<std::uint8_t>(v);
            }
    }
    return d;
}

}  // namespace bpr::testing
