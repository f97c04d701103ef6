#include "bpr/prune/allocation.hpp"

#include <catch2/catch.hpp>

using namespace bpr;

namespace {
struct allocation_archetype {
    static constexpr std::string_view name = "archetype";
    void allocate(std::span<allocation_layer>, index_t) const {}
};
struct no_allocate {
    static constexpr std::string_view name = "x";
};

// A layer of single-weight units with the given scores, all eligible.
allocation_layer layer(std::string name, shape extents, std::vector<double> scores,
                       index_t floor = 0) {
    allocation_layer l;
    l.name = std::move(name);
    l.extents = extents;
    if (scores.empty()) scores.assign(static_cast<std::size_t>(extents.numel()), 1.0);
    l.unit_scores = std::move(scores);
    l.unit_sizes.assign(l.unit_scores.size(), 1);
    l.eligible.assign(l.unit_scores.size(), 1);
    l.floor = floor;
    l.cap = extents.numel();
    return l;
}
using keep_bits = std::vector<std::uint8_t>;
}  // namespace

static_assert(allocation<allocation_archetype>);
static_assert(!allocation<no_allocate>);
static_assert(allocation<global_allocation>);
static_assert(allocation<uniform_allocation>);
static_assert(allocation<erk_allocation>);
static_assert(allocation<lamp_allocation>);

TEST_CASE("global allocation keeps the best scores anywhere, ties by layer then index",
          "[prune][allocation]") {
    std::vector<allocation_layer> layers{layer("a", {4}, {4, 3, 2, 1}), layer("b", {3}, {2, 2, 1})};
    global_allocation{}.allocate(layers, 4);
    CHECK(layers[0].keep == keep_bits{1, 1, 1, 0});
    CHECK(layers[1].keep == keep_bits{1, 0, 0});

    // Floors come first from each layer's own best.
    std::vector<allocation_layer> floored{layer("a", {4}, {4, 3, 2, 1}),
                                          layer("b", {3}, {0.1, 0.3, 0.2}, 2)};
    global_allocation{}.allocate(floored, 4);
    CHECK(floored[0].keep == keep_bits{1, 1, 0, 0});
    CHECK(floored[1].keep == keep_bits{0, 1, 1});

    // Ineligible units are never kept; caps hold.
    std::vector<allocation_layer> capped{layer("a", {4}, {4, 3, 2, 1}), layer("b", {3}, {2, 2, 1})};
    capped[0].eligible[0] = 0;
    capped[0].cap = 1;
    global_allocation{}.allocate(capped, 3);
    CHECK(capped[0].keep == keep_bits{0, 1, 0, 0});
    CHECK(capped[1].keep == keep_bits{1, 1, 0});
}

TEST_CASE("LAMP scores by hand", "[prune][allocation]") {
    auto a = layer("a", {4}, {4, 3, 2, 1});
    const auto sa = lamp_allocation::lamp_scores(a);
    CHECK(sa[0] == Approx(1.0));
    CHECK(sa[1] == Approx(9.0 / 25));
    CHECK(sa[2] == Approx(4.0 / 29));
    CHECK(sa[3] == Approx(1.0 / 30));
    auto b = layer("b", {3}, {2, 2, 1});  // tied weights share one denominator
    const auto sb = lamp_allocation::lamp_scores(b);
    CHECK(sb[0] == Approx(0.5));
    CHECK(sb[1] == Approx(0.5));
    CHECK(sb[2] == Approx(1.0 / 9));

    // Global magnitude would keep {4, 3, 2} of a and one 2 of b; LAMP keeps 2 + 2.
    std::vector<allocation_layer> layers{a, b};
    lamp_allocation{}.allocate(layers, 4);
    CHECK(layers[0].keep == keep_bits{1, 1, 0, 0});
    CHECK(layers[1].keep == keep_bits{1, 1, 0});
}

TEST_CASE("uniform allocation gives every layer the same density", "[prune][allocation]") {
    std::vector<allocation_layer> layers{layer("a", {100}, {}), layer("b", {50}, {}),
                                         layer("c", {7}, {})};
    uniform_allocation{}.allocate(layers, 31);  // density 31/157: 19.75, 9.87, 1.38
    CHECK(layers[0].kept_weights() == 20);
    CHECK(layers[1].kept_weights() == 10);
    CHECK(layers[2].kept_weights() == 1);
    // A floor raises one layer; the others share what is left.
    std::vector<allocation_layer> floored{layer("a", {100}, {}), layer("b", {50}, {}, 40)};
    uniform_allocation{}.allocate(floored, 60);
    CHECK(floored[0].kept_weights() == 20);
    CHECK(floored[1].kept_weights() == 40);
}

TEST_CASE("ERK by hand, with dense layers and conv kernels", "[prune][allocation]") {
    // [4, 8]: (4 + 8) / 32 = 0.375; [2, 4]: 6 / 8 = 0.75. Nonzeros proportional to
    // the sum of the extents: 12 : 6.
    std::vector<allocation_layer> layers{layer("a", {4, 8}, {}), layer("b", {2, 4}, {})};
    erk_allocation{}.allocate(layers, 12);
    CHECK(layers[0].kept_weights() == 8);  // eps = 2/3: density 0.25
    CHECK(layers[1].kept_weights() == 4);  // density 0.5
    // eps = 5/3 would give b density 1.25: b becomes dense, a gets the rest.
    erk_allocation{}.allocate(layers, 30);
    CHECK(layers[1].kept_weights() == 8);
    CHECK(layers[0].kept_weights() == 22);
    CHECK(erk_allocation::raw_density({16, 8, 3, 3}, 1.0) == Approx(30.0 / 1152));
    // conv [16, 8, 3, 3] (sum 30) and linear [10, 16] (sum 26), 56 nonzeros: 30 + 26.
    std::vector<allocation_layer> mixed{layer("conv", {16, 8, 3, 3}, {}),
                                        layer("fc", {10, 16}, {})};
    erk_allocation{}.allocate(mixed, 56);
    CHECK(mixed[0].kept_weights() == 30);
    CHECK(mixed[1].kept_weights() == 26);
}

TEST_CASE("distribute is exact under bounds", "[prune][allocation]") {
    const std::vector<double> w{1, 1, 1};
    const std::vector<index_t> low{0, 0, 0}, high{10, 10, 10};
    CHECK(detail::distribute(10, w, low, high) == std::vector<index_t>{4, 3, 3});
    CHECK(detail::distribute(30, w, low, high) == std::vector<index_t>{10, 10, 10});
    CHECK(detail::distribute(0, w, low, high) == std::vector<index_t>{0, 0, 0});
    const std::vector<double> skew{1, 0, 100};
    const std::vector<index_t> low2{2, 3, 0};
    const auto c = detail::distribute(20, skew, low2, high);
    CHECK(c == std::vector<index_t>{7, 3, 10});  // 2 is capped, 0 keeps its floor
}
