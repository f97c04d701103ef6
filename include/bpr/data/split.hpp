#pragma once
// bpr::data::split: a seeded carve-out of a validation set from training data.

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>
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

// How split() chooses the validation images: uniformly at random, or stratified (each
// class contributes in proportion to its size, largest remainders rounding up, so the
// validation set's class balance matches the data's).
enum class split_mode { random, stratified };

// Moves `count` seeded, randomly chosen images into a validation set, for model
// selection that never looks at the test set. Both parts keep the original relative
// order of their images, so the result depends only on (data, count, seed, mode).
// Requires 0 <= count <= data.size(); stratified also needs labels in
// [0, num_classes).
inline split_result split(const dataset& data, index_t count, std::uint64_t seed,
                          split_mode mode = split_mode::random) {
    BPR_REQUIRE(count >= 0 && count <= data.size(), "data::split: validation count ", count,
                " is outside [0, ", data.size(), "] for ", data.source);
    rng generator(seed ^ 0x5b1d0a7e3c9f2e41ULL);
    std::vector<char> chosen(static_cast<std::size_t>(data.size()), 0);
    if (mode == split_mode::random) {
        std::vector<index_t> order(static_cast<std::size_t>(data.size()));
        std::iota(order.begin(), order.end(), index_t{0});
        bpr::shuffle(order.begin(), order.end(), generator);
        for (index_t k = 0; k < count; ++k)
            chosen[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])] = 1;
    } else {
        data.validate();
        const auto classes = static_cast<std::size_t>(data.num_classes);
        std::vector<std::vector<index_t>> members(classes);
        for (index_t i = 0; i < data.size(); ++i)
            members[static_cast<std::size_t>(data.labels[static_cast<std::size_t>(i)])].push_back(
                i);
        // Quotas: floor of the proportional share, then one more for the classes with
        // the largest remainders (ties: lower label first) until `count` is reached.
        std::vector<index_t> quota(classes);
        std::vector<std::pair<index_t, std::size_t>> remainders;
        index_t assigned = 0;
        for (std::size_t c = 0; c < classes; ++c) {
            const index_t share = count * static_cast<index_t>(members[c].size());
            quota[c] = share / data.size();
            assigned += quota[c];
            remainders.emplace_back(share % data.size(), c);
        }
        std::stable_sort(remainders.begin(), remainders.end(),
                         [](const auto& a, const auto& b) { return a.first > b.first; });
        for (std::size_t r = 0; assigned < count; ++r, ++assigned)
            ++quota[remainders[r].second];
        for (std::size_t c = 0; c < classes; ++c) {
            bpr::shuffle(members[c].begin(), members[c].end(), generator);
            for (index_t k = 0; k < quota[c]; ++k)
                chosen[static_cast<std::size_t>(members[c][static_cast<std::size_t>(k)])] = 1;
        }
    }
    std::vector<index_t> train, validation;
    for (index_t i = 0; i < data.size(); ++i)
        (chosen[static_cast<std::size_t>(i)] ? validation : train).push_back(i);
    return {subset(data, train), subset(data, validation)};
}

}  // namespace bpr::data
