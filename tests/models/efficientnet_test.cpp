#include "bpr/nn/models/efficientnet.hpp"

#include <catch2/catch.hpp>

#include "model_test_support.hpp"

// Reference counts: tools/reference_models.py (kuangliu/pytorch-cifar's EfficientNetB0()).
// The reference creates conv1/bn1 in layers.0 (expansion 1) without using them; bpr
// leaves them out, so its count is the reference's minus 32*32 + 2*32 = 1,088.
TEST_CASE("EfficientNet-B0 has the reference parameter count, names and shapes",
          "[models][efficientnet]") {
    auto color = bpr::models::efficientnet_b0();
    CHECK(bpr::count_params(color) == 3599686 - 1088);
    CHECK(bpr::count_params(color) == 3598598);
    CHECK(bpr_test::describe(color) ==
          bpr_test::reference_description("efficientnet_b0_without_dead"));
    auto gray = bpr::models::efficientnet_b0(1);
    CHECK(bpr::count_params(gray) == 3598022);
}

TEST_CASE("EfficientNet-B0 trains a step on 3x32x32 and infers on 1x28x28",
          "[models][efficientnet]") {
    auto color = bpr::models::efficientnet_b0();
    bpr_test::check_training_step(color, {2, 3, 32, 32}, {2, 10});
    auto gray = bpr::models::efficientnet_b0(1, 10, 0.2, 0.2);
    bpr_test::check_training_step(gray, {2, 1, 28, 28}, {2, 10});
    bpr_test::check_inference(gray, {1, 1, 28, 28}, {1, 10});
}
