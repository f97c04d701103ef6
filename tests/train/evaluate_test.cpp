#include <catch2/catch.hpp>
#include <cmath>

#include "bpr/nn/flatten.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/train/evaluate.hpp"

TEST_CASE("evaluate averages loss and accuracy over all batches", "[train][evaluate]") {
    // A zero linear model gives equal logits: loss ln(3) everywhere, and the arg-max
    // (first on ties) is class 0, so accuracy is the share of label 0.
    bpr::data::dataset data;
    data.num_classes = 3;
    data.source = "tiny";
    data.images.resize({5, 1, 2, 2});
    data.images.zero();
    data.labels = {0, 1, 0, 2, 0};
    bpr::sequential<bpr::flatten<float>, bpr::linear<float>> model(bpr::flatten<float>{},
                                                                   bpr::linear<float>(4, 3));
    const auto result = bpr::evaluate(model, data, 2);
    CHECK(result.count == 5);
    CHECK(result.accuracy == Approx(0.6));
    CHECK(result.loss == Approx(std::log(3.0)));

    model.get<1>().bias().value[2] = 10.0f;  // now everything is predicted as class 2
    CHECK(bpr::evaluate(model, data, 3).accuracy == Approx(0.2));
}
