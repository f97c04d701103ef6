#pragma once
// Granularity policies of a mask: which weights are kept or pruned together.

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"

namespace bpr {

// A weight tensor seen by the pruner as a matrix: one row per output channel (axis
// 0 of OIHW conv weights and of [out, in] linear weights), the rest flattened into
// columns. Rank-1 parameters (biases, when asked to prune them) are one row.
struct weight_matrix {
    index_t rows = 0;
    index_t cols = 0;

    static weight_matrix of(const shape& extents) {
        if (extents.rank() <= 1) return {1, extents.numel()};
        return {extents[0], extents[0] == 0 ? 0 : extents.numel() / extents[0]};
    }
    index_t size() const { return rows * cols; }
};

// What it represents: a granularity, i.e. how a weight matrix is cut into *units*
// that are kept or pruned as a whole (a unit's score is the sum of its weights'
// scores), and which units may be kept together.
// Requires:
//  - name: a short identifier for reports and files;
//  - unit_count(m) and unit_of(m, element) map each row-major element to a unit;
//  - restrict(m, unit_scores, eligible): clears `eligible` for units that cannot be
//    kept together with higher-scoring eligible units (only n_of_m does);
//  - valid(m, keep): whether an element mask respects the granularity.
// Guarantees: the pruner keeps whole units and only eligible ones.
template <typename G>
concept mask_policy = requires(const weight_matrix& m, index_t element,
                               std::span<const double> scores, std::span<std::uint8_t> eligible,
                               std::span<const std::uint8_t> keep) {
    { G::name } -> std::convertible_to<std::string_view>;
    { G::unit_count(m) } -> std::same_as<index_t>;
    { G::unit_of(m, element) } -> std::same_as<index_t>;
    G::restrict(m, scores, eligible);
    { G::valid(m, keep) } -> std::same_as<bool>;
};

namespace detail {

// True when all elements of each unit share one keep bit.
template <typename G>
bool units_uniform(const weight_matrix& m, std::span<const std::uint8_t> keep) {
    std::vector<std::int8_t> seen(static_cast<std::size_t>(G::unit_count(m)), -1);
    for (index_t e = 0; e < m.size(); ++e) {
        auto& s = seen[static_cast<std::size_t>(G::unit_of(m, e))];
        const auto bit = static_cast<std::int8_t>(keep[static_cast<std::size_t>(e)] != 0);
        if (s == -1)
            s = bit;
        else if (s != bit)
            return false;
    }
    return true;
}

}  // namespace detail

// Every weight is its own unit.
struct unstructured {
    static constexpr std::string_view name = "unstructured";
    static index_t unit_count(const weight_matrix& m) { return m.size(); }
    static index_t unit_of(const weight_matrix&, index_t element) { return element; }
    static void restrict(const weight_matrix&, std::span<const double>, std::span<std::uint8_t>) {}
    static bool valid(const weight_matrix&, std::span<const std::uint8_t>) { return true; }
};

// Whole output channels (conv filters, linear rows): units are rows.
struct channel {
    static constexpr std::string_view name = "channel";
    static index_t unit_count(const weight_matrix& m) { return m.rows; }
    static index_t unit_of(const weight_matrix& m, index_t element) { return element / m.cols; }
    static void restrict(const weight_matrix&, std::span<const double>, std::span<std::uint8_t>) {}
    static bool valid(const weight_matrix& m, std::span<const std::uint8_t> keep) {
        return detail::units_uniform<channel>(m, keep);
    }
};

// R x C tiles of the weight matrix; tiles at the right and bottom edges may be smaller.
template <index_t R, index_t C>
struct block {
    static_assert(R >= 1 && C >= 1, "bpr::block<R, C> needs R >= 1 and C >= 1");
    static constexpr std::string_view name = "block";
    static index_t tiles_per_row(const weight_matrix& m) { return (m.cols + C - 1) / C; }
    static index_t unit_count(const weight_matrix& m) {
        return (m.rows + R - 1) / R * tiles_per_row(m);
    }
    static index_t unit_of(const weight_matrix& m, index_t element) {
        const index_t r = element / m.cols, c = element % m.cols;
        return r / R * tiles_per_row(m) + c / C;
    }
    static void restrict(const weight_matrix&, std::span<const double>, std::span<std::uint8_t>) {}
    static bool valid(const weight_matrix& m, std::span<const std::uint8_t> keep) {
        return detail::units_uniform<block>(m, keep);
    }
};

// N:M semi-structured sparsity: in every group of M consecutive weights of a row (the
// last group of a row may be shorter), at most N are kept. Units are single weights;
// restrict() leaves only the N best eligible weights of each group eligible, which
// makes a greedy top-k over eligible weights the best N:M mask for any count.
template <index_t N, index_t M>
struct n_of_m {
    static_assert(N >= 1 && M >= 1 && N <= M, "bpr::n_of_m<N, M> needs 1 <= N <= M");
    static constexpr std::string_view name = "n_of_m";
    static index_t unit_count(const weight_matrix& m) { return m.size(); }
    static index_t unit_of(const weight_matrix&, index_t element) { return element; }

    static void restrict(const weight_matrix& m, std::span<const double> scores,
                         std::span<std::uint8_t> eligible) {
        std::vector<index_t> group;
        for (index_t r = 0; r < m.rows; ++r)
            for (index_t c0 = 0; c0 < m.cols; c0 += M) {
                group.clear();
                for (index_t c = c0; c < std::min(c0 + M, m.cols); ++c)
                    if (eligible[static_cast<std::size_t>(r * m.cols + c)])
                        group.push_back(r * m.cols + c);
                if (static_cast<index_t>(group.size()) <= N) continue;
                std::stable_sort(group.begin(), group.end(), [&](index_t a, index_t b) {
                    return scores[static_cast<std::size_t>(a)] >
                           scores[static_cast<std::size_t>(b)];
                });
                for (std::size_t i = N; i < group.size(); ++i)
                    eligible[static_cast<std::size_t>(group[i])] = 0;
            }
    }

    static bool valid(const weight_matrix& m, std::span<const std::uint8_t> keep) {
        for (index_t r = 0; r < m.rows; ++r)
            for (index_t c0 = 0; c0 < m.cols; c0 += M) {
                index_t kept = 0;
                for (index_t c = c0; c < std::min(c0 + M, m.cols); ++c)
                    kept += keep[static_cast<std::size_t>(r * m.cols + c)] != 0;
                if (kept > N) return false;
            }
        return true;
    }
};

// Whether dead units of a granularity can be revived without breaking its pattern: every
// one but N:M, where a revived weight could put more than N alive in its group.
template <typename G>
inline constexpr bool regrowable_granularity = true;
template <index_t N, index_t M>
inline constexpr bool regrowable_granularity<n_of_m<N, M>> = false;

}  // namespace bpr
