#include "bpr/nn/models/catalog.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <string_view>

TEST_CASE("with_model builds each zoo model by name", "[models][catalog]") {
    const bpr::models::model_spec color{3, 32, 10};
    auto count = [&](std::string_view name, const bpr::models::model_spec& spec) {
        return bpr::models::with_model(name, spec, [](auto& m) { return bpr::count_params(m); });
    };
    CHECK(count("lenet5", color) == 62006);
    CHECK(count("resnet20", color) == 269722);
    CHECK(count("resnet32", color) == 464154);
    CHECK(count("resnet56", color) == 853018);
    CHECK(count("resnet20b", color) == 272474);
    CHECK(count("vgg16", color) == 14728266);
    CHECK(count("densenet121", color) == 6956298);
    CHECK(count("efficientnet_b0", color) == 3598598);
    const bpr::models::model_spec gray{1, 28, 10};
    CHECK(count("lenet5", gray) == 61706);
    CHECK(count("vgg16", gray) == 14727114);
    // The spec reaches the model: a 28x28 forward works for vgg16 built through it.
    bpr::models::with_model("vgg16", gray, [](auto& m) {
        CHECK(m.output_shape({1, 1, 28, 28}) == bpr::shape({1, 10}));
        return 0;
    });
    CHECK_THROWS_WITH(count("resnet21", color), Catch::Contains("unknown model 'resnet21'") &&
                                                    Catch::Contains("densenet121"));
}

TEST_CASE("default_init_scheme: LeNet-5 as PyTorch initialises it, the deep nets He init",
          "[models][catalog][init]") {
    using bpr::init_scheme;
    CHECK(bpr::models::default_init_scheme("lenet5") == init_scheme::pytorch_default);
    for (const std::string_view name : bpr::models::model_names)
        if (name != "lenet5")
            CHECK(bpr::models::default_init_scheme(name) == init_scheme::kaiming_normal);
    // What the scheme means for LeNet-5's weights: inside +-1/sqrt(fan_in), as
    // torch.nn.Linear's default (fc1: fan_in 400, bound 0.05), not He init's N(0, 2/400).
    auto model = bpr::models::lenet5<float>(1, 28, 10);
    bpr::rng generator(1);
    bpr::initialize(model, generator, bpr::models::default_init_scheme("lenet5"));
    double largest = 0;
    bpr::visit_params(model, [&](std::size_t, const std::string& name, auto& p) {
        if (name != "fc1.weight") return;
        for (const float v : p.value)
            largest = std::max(largest, double(std::abs(v)));
    });
    CHECK(largest <= 0.05);
    CHECK(largest > 0.049);
}
