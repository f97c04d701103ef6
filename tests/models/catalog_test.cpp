#include "bpr/nn/models/catalog.hpp"

#include <catch2/catch.hpp>
#include <string>

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
