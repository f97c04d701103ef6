#include "bpr/nn/squeeze_excitation.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/testing/gradient_check.hpp"

#include "../support/random_values.hpp"

namespace {

double sigmoid(double x) {
    return 1.0 / (1.0 + std::exp(-x));
}

}  // namespace

TEST_CASE("squeeze_excitation scales each channel by its gate", "[nn][squeeze_excitation]") {
    bpr::squeeze_excitation<double, bpr::relu<double>> se(2, 1);
    bpr_test::randomize_params(se, 3, -1.0, 1.0);
    bpr::tensor<double> x({1, 2, 2, 2});
    for (bpr::index_t i = 0; i < x.size(); ++i)
        x[i] = 0.25 * double(i) - 0.5;
    bpr::tensor<double> y;
    se.forward(x, y, bpr::mode::eval);
    // By hand: means per channel, one hidden relu unit, two sigmoid gates.
    std::vector<double> params;
    bpr::visit_params(se, [&](std::size_t, const std::string&, auto& p) {
        for (double v : p.value)
            params.push_back(v);
    });
    const double w1a = params[0], w1b = params[1], b1 = params[2];
    const double w2a = params[3], w2b = params[4], b2a = params[5], b2b = params[6];
    const double m0 = (x[0] + x[1] + x[2] + x[3]) / 4, m1 = (x[4] + x[5] + x[6] + x[7]) / 4;
    const double h = std::max(0.0, w1a * m0 + w1b * m1 + b1);
    const double g0 = sigmoid(w2a * h + b2a), g1 = sigmoid(w2b * h + b2b);
    for (int i = 0; i < 4; ++i) {
        CHECK(y[i] == Approx(x[i] * g0).epsilon(1e-12));
        CHECK(y[4 + i] == Approx(x[4 + i] * g1).epsilon(1e-12));
    }
}

TEST_CASE("squeeze_excitation passes the gradient check", "[nn][squeeze_excitation]") {
    bpr::squeeze_excitation<double> se(4, 2);
    bpr_test::randomize_params(se, 5, -1.0, 1.0);
    bpr::rng g(6);
    const auto report = bpr::testing::check_gradients(se, {2, 4, 3, 3}, g);
    INFO(report.str());
    CHECK(report.max_relative_error < 1e-6);

    std::vector<std::string> names;
    std::vector<bpr::shape> shapes;
    bpr::visit_params(se, [&](std::size_t, const std::string& n, auto& p) {
        names.push_back(n);
        shapes.push_back(p.value.shape());
    });
    CHECK(names == std::vector<std::string>{"se1.weight", "se1.bias", "se2.weight", "se2.bias"});
    CHECK(shapes[0] == bpr::shape({2, 4, 1, 1}));
    CHECK(shapes[2] == bpr::shape({4, 2, 1, 1}));
}

TEST_CASE("squeeze_excitation rejects bad sizes", "[nn][squeeze_excitation]") {
    CHECK_THROWS_WITH(bpr::squeeze_excitation<float>(4, 0), Catch::Contains("squeezed"));
    bpr::squeeze_excitation<float> se(4, 1);
    CHECK_THROWS_WITH(se.output_shape({1, 3, 2, 2}), Catch::Contains("3 channels"));
    CHECK_THROWS_WITH(se.output_shape({1, 4}), Catch::Contains("rank 2"));
}
