#include "bpr/sparse/budget.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace bpr;

TEST_CASE("budgets parse from text", "[sparse][budget]") {
    auto b = budget::parse("99%");
    CHECK(b.type() == budget::kind::sparsity);
    CHECK(b.target_sparsity() == Approx(0.99));
    CHECK(budget::parse("99.5%").target_sparsity() == Approx(0.995));
    CHECK(budget::parse(" 0.99 ").target_sparsity() == Approx(0.99));
    b = budget::parse("615");
    CHECK(b.type() == budget::kind::nonzeros);
    CHECK(b.count() == 615);
    b = budget::parse("48KiB", storage_format::bitmap);
    CHECK(b.type() == budget::kind::bytes);
    CHECK(b.count() == 48 * 1024);
    CHECK(b.format() == storage_format::bitmap);
    CHECK(budget::parse("1.5MB").count() == 1500000);
    CHECK(budget::parse("1.5kib").count() == 1536);
    CHECK(budget::parse("20000B").count() == 20000);
    CHECK(budget::parse("2MiB").count() == 2 * 1024 * 1024);
}

TEST_CASE("bad budget text is an error naming it", "[sparse][budget]") {
    CHECK_THROWS_WITH(budget::parse("-5%"),
                      Catch::Contains("'-5%'") && Catch::Contains("negative"));
    CHECK_THROWS_WITH(budget::parse("101%"), Catch::Contains("above 100%"));
    CHECK_THROWS_WITH(budget::parse("1.5"), Catch::Contains("above 1"));
    CHECK_THROWS_WITH(budget::parse("12 parsecs"), Catch::Contains("'12 parsecs'"));
    CHECK_THROWS_WITH(budget::parse("48XB"), Catch::Contains("unknown unit 'XB'"));
    CHECK_THROWS_WITH(budget::parse("1.3B"), Catch::Contains("not a whole number"));
    CHECK_THROWS_WITH(budget::parse(""), Catch::Contains("empty"));
    CHECK_THROWS_WITH(budget::parse("KiB"), Catch::Contains("no number"));
    CHECK_THROWS_WITH(budget::parse("nan%"), Catch::Contains("'nan%'"));
    CHECK_THROWS_WITH(budget::sparsity(1.2), Catch::Contains("1.2"));
    CHECK_THROWS_WITH(budget::nonzeros(-1), Catch::Contains("-1"));
}

namespace {
std::vector<budget_layer> three_layers() {
    return {{"a", 100, 100, 100}, {"b", 1000, 1000, 1000}, {"c", 50, 50, 50}};
}
}  // namespace

TEST_CASE("sparsity and count budgets resolve to exact keep counts", "[sparse][budget]") {
    const auto layers = three_layers();
    auto r = resolve_budget(budget::sparsity(0.99), layers, {});
    CHECK(r.total == 1150);
    CHECK(r.nonzeros == 11);  // floor(11.5)
    CHECK(r.floor == std::vector<index_t>{1, 1, 1});
    CHECK(r.cap == std::vector<index_t>{100, 1000, 50});
    CHECK(resolve_budget(budget::sparsity(0.9), layers, {}).nonzeros == 115);
    CHECK(resolve_budget(budget::sparsity(0.0), layers, {}).nonzeros == 1150);
    CHECK(resolve_budget(budget::nonzeros(615), layers, {}).nonzeros == 615);
    // 1 - 0.8^20 keeps floor(0.8^20 * total), despite rounding in the subtraction.
    const std::vector<budget_layer> big{{"x", 1000000, 1000000, 1000000}};
    CHECK(resolve_budget(budget::sparsity(1 - std::pow(0.8, 20)), big, {}).nonzeros == 11529);
}

TEST_CASE("guards set floors and impossible budgets are errors", "[sparse][budget]") {
    const auto layers = three_layers();
    prune_guards g{.min_density = 0.05, .keep_first_dense = true};
    auto r = resolve_budget(budget::sparsity(0.8), layers, g);
    CHECK(r.floor == std::vector<index_t>{100, 50, 3});
    CHECK(r.nonzeros == 230);
    CHECK_THROWS_WITH(resolve_budget(budget::sparsity(0.9), layers, g),
                      Catch::Contains("keeps 115") && Catch::Contains("at least 153"));
    CHECK_THROWS_WITH(resolve_budget(budget::sparsity(1.0), layers, {}),
                      Catch::Contains("keeps 0") && Catch::Contains("at least 3"));
    CHECK_THROWS_WITH(resolve_budget(budget::nonzeros(2000), layers, {}),
                      Catch::Contains("2000") && Catch::Contains("1150"));
    CHECK_THROWS_WITH(resolve_budget(budget::sparsity(0.5), layers, {.min_density = 1.5}),
                      Catch::Contains("min_density") && Catch::Contains("1.5"));
    // Pruning never revives: a budget above what is alive is an error.
    const std::vector<budget_layer> pruned{{"a", 100, 100, 10}};
    CHECK_THROWS_WITH(resolve_budget(budget::nonzeros(50), pruned, {}), Catch::Contains("only 10"));
    g.keep_first_dense = false;
    g.keep_last_dense = true;
    CHECK(resolve_budget(budget::sparsity(0.8), layers, g).floor ==
          std::vector<index_t>{5, 50, 50});
}

TEST_CASE("byte budgets keep the most nonzeros that fit in the file", "[sparse][budget]") {
    const auto layers = three_layers();
    const byte_cost cost{1000, 6};
    const index_t header = static_cast<index_t>(sparse_header_bytes);
    auto r = resolve_budget(budget::bytes(2000, storage_format::csr16), layers, {}, cost);
    CHECK(r.nonzeros == 156);  // 64 + 1000 + 6 * 156 = 2000
    r = resolve_budget(budget::bytes(1999, storage_format::csr16), layers, {}, cost);
    CHECK(r.nonzeros == 155);
    for (index_t bytes = 1082; bytes < 1300; ++bytes) {
        const auto k =
            resolve_budget(budget::bytes(bytes, storage_format::csr16), layers, {}, cost).nonzeros;
        REQUIRE(header + cost.bytes(k) <= bytes);
        REQUIRE(bytes - header - cost.bytes(k) < cost.per_nonzero);
    }
    // Everything fits: all weights stay.
    CHECK(
        resolve_budget(budget::bytes(1 << 20, storage_format::csr16), layers, {}, cost).nonzeros ==
        1150);
    CHECK_THROWS_WITH(resolve_budget(budget::bytes(1063, storage_format::csr16), layers, {}, cost),
                      Catch::Contains("1063 bytes") && Catch::Contains("fixed overhead of 1064") &&
                          Catch::Contains("64-byte file header"));
    CHECK_THROWS_WITH(resolve_budget(budget::bytes(1076, storage_format::csr16), layers, {}, cost),
                      Catch::Contains("keeps 2") && Catch::Contains("at least 3"));
}
