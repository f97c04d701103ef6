#include "bpr/nn/models/resnet.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

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

TEST_CASE("ResNet-20 at 99% sparsity on sparse kernels: the same step as on dense kernels",
          "[models][resnet][sparse]") {
    // A masked ResNet-20; forward and backward on dense kernels, then with every
    // convolution on the sparse ones (forward, and backward-data at stride 1): logits,
    // the input gradient and every parameter gradient agree within 1e-4 of the tensor's
    // largest magnitude (only the summation order differs).
    auto dense = bpr::models::resnet20(3, 10);
    bpr::rng g(17);
    bpr::initialize(dense, g);
    bpr::visit_params(dense, [&](std::size_t, const std::string&, auto& p) {
        if (p.role != bpr::param_role::weight) return;
        for (auto& v : p.value)
            if (g.uniform() < 0.99) v = 0.0f;
    });
    auto sparse = dense;
    bpr::set_sparse_density(sparse, 0.05);
    bpr::tensor<float> x({2, 3, 16, 16}), y_dense, y_sparse, dx_dense, dx_sparse;
    for (auto& v : x)
        v = static_cast<float>(g.normal());
    bpr::tensor<float> grad_y({2, 10});
    for (auto& v : grad_y)
        v = static_cast<float>(g.normal());
    dense.forward(x, y_dense, bpr::mode::train);
    dense.backward(x, y_dense, grad_y, dx_dense);
    sparse.forward(x, y_sparse, bpr::mode::train);
    sparse.backward(x, y_sparse, grad_y, dx_sparse);
    int sparse_convolutions = 0;
    bpr::visit_layers(sparse, [&](std::string_view, auto& l) {
        if constexpr (requires { l.last_forward_sparse(); })
            sparse_convolutions += l.last_forward_sparse();
    });
    CHECK(sparse_convolutions == 19);
    // |a - b| <= 1e-4 * the largest magnitude of `scale` (default: b).
    auto close = [](const bpr::tensor<float>& a, const bpr::tensor<float>& b,
                    const bpr::tensor<float>* scale = nullptr) {
        REQUIRE(a.size() == b.size());
        float largest = 0.0f;
        for (float v : scale ? *scale : b)
            largest = std::max(largest, std::abs(v));
        for (bpr::index_t i = 0; i < a.size(); ++i)
            REQUIRE(std::abs(a[i] - b[i]) <= 1e-4f * largest);
    };
    close(y_sparse, y_dense);
    close(dx_sparse, dx_dense);
    std::vector<const bpr::tensor<float>*> dense_grads;
    bpr::visit_params(
        dense, [&](std::size_t, const std::string&, auto& p) { dense_grads.push_back(&p.grad); });
    bpr::visit_params(sparse, [&](std::size_t i, const std::string& name, auto& p) {
        INFO(name);
        close(p.grad, *dense_grads[i]);
    });

    // Weight gradients for the alive (nonzero) weights only, as under
    // mask_set::restrict_gradients: those equal the dense ones, the rest are 0.
    bpr::visit_params(sparse, [&](std::size_t, const std::string&, auto& p) {
        if (p.role != bpr::param_role::weight || p.value.shape().rank() != 4) return;
        p.grad_needed.resize(static_cast<std::size_t>(p.value.size()));
        for (bpr::index_t j = 0; j < p.value.size(); ++j)
            p.grad_needed[static_cast<std::size_t>(j)] = p.value[j] != 0.0f;
    });
    sparse.forward(x, y_sparse, bpr::mode::train);
    sparse.backward(x, y_sparse, grad_y, dx_sparse);
    int sparse_weight_grads = 0;
    bpr::visit_layers(sparse, [&](std::string_view, auto& l) {
        if constexpr (requires { l.last_weight_grad_sparse(); })
            sparse_weight_grads += l.last_weight_grad_sparse();
    });
    CHECK(sparse_weight_grads == 19);
    bpr::visit_params(sparse, [&](std::size_t i, const std::string& name, auto& p) {
        INFO(name);
        if (p.grad_needed.empty()) {
            close(p.grad, *dense_grads[i]);
            return;
        }
        bpr::tensor<float> expected = *dense_grads[i];
        for (bpr::index_t j = 0; j < expected.size(); ++j)
            if (!p.grad_needed[static_cast<std::size_t>(j)]) expected[j] = 0.0f;
        close(p.grad, expected, dense_grads[i]);
    });
}
