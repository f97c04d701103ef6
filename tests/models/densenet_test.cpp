#include "bpr/nn/models/densenet.hpp"

#include <catch2/catch.hpp>

#include "bpr/nn/init.hpp"
#include "bpr/testing/gradient_check.hpp"
#include "model_test_support.hpp"

// Reference counts: tools/reference_models.py (kuangliu/pytorch-cifar's DenseNet121()).
TEST_CASE("DenseNet-121 has the reference parameter count, names and shapes",
          "[models][densenet]") {
    auto color = bpr::models::densenet121();
    CHECK(bpr::count_params(color) == 6956298);
    CHECK(bpr_test::describe(color) == bpr_test::reference_description("densenet121"));
    auto gray = bpr::models::densenet121(1);
    CHECK(bpr::count_params(gray) == 6955146);
}

TEST_CASE("DenseNet-121 trains a step on 3x32x32 and infers on 1x28x28", "[models][densenet]") {
    auto color = bpr::models::densenet121();
    bpr_test::check_training_step(color, {2, 3, 32, 32}, {2, 10});
    auto gray = bpr::models::densenet121(1, 10);
    bpr_test::check_inference(gray, {1, 1, 28, 28}, {1, 10});
}

TEST_CASE("a small DenseNet passes the gradient check in double", "[models][densenet]") {
    auto net = bpr::models::densenet_cifar<double>({1, 2, 1, 1}, 2, 0.5, 2, 3);
    bpr::rng g(8);
    bpr::initialize(net, g);
    bpr::testing::gradient_check_options options;
    options.max_entries_per_tensor = 4;
    const auto report = bpr::testing::check_gradients(net, {2, 2, 8, 8}, g, options);
    INFO(report.str());
    CHECK(report.max_relative_error < 1e-4);
}
