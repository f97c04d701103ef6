#include "bpr/nn/models/resnet.hpp"

#include <catch2/catch.hpp>

#include "bpr/nn/init.hpp"
#include "bpr/testing/gradient_check.hpp"
#include "model_test_support.hpp"

// Reference counts: tools/reference_models.py (akamaster/pytorch_resnet_cifar10's
// modules, built with PyTorch 1.13).
TEST_CASE("CIFAR ResNets have the reference parameter counts", "[models][resnet]") {
    auto r20 = bpr::models::resnet20();
    CHECK(bpr::count_params(r20) == 269722);
    auto r32 = bpr::models::resnet32();
    CHECK(bpr::count_params(r32) == 464154);
    auto r56 = bpr::models::resnet56();
    CHECK(bpr::count_params(r56) == 853018);
    auto r20_gray = bpr::models::resnet20(1);
    CHECK(bpr::count_params(r20_gray) == 269434);
    auto r20_b = bpr::models::resnet20<float, bpr::models::resnet_shortcut::projection>();
    CHECK(bpr::count_params(r20_b) == 272474);
    auto r20_b_gray = bpr::models::resnet20<float, bpr::models::resnet_shortcut::projection>(1);
    CHECK(bpr::count_params(r20_b_gray) == 272186);
    CHECK_THROWS_WITH(bpr::models::resnet_cifar(21),
                      Catch::Contains("depth must be 6n + 2, got 21"));
}

TEST_CASE("CIFAR ResNets name and shape every tensor as the PyTorch reference",
          "[models][resnet]") {
    auto r20 = bpr::models::resnet20();
    CHECK(bpr_test::describe(r20) == bpr_test::reference_description("resnet20"));
    auto r56 = bpr::models::resnet56();
    CHECK(bpr_test::describe(r56) == bpr_test::reference_description("resnet56"));
    auto r20_b = bpr::models::resnet20<float, bpr::models::resnet_shortcut::projection>();
    CHECK(bpr_test::describe(r20_b) == bpr_test::reference_description("resnet20_option_b"));
}

TEST_CASE("ResNet-20 trains a step on 3x32x32 and infers on 1x28x28", "[models][resnet]") {
    auto color = bpr::models::resnet20();
    bpr_test::check_training_step(color, {2, 3, 32, 32}, {2, 10});
    auto gray = bpr::models::resnet20(1, 10);
    bpr_test::check_training_step(gray, {2, 1, 28, 28}, {2, 10});
    bpr_test::check_inference(gray, {1, 1, 28, 28}, {1, 10});
    auto option_b = bpr::models::resnet20<float, bpr::models::resnet_shortcut::projection>(3, 7);
    bpr_test::check_training_step(option_b, {2, 3, 32, 32}, {2, 7});
}

TEST_CASE("a CIFAR ResNet passes the gradient check in double", "[models][resnet]") {
    auto net = bpr::models::resnet_cifar<double>(8, 2, 3);  // one block per stage
    bpr::rng g(3);
    bpr::initialize(net, g);
    bpr::testing::gradient_check_options options;
    options.max_entries_per_tensor = 6;
    const auto report = bpr::testing::check_gradients(net, {2, 2, 6, 6}, g, options);
    INFO(report.str());
    CHECK(report.max_relative_error < 1e-4);
}
