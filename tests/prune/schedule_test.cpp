#include "bpr/prune/schedule.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace bpr;

namespace {
struct schedule_archetype {
    static constexpr std::string_view name = "archetype";
    std::vector<double> targets(double, double final) const { return {final}; }
};
struct wrong_return {
    static constexpr std::string_view name = "x";
    double targets(double, double final) const { return final; }
};
}  // namespace

static_assert(prune_schedule<schedule_archetype>);
static_assert(!prune_schedule<wrong_return>);
static_assert(prune_schedule<one_shot>);
static_assert(prune_schedule<iterative>);
static_assert(prune_schedule<gradual>);

TEST_CASE("one-shot prunes once", "[prune][schedule]") {
    CHECK(one_shot{}.targets(0.0, 0.99) == std::vector<double>{0.99});
    CHECK_THROWS_WITH(one_shot{}.targets(0.5, 0.4), Catch::Contains("0.4"));
}

TEST_CASE("iterative: 20 rounds of 20% reach 98.847%", "[prune][schedule]") {
    const double final = 1 - std::pow(0.8, 20);
    CHECK(final == Approx(0.98847078495).epsilon(1e-10));
    const auto t = iterative{.fraction = 0.2}.targets(0.0, final);
    REQUIRE(t.size() == 20);
    for (int r = 1; r <= 20; ++r)
        CHECK(t[static_cast<std::size_t>(r - 1)] == Approx(1 - std::pow(0.8, r)).epsilon(1e-12));
    CHECK(t.back() == final);
    // To 99% it needs a 21st round, cut to the budget.
    const auto t99 = iterative{}.targets(0.0, 0.99);
    CHECK(t99.size() == 21);
    CHECK(t99.back() == 0.99);
    // Starting from an already sparse model, rounds remove 20% of what remains.
    const auto half = iterative{}.targets(0.5, 0.68);
    REQUIRE(half.size() == 2);
    CHECK(half[0] == Approx(0.6));
    CHECK(half[1] == 0.68);
    CHECK_THROWS_WITH(iterative{.fraction = 1.0}.targets(0, 0.5), Catch::Contains("fraction"));
}

TEST_CASE("gradual follows the cubic schedule of Zhu and Gupta", "[prune][schedule]") {
    const auto t = gradual{.events = 4}.targets(0.0, 0.9);
    REQUIRE(t.size() == 4);
    CHECK(t[0] == Approx(0.9 - 0.9 * 0.421875));
    CHECK(t[1] == Approx(0.9 - 0.9 * 0.125));
    CHECK(t[2] == Approx(0.9 - 0.9 / 64));
    CHECK(t[3] == 0.9);
    const auto with_initial = gradual{.events = 2, .initial_sparsity = 0.5}.targets(0.0, 0.9);
    REQUIRE(with_initial.size() == 3);
    CHECK(with_initial[0] == 0.5);
    CHECK(with_initial[1] == Approx(0.9 - 0.4 * 0.125));
    CHECK(with_initial[2] == 0.9);
}
