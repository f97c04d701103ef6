#include <catch2/catch.hpp>

#include "bpr/core/tensor.hpp"

TEST_CASE("tensor is aligned, zero-initialised and deep-copied", "[core][tensor]") {
    bpr::tensor<float> t({2, 3, 4, 5});
    CHECK(t.size() == 120);
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    for (float v : t)
        CHECK(v == 0.0f);
    t(1, 2, 3, 4) = 7.0f;
    CHECK(t[119] == 7.0f);
    bpr::tensor<float> copy = t;
    copy[119] = 1.0f;
    CHECK(t[119] == 7.0f);
}

TEST_CASE("tensor resize keeps the allocation when it fits", "[core][tensor]") {
    bpr::tensor<double> t({10, 10});
    const double* before = t.data();
    t.resize({5, 4});
    CHECK(t.data() == before);
    CHECK(t.shape() == bpr::shape{5, 4});
    t.resize({11, 10});
    CHECK(t.size() == 110);
}

TEST_CASE("tensor as_matrix rejects a shape that does not cover it", "[core][tensor]") {
    bpr::tensor<float> t({2, 3});
    CHECK(t.as_matrix(3, 2).rows() == 3);
    CHECK_THROWS_AS(t.as_matrix(4, 2), bpr::error);
    CHECK_THROWS_WITH(t.as_matrix(4, 2), Catch::Contains("[2, 3]"));
}

TEST_CASE("shape rejects negative extents and too many axes", "[core][shape]") {
    CHECK_THROWS_AS((bpr::shape{2, -1}), bpr::error);
    CHECK_THROWS_AS((bpr::shape{1, 2, 3, 4, 5}), bpr::error);
    CHECK((bpr::shape{2, 3, 4}).numel() == 24);
    CHECK((bpr::shape{2, 3}).str() == "[2, 3]");
}
