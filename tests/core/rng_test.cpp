#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>
#include <vector>

#include "bpr/core/rng.hpp"

TEST_CASE("rng streams repeat for a seed and differ between seeds", "[core][rng]") {
    bpr::rng a(42), b(42), c(43);
    for (int i = 0; i < 100; ++i) {
        const auto x = a();
        CHECK(x == b());
        CHECK(x != c());
    }
}

TEST_CASE("rng uniform and normal have the right moments", "[core][rng]") {
    bpr::rng r(1);
    const int n = 200000;
    double sum = 0, sum_sq = 0, normal_sum = 0, normal_sq = 0;
    for (int i = 0; i < n; ++i) {
        const double u = r.uniform();
        REQUIRE(u >= 0.0);
        REQUIRE(u < 1.0);
        sum += u;
        sum_sq += u * u;
        const double z = r.normal();
        normal_sum += z;
        normal_sq += z * z;
    }
    CHECK(sum / n == Approx(0.5).margin(0.01));
    CHECK(sum_sq / n - (sum / n) * (sum / n) == Approx(1.0 / 12).margin(0.005));
    CHECK(normal_sum / n == Approx(0.0).margin(0.01));
    CHECK(normal_sq / n == Approx(1.0).margin(0.02));
}

TEST_CASE("rng below is in range and covers it, shuffle is a permutation", "[core][rng]") {
    bpr::rng r(7);
    std::vector<int> hits(10, 0);
    for (int i = 0; i < 10000; ++i)
        ++hits[r.below(10)];
    for (int h : hits)
        CHECK(h > 800);
    std::vector<int> v(50);
    std::iota(v.begin(), v.end(), 0);
    bpr::shuffle(v.begin(), v.end(), r);
    std::vector<int> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 50; ++i)
        CHECK(sorted[i] == i);
    CHECK(v != sorted);
}

TEST_CASE("rng snapshot restores the exact stream", "[core][rng]") {
    bpr::rng r(5);
    r.normal();
    const auto saved = r.save();
    const double next = r.normal(), after = r.uniform();
    r.restore(saved);
    CHECK(r.normal() == next);
    CHECK(r.uniform() == after);
}
