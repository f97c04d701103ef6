#include <catch2/catch.hpp>
#include <vector>

#include "bpr/optim/schedule.hpp"

static_assert(bpr::lr_schedule<bpr::constant_lr>);
static_assert(bpr::lr_schedule<bpr::warmup<bpr::cosine_lr>>);
static_assert(bpr::lr_schedule<bpr::any_schedule>);
static_assert(!bpr::lr_schedule<int>);

TEST_CASE("constant and step schedules", "[optim][schedule]") {
    CHECK(bpr::constant_lr{0.3}.lr(17, 100) == 0.3);
    const bpr::step_lr s{.base = 1.0, .milestones = {10, 20}, .gamma = 0.5};
    CHECK(s.lr(0, 30) == 1.0);
    CHECK(s.lr(9, 30) == 1.0);
    CHECK(s.lr(10, 30) == 0.5);
    CHECK(s.lr(19, 30) == 0.5);
    CHECK(s.lr(20, 30) == 0.25);
}

TEST_CASE("cosine schedule", "[optim][schedule]") {
    const bpr::cosine_lr s{.base = 0.1, .min_lr = 0.001};
    CHECK(s.lr(0, 100) == Approx(0.1));
    CHECK(s.lr(50, 100) == Approx(0.0505));
    CHECK(s.lr(100, 100) == Approx(0.001));
    CHECK(s.lr(25, 100) == Approx(0.001 + 0.099 * 0.5 * (1 + 0.70710678118)));
    CHECK(s.lr(200, 100) == Approx(0.001));
}

TEST_CASE("linear warm-up then the inner schedule", "[optim][schedule]") {
    const bpr::warmup w{bpr::cosine_lr{.base = 0.1}, 10, 0.1};
    CHECK(w.lr(0, 110) == Approx(0.01));
    CHECK(w.lr(5, 110) == Approx(0.1 * (0.1 + 0.9 * 0.5)));
    CHECK(w.lr(10, 110) == Approx(0.1));   // the inner schedule starts at its step 0
    CHECK(w.lr(60, 110) == Approx(0.05));  // half-way through the remaining 100
    CHECK(w.lr(110, 110) == Approx(0.0).margin(1e-12));
}

TEST_CASE("one-cycle matches torch's OneCycleLR", "[optim][schedule]") {
    // Reference: /usr/bin/python3, torch 1.13: OneCycleLR(opt, max_lr=0.1,
    // total_steps=100), the lr read before each of 100 scheduler steps.
    const bpr::one_cycle_lr s{.max_lr = 0.1};
    CHECK(s.lr(0, 100) == Approx(0.004));
    CHECK(s.lr(10, 100) == Approx(0.0295163948464));
    CHECK(s.lr(29, 100) == Approx(0.1));
    CHECK(s.lr(50, 100) == Approx(0.0793893450576));
    CHECK(s.lr(99, 100) == Approx(4e-07));
}

TEST_CASE("any_schedule forwards to the wrapped schedule", "[optim][schedule]") {
    std::vector<bpr::any_schedule> schedules = {bpr::constant_lr{0.2}, bpr::step_lr{1.0, {1}, 0.1}};
    CHECK(schedules[0].lr(5, 10) == 0.2);
    CHECK(schedules[1].lr(5, 10) == Approx(0.1));
}
