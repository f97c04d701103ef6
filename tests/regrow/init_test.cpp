#include "bpr/regrow/init.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

using namespace bpr;

namespace {
struct init_archetype {
    static constexpr std::string_view name = "archetype";
    void initialize(tensor<float>&, std::span<const index_t>, const tensor<float>*, rng&) const {}
};
struct init_without_initialize {
    static constexpr std::string_view name = "x";
};
}  // namespace

static_assert(regrow_init<init_archetype>);
static_assert(!regrow_init<init_without_initialize>);
static_assert(regrow_init<init_zero>);
static_assert(regrow_init<init_dense>);
static_assert(regrow_init<init_kaiming>);

TEST_CASE("inits write exactly the listed positions", "[regrow][init]") {
    tensor<float> w(shape{2, 3}, 5.0f);
    tensor<float> w0(shape{2, 3});
    for (index_t i = 0; i < 6; ++i)
        w0[i] = float(10 + i);
    const std::vector<index_t> positions{1, 4};
    rng g(1);

    init_zero{}.initialize(w, positions, &w0, g);
    CHECK(std::vector<float>(w.begin(), w.end()) == std::vector<float>{5, 0, 5, 5, 0, 5});

    init_dense{}.initialize(w, positions, &w0, g);
    CHECK(std::vector<float>(w.begin(), w.end()) == std::vector<float>{5, 11, 5, 5, 14, 5});
    CHECK_THROWS_WITH(init_dense{}.initialize(w, positions, nullptr, g),
                      Catch::Contains("init_dense"));
    tensor<float> other(shape{3, 2});
    CHECK_THROWS_WITH(
        init_dense{}.initialize(w, positions, &other, g),
        Catch::Contains("[3, 2]") || Catch::Contains("3x2") || Catch::Contains("shape"));

    init_kaiming{.scale = 0.0}.initialize(w, positions, nullptr, g);
    CHECK(w[1] == 0.0f);
    CHECK(w[0] == 5.0f);
}

TEST_CASE("kaiming init has std scale * sqrt(2 / fan_in) and is seeded", "[regrow][init]") {
    tensor<float> w(shape{8, 4, 5, 5});  // fan_in 100
    std::vector<index_t> all(static_cast<std::size_t>(w.size()));
    for (index_t i = 0; i < w.size(); ++i)
        all[static_cast<std::size_t>(i)] = i;
    rng g(7);
    init_kaiming{.scale = 0.5}.initialize(w, all, nullptr, g);
    double sum = 0, squares = 0;
    for (const float v : w) {
        sum += v;
        squares += double(v) * v;
    }
    const double n = double(w.size());
    const double stddev = std::sqrt(squares / n - (sum / n) * (sum / n));
    CHECK(stddev == Approx(0.5 * std::sqrt(2.0 / 100.0)).epsilon(0.1));

    tensor<float> again(shape{8, 4, 5, 5});
    rng same(7);
    init_kaiming{.scale = 0.5}.initialize(again, all, nullptr, same);
    CHECK(std::vector<float>(w.begin(), w.end()) == std::vector<float>(again.begin(), again.end()));
}
