#pragma once
// bpr::data::split: a seeded carve-out of a validation set from training data.

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/data/dataset.hpp"

namespace bpr::data {

// The two parts of a split: `validation` holds the carved-out images, `train` the rest.
struct split_result {
    dataset train;
    dataset validation;
};

// Moves `count` images chosen uniformly at random (seeded) into a validation set, for
// model selection that never looks at the test set. Both parts keep the original
// relative order of their images, so the result depends only on (data, count, seed).
// Requires 0 <= count <= data.size().
inline split_result split(const dataset& data, index_t count, std::uint64_t seed) {
    BPR_REQUIRE(count >= 0 && count <= data.size(), "data::split: validation count ", count,
                " is outside [0, ", data.size(), "] for ", data.source);
    std::vector<index_t> order(static_cast<std::size_t>(data.size()));
    std::iota(order.begin(), order.end(), index_t{0});
    rng generator(seed ^ 0x5b1d0a7e3c9f2e41ULL);
    bpr::shuffle(order.begin(), order.end(), generator);
    std::vector<index_t> validation(order.begin(), order.begin() + count);
    std::vector<index_t> train(order.begin() + count, order.end());
    std::sort(validation.begin(), validation.end());
    std::sort(train.begin(), train.end());
    return {subset(data, train), subset(data, validation)};
}

}  // namespace bpr::data
