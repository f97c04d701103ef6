#include "bpr/nn/models/lenet.hpp"

#include <catch2/catch.hpp>

#include "bpr/nn/init.hpp"
#include "bpr/testing/gradient_check.hpp"
#include "model_test_support.hpp"

TEST_CASE("LeNet-5 has the reference parameter counts and names", "[models][lenet]") {
    auto gray = bpr::models::lenet5(1, 28, 10);
    CHECK(bpr::count_params(gray) == 61706);
    auto color = bpr::models::lenet5(3, 32, 10);
    CHECK(bpr::count_params(color) == 62006);
    CHECK(bpr_test::describe(color) == bpr_test::reference_description("lenet5"));
    CHECK_THROWS_WITH(bpr::models::lenet5(1, 8), Catch::Contains("image_size 8"));
}

TEST_CASE("LeNet-5 trains a step on 1x28x28 and 3x32x32", "[models][lenet]") {
    auto gray = bpr::models::lenet5(1, 28, 10);
    bpr_test::check_training_step(gray, {3, 1, 28, 28}, {3, 10});
    bpr_test::check_inference(gray, {1, 1, 28, 28}, {1, 10});
    auto color = bpr::models::lenet5(3, 32, 10);
    bpr_test::check_training_step(color, {2, 3, 32, 32}, {2, 10});
}

TEST_CASE("LeNet-5 passes the gradient check in double", "[models][lenet]") {
    auto net = bpr::models::lenet5<double>(1, 16, 4);
    bpr::rng g(5);
    bpr::initialize(net, g);
    bpr::testing::gradient_check_options options;
    options.max_entries_per_tensor = 8;
    const auto report = bpr::testing::check_gradients(net, {2, 1, 16, 16}, g, options);
    INFO(report.str());
    CHECK(report.max_relative_error < 1e-4);
}
