#include "bpr/sparse/granularity.hpp"

#include <catch2/catch.hpp>

using namespace bpr;

namespace {
// The smallest type satisfying mask_policy: the concept's archetype.
struct policy_archetype {
    static constexpr std::string_view name = "archetype";
    static index_t unit_count(const weight_matrix&) { return 0; }
    static index_t unit_of(const weight_matrix&, index_t) { return 0; }
    static void restrict(const weight_matrix&, std::span<const double>, std::span<std::uint8_t>) {}
    static bool valid(const weight_matrix&, std::span<const std::uint8_t>) { return true; }
};
struct missing_valid {
    static constexpr std::string_view name = "x";
    static index_t unit_count(const weight_matrix&) { return 0; }
    static index_t unit_of(const weight_matrix&, index_t) { return 0; }
    static void restrict(const weight_matrix&, std::span<const double>, std::span<std::uint8_t>) {}
};
}  // namespace

static_assert(mask_policy<policy_archetype>);
static_assert(!mask_policy<missing_valid>);
static_assert(!mask_policy<int>);
static_assert(mask_policy<unstructured>);
static_assert(mask_policy<channel>);
static_assert(mask_policy<block<2, 2>>);
static_assert(mask_policy<n_of_m<2, 4>>);

TEST_CASE("weight_matrix views weights as output channels x the rest", "[sparse][granularity]") {
    CHECK(weight_matrix::of({16, 8, 3, 3}).rows == 16);
    CHECK(weight_matrix::of({16, 8, 3, 3}).cols == 72);
    CHECK(weight_matrix::of({10, 4}).cols == 4);
    CHECK(weight_matrix::of({7}).rows == 1);
    CHECK(weight_matrix::of({7}).cols == 7);
}

TEST_CASE("block and channel units tile the matrix", "[sparse][granularity]") {
    const weight_matrix m{3, 5};
    using b = block<2, 2>;
    CHECK(b::unit_count(m) == 6);  // 2 tile rows x 3 tile columns, edges smaller
    CHECK(b::unit_of(m, 0) == 0);
    CHECK(b::unit_of(m, 1) == 0);
    CHECK(b::unit_of(m, 2) == 1);
    CHECK(b::unit_of(m, 4) == 2);
    CHECK(b::unit_of(m, 5 + 1) == 0);
    CHECK(b::unit_of(m, 10) == 3);
    CHECK(b::unit_of(m, 14) == 5);
    CHECK(channel::unit_count(m) == 3);
    CHECK(channel::unit_of(m, 9) == 1);
    std::vector<std::uint8_t> keep(15, 0);
    keep[0] = keep[1] = keep[5] = keep[6] = 1;
    CHECK(b::valid(m, keep));
    keep[6] = 0;
    CHECK_FALSE(b::valid(m, keep));
}

TEST_CASE("n_of_m leaves the N best of every M eligible", "[sparse][granularity]") {
    using nm = n_of_m<2, 4>;
    const weight_matrix m{2, 6};  // groups: cols 0-3 and 4-5 per row
    const std::vector<double> scores{0.1, 0.9, 0.5, 0.5, 0.3, 0.2,  //
                                     4,   3,   2,   1,   0,   0};
    std::vector<std::uint8_t> eligible(12, 1);
    eligible[1] = 0;  // already pruned: the next best of its group become eligible
    nm::restrict(m, scores, eligible);
    CHECK(eligible == std::vector<std::uint8_t>{0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1});
    CHECK(nm::valid(m, eligible));
    std::vector<std::uint8_t> three(12, 0);
    three[6] = three[7] = three[8] = 1;
    CHECK_FALSE(nm::valid(m, three));
}
