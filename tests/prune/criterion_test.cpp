#include "bpr/prune/criterion.hpp"

#include <catch2/catch.hpp>
#include <cmath>

#include "../sparse/tiny_model.hpp"

using namespace bpr;

namespace {
struct criterion_archetype {
    static constexpr std::string_view name = "archetype";
    template <typename Model>
    void score(Model&, std::span<const std::size_t>, std::vector<std::vector<double>>&) const {}
};
struct nameless {
    template <typename Model>
    void score(Model&, std::span<const std::size_t>, std::vector<std::vector<double>>&) const {}
};
}  // namespace

static_assert(prune_criterion<criterion_archetype>);
static_assert(!prune_criterion<nameless>);
static_assert(prune_criterion<magnitude>);
static_assert(prune_criterion<random_score>);
static_assert(prune_criterion<snip>);

TEST_CASE("magnitude scores are |w| of the listed parameters", "[prune][criterion]") {
    auto net = test::make_tiny_mlp();
    net.get<0>().weight().value[3] = -2.5f;
    const std::vector<std::size_t> indices{0, 2};
    std::vector<std::vector<double>> scores;
    magnitude{}.score(net, indices, scores);
    REQUIRE(scores.size() == 2);
    CHECK(scores[0].size() == 72);
    CHECK(scores[1].size() == 48);
    CHECK(scores[0][3] == 2.5);
    CHECK(scores[1][5] == std::abs(double(net.get<1>().weight().value[5])));
    const std::vector<std::size_t> missing{0, 9};
    CHECK_THROWS_WITH(magnitude{}.score(net, missing, scores), Catch::Contains("index 9"));
}

TEST_CASE("random scores depend only on the seed", "[prune][criterion]") {
    auto a = test::make_tiny_mlp(1);
    auto b = test::make_tiny_mlp(2);
    const std::vector<std::size_t> indices{0, 2};
    std::vector<std::vector<double>> sa, sb, sc;
    random_score{.seed = 7}.score(a, indices, sa);
    random_score{.seed = 7}.score(b, indices, sb);
    random_score{.seed = 8}.score(a, indices, sc);
    CHECK(sa == sb);
    CHECK(sa != sc);
    CHECK(sa[0] != sa[1]);  // one stream per parameter
}

TEST_CASE("snip scores |w * mean g| over the batches", "[prune][criterion]") {
    auto net = test::make_tiny_mlp();
    std::size_t calls = 0;
    snip criterion{.gradients =
                       [&](std::size_t batch) {
                           ++calls;
                           visit_params(net, [&](std::size_t, const std::string&, param<float>& p) {
                               for (index_t i = 0; i < p.grad.size(); ++i)
                                   p.grad[i] = float(batch + 1) * float(i % 5);
                           });
                       },
                   .batches = 3};
    const std::vector<std::size_t> indices{2};
    std::vector<std::vector<double>> scores;
    criterion.score(net, indices, scores);
    CHECK(calls == 3);
    const auto& w = net.get<1>().weight().value;
    for (index_t i = 0; i < w.size(); ++i)  // mean over batches of (b + 1) * (i % 5) is 2 (i % 5)
        REQUIRE(scores[0][static_cast<std::size_t>(i)] ==
                Approx(std::abs(double(w[i]) * 2.0 * double(i % 5))));
    CHECK_THROWS_WITH(snip{}.score(net, indices, scores), Catch::Contains("snip"));
}
