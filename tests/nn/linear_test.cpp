#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/testing/gradient_check.hpp"

static_assert(bpr::layer<bpr::linear<float>>);

TEST_CASE("linear forward matches a hand computation", "[nn][linear]") {
    bpr::linear<float> fc(3, 2);
    // weight [out, in] = [[1, 2, 3], [-1, 0, 1]], bias [0.5, -2]
    const float w[] = {1, 2, 3, -1, 0, 1};
    for (int i = 0; i < 6; ++i)
        fc.weight().value[i] = w[i];
    fc.bias().value[0] = 0.5f;
    fc.bias().value[1] = -2.0f;
    bpr::tensor<float> in({2, 3});
    const float x[] = {1, 1, 1, 2, -1, 0.5f};
    for (int i = 0; i < 6; ++i)
        in[i] = x[i];
    bpr::tensor<float> out;
    fc.forward(in, out, bpr::mode::eval);
    REQUIRE(out.shape() == bpr::shape{2, 2});
    CHECK(out[0] == 6.5f);   // 1 + 2 + 3 + 0.5
    CHECK(out[1] == -2.0f);  // -1 + 0 + 1 - 2
    CHECK(out[2] == 2.0f);   // 2 - 2 + 1.5 + 0.5
    CHECK(out[3] == -3.5f);  // -2 + 0 + 0.5 - 2
}

TEST_CASE("linear backward passes the gradient check", "[nn][linear]") {
    bpr::rng r(5);
    for (bool bias : {true, false}) {
        bpr::linear<double> fc(7, 4, bias);
        for (auto& v : fc.weight().value)
            v = r.uniform(-1, 1);
        if (bias)
            for (auto& v : fc.bias().value)
                v = r.uniform(-1, 1);
        const auto report = bpr::testing::check_gradients(fc, {3, 7}, r);
        INFO(report.str());
        REQUIRE(report.max_relative_error < 1e-6);
        REQUIRE(report.entries_checked == 3 * 7 + 28 + (bias ? 4 : 0));
    }
}

TEST_CASE("linear parameters, names and errors", "[nn][linear]") {
    using Catch::Matchers::Contains;
    bpr::linear<float> fc(10, 3);
    CHECK(fc.weight().value.shape() == bpr::shape{3, 10});
    CHECK(fc.bias().value.shape() == bpr::shape{3});
    std::vector<std::string> names;
    bpr::visit_params(fc,
                      [&](std::size_t, const std::string& name, auto&) { names.push_back(name); });
    CHECK(names == std::vector<std::string>{"weight", "bias"});
    CHECK(bpr::count_params(fc) == 33);
    REQUIRE_THROWS_WITH(fc.output_shape({2, 9}),
                        Contains("linear") && Contains("9 features") && Contains("expected 10"));
    REQUIRE_THROWS_WITH(fc.output_shape({2, 10, 1, 1}),
                        Contains("linear") && Contains("rank 4") && Contains("flatten"));
    REQUIRE_THROWS_WITH(bpr::linear<float>(0, 3), Contains("in_features") && Contains("0"));
}
