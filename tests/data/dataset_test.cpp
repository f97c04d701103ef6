#include "bpr/data/dataset.hpp"

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;

TEST_CASE("dataset validate names the problem", "[data][dataset]") {
    bpr::data::dataset d;
    d.images.resize({3, 1, 2, 2});
    d.images.zero();
    d.labels = {0, 1, 2};
    d.num_classes = 3;
    d.source = "mine";
    CHECK_NOTHROW(d.validate());
    CHECK(d.image_size() == 4);
    CHECK(d.class_counts() == std::vector<bpr::index_t>{1, 1, 1});

    d.labels[1] = 3;
    CHECK_THROWS_WITH(d.validate(), Contains("mine") && Contains("label of image 1 is 3"));
    d.labels = {0, 1};
    CHECK_THROWS_WITH(d.validate(), Contains("3 images but 2 labels"));
    d.labels = {0, 1, 2};
    d.class_names = {"a"};
    CHECK_THROWS_WITH(d.validate(), Contains("1 class names for num_classes 3"));
    d.class_names.clear();
    d.num_classes = 0;
    CHECK_THROWS_WITH(d.validate(), Contains("num_classes is 0"));
}

TEST_CASE("subset copies images and labels in the given order", "[data][dataset]") {
    bpr::data::dataset d;
    d.images.resize({4, 1, 1, 3});
    for (bpr::index_t i = 0; i < 12; ++i)
        d.images[i] = static_cast<std::uint8_t>(i);
    d.labels = {0, 1, 0, 1};
    d.num_classes = 2;
    const std::vector<bpr::index_t> pick{3, 0, 3};
    const auto s = bpr::data::subset(d, pick);
    REQUIRE(s.images.shape() == bpr::shape{3, 1, 1, 3});
    CHECK(s.labels == std::vector<int>{1, 0, 1});
    CHECK(s.images(0, 0, 0, 2) == 11);
    CHECK(s.images(1, 0, 0, 0) == 0);
    const std::vector<bpr::index_t> bad{1, 4};
    CHECK_THROWS_WITH(bpr::data::subset(d, bad), Contains("index 4 at position 1"));
}
