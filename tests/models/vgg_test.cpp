#include "bpr/nn/models/vgg.hpp"

#include <catch2/catch.hpp>

#include "model_test_support.hpp"

// Reference counts: tools/reference_models.py (kuangliu/pytorch-cifar's VGG('VGG16')).
TEST_CASE("VGG-16 has the reference parameter count, names and shapes", "[models][vgg]") {
    auto color = bpr::models::vgg16();
    CHECK(bpr::count_params(color) == 14728266);
    CHECK(bpr_test::describe(color) == bpr_test::reference_description("vgg16"));
    auto gray = bpr::models::vgg16(1, 10, 28);
    CHECK(bpr::count_params(gray) == 14727114);
    CHECK_THROWS_WITH(bpr::models::vgg16(3, 10, 8), Catch::Contains("image_size must be >= 16"));
}

TEST_CASE("VGG-16 trains a step on 3x32x32 and on 1x28x28", "[models][vgg]") {
    auto color = bpr::models::vgg16(3, 10, 32);
    bpr_test::check_training_step(color, {2, 3, 32, 32}, {2, 10});
    auto gray = bpr::models::vgg16(1, 10, 28);
    bpr_test::check_training_step(gray, {2, 1, 28, 28}, {2, 10});
    bpr_test::check_inference(gray, {1, 1, 28, 28}, {1, 10});
}
