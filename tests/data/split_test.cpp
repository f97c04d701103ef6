#include "bpr/data/split.hpp"

#include <catch2/catch.hpp>
#include <set>

using bpr::index_t;

namespace {
bpr::data::dataset tagged(index_t n) {
    bpr::data::dataset d;
    d.images.resize({n, 1, 1, 2});
    for (index_t i = 0; i < n; ++i) {
        d.images(i, 0, 0, 0) = static_cast<std::uint8_t>(i % 256);
        d.images(i, 0, 0, 1) = static_cast<std::uint8_t>(i / 256);
        d.labels.push_back(static_cast<int>(i % 3));
    }
    d.num_classes = 3;
    d.class_names = {"a", "b", "c"};
    d.source = "tagged";
    return d;
}
index_t tag(const bpr::data::dataset& d, index_t i) {
    return d.images(i, 0, 0, 0) + 256 * d.images(i, 0, 0, 1);
}
}  // namespace

TEST_CASE("split carves a seeded validation set disjoint from train", "[data][split]") {
    const auto d = tagged(1000);
    const auto [train, validation] = bpr::data::split(d, 100, 42);
    REQUIRE(train.size() == 900);
    REQUIRE(validation.size() == 100);
    CHECK(train.class_names == d.class_names);
    CHECK(validation.num_classes == 3);
    std::set<index_t> all;
    for (index_t i = 0; i < train.size(); ++i) {
        all.insert(tag(train, i));
        CHECK(train.labels[static_cast<std::size_t>(i)] == tag(train, i) % 3);
        if (i > 0) CHECK(tag(train, i) > tag(train, i - 1));  // original order kept
    }
    for (index_t i = 0; i < validation.size(); ++i) {
        all.insert(tag(validation, i));
        CHECK(validation.labels[static_cast<std::size_t>(i)] == tag(validation, i) % 3);
    }
    CHECK(all.size() == 1000);

    const auto again = bpr::data::split(d, 100, 42);
    const auto other = bpr::data::split(d, 100, 43);
    bool same = true, differs = false;
    for (index_t i = 0; i < 100; ++i) {
        same = same && tag(again.validation, i) == tag(validation, i);
        differs = differs || tag(other.validation, i) != tag(validation, i);
    }
    CHECK(same);
    CHECK(differs);
    // Not simply the first or last images.
    CHECK(tag(validation, 99) - tag(validation, 0) > 500);
}

TEST_CASE("split edge counts and errors", "[data][split]") {
    const auto d = tagged(10);
    CHECK(bpr::data::split(d, 0, 1).train.size() == 10);
    CHECK(bpr::data::split(d, 10, 1).validation.size() == 10);
    CHECK_THROWS_WITH(
        bpr::data::split(d, 11, 1),
        Catch::Matchers::Contains("validation count 11") && Catch::Matchers::Contains("tagged"));
    CHECK_THROWS_WITH(bpr::data::split(d, -1, 1), Catch::Matchers::Contains("-1"));
}

TEST_CASE("stratified split keeps the class balance", "[data][split]") {
    // 600 images: labels 0,1,2 in proportion 1:2:3.
    bpr::data::dataset d;
    d.images.resize({600, 1, 1, 1});
    for (index_t i = 0; i < 600; ++i) {
        d.images[i] = static_cast<std::uint8_t>(i % 256);
        d.labels.push_back(i < 100 ? 0 : (i < 300 ? 1 : 2));
    }
    d.num_classes = 3;
    const auto parts = bpr::data::split(d, 61, 9, bpr::data::split_mode::stratified);
    REQUIRE(parts.validation.size() == 61);
    // Shares 10.17, 20.33, 30.5: floors 10, 20, 30 and the largest remainder (class 2).
    CHECK(parts.validation.class_counts() == std::vector<index_t>{10, 20, 31});
    CHECK(parts.train.class_counts() == std::vector<index_t>{90, 180, 269});
    const auto again = bpr::data::split(d, 61, 9, bpr::data::split_mode::stratified);
    CHECK(std::equal(again.validation.images.begin(), again.validation.images.end(),
                     parts.validation.images.begin()));
    const auto random = bpr::data::split(d, 61, 9);
    CHECK(random.validation.size() == 61);
    CHECK(bpr::data::split(d, 600, 1, bpr::data::split_mode::stratified).train.size() == 0);
    CHECK(bpr::data::split(d, 0, 1, bpr::data::split_mode::stratified).validation.size() == 0);
}
