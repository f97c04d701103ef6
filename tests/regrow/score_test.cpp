#include "bpr/regrow/score.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "test_model.hpp"

using namespace bpr;
using bpr::testing::regrow_probe_model;

namespace {
struct score_archetype {
    static constexpr std::string_view name = "archetype";
    template <typename Model>
    void score(Model&, std::span<const std::size_t>, const regrow_context&,
               std::vector<std::vector<double>>&) const {}
};
struct score_without_name {
    template <typename Model>
    void score(Model&, std::span<const std::size_t>, const regrow_context&,
               std::vector<std::vector<double>>&) const {}
};

// Gradient callable writing grad = batch_grads[b] into a (index 0) and b (index 2).
struct fake_gradients {
    regrow_probe_model* model;
    std::vector<std::vector<float>> a, b;  // per batch
    void operator()(std::size_t batch) const {
        for (index_t i = 0; i < model->a.grad.size(); ++i)
            model->a.grad[i] = a[batch][static_cast<std::size_t>(i)];
        for (index_t i = 0; i < model->b.grad.size(); ++i)
            model->b.grad[i] = b[batch][static_cast<std::size_t>(i)];
        model->stats[0] += 1.0f;  // a train-mode forward would move running statistics
    }
};

const std::vector<std::size_t> listed{0, 2};
}  // namespace

static_assert(regrow_score<score_archetype>);
static_assert(!regrow_score<score_without_name>);
static_assert(!regrow_score<magnitude>);  // a pruning criterion is not a regrowth score
static_assert(regrow_score<gradient_magnitude>);
static_assert(regrow_score<gradient_momentum>);
static_assert(regrow_score<taylor>);
static_assert(regrow_score<dense_saliency>);
static_assert(regrow_score<random_regrowth>);

TEST_CASE("gradient magnitude ranks by |sum of gradients| over the batches", "[regrow][score]") {
    regrow_probe_model m;
    fake_gradients g{&m,
                     {{1, -2, 0.5f, 0, 0, 3}, {1, 1, -0.5f, 0, -4, -3}},
                     {{0, 0, 0, 0, 0, 0, 0, 1}, {0, 0, 0, 0, 0, 0, 0, 1}}};
    regrow_context ctx{.gradients = g, .batches = 2};
    std::vector<std::vector<double>> out;
    gradient_magnitude{}.score(m, listed, ctx, out);
    REQUIRE(out.size() == 2);
    CHECK(out[0] == std::vector<double>{2, 1, 0, 0, 4, 0});  // 3 - 3 cancels: noise, not signal
    CHECK(out[1] == std::vector<double>{0, 0, 0, 0, 0, 0, 0, 2});

    regrow_context one{.gradients = g, .batches = 1};
    gradient_magnitude{}.score(m, listed, one, out);
    CHECK(out[0] == std::vector<double>{1, 2, 0.5, 0, 0, 3});
}

TEST_CASE("gradient momentum is the moving average, favouring persistent gradients",
          "[regrow][score]") {
    regrow_probe_model m;
    // Weight 0: a steady gradient 1; weight 1: one spike of 5 in the first batch.
    const std::vector<float> zeros(8, 0.0f);
    fake_gradients g{
        &m,
        {{1, 5, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0}},
        {zeros, zeros, zeros, zeros}};
    regrow_context ctx{.gradients = g, .batches = 4};
    std::vector<std::vector<double>> out;
    gradient_momentum{.decay = 0.5}.score(m, listed, ctx, out);
    CHECK(out[0][0] == Approx(1.0));
    // From zero: 5 -> 2.5 -> 1.25 -> 0.625 -> 0.3125, over the weights' sum 1 - 0.5^4.
    CHECK(out[0][1] == Approx(0.3125 / 0.9375));
    gradient_magnitude{}.score(m, listed, ctx, out);
    CHECK(out[0][0] < out[0][1]);  // the plain sum prefers the spike (5 > 4)
}

TEST_CASE("taylor is |w0 * g| with the pre-pruning weights", "[regrow][score]") {
    regrow_probe_model m;
    for (index_t i = 0; i < 6; ++i)
        m.a.value[i] = float(i + 1);  // w0 = 1..6
    for (index_t i = 0; i < 8; ++i)
        m.b.value[i] = -0.5f;
    dense_snapshot w0;
    w0.take(m);
    m.a.value.zero();  // pruned: the current value is zero, w0 is not
    fake_gradients g{&m, {{1, 1, -1, 0.5f, 0, 2}}, {{1, 0, 0, 0, 0, 0, 0, -4}}};
    regrow_context ctx{.gradients = g, .batches = 1, .dense = &w0};
    std::vector<std::vector<double>> out;
    taylor{}.score(m, listed, ctx, out);
    CHECK(out[0] == std::vector<double>{1, 2, 3, 2, 0, 12});
    CHECK(out[1] == std::vector<double>{0.5, 0, 0, 0, 0, 0, 0, 2});

    regrow_context no_dense{.gradients = g, .batches = 1};
    CHECK_THROWS_WITH(taylor{}.score(m, listed, no_dense, out),
                      Catch::Contains("taylor") && Catch::Contains("pre-pruning"));
}

TEST_CASE("dense saliency is g^2 w0^2 with g taken on the dense model, which is restored",
          "[regrow][score]") {
    regrow_probe_model m;
    for (index_t i = 0; i < 6; ++i)
        m.a.value[i] = float(i);  // w0
    m.stats[1] = 7.0f;
    dense_snapshot w0;
    w0.take(m);
    for (index_t i = 0; i < 6; ++i)
        m.a.value[i] = i == 5 ? 9.0f : 0.0f;  // pruned and fine-tuned
    // The gradient depends on the current weights: grad = value, as for 0.5 * ||w||^2.
    auto gradients = [&](std::size_t) {
        for (index_t i = 0; i < 6; ++i)
            m.a.grad[i] = m.a.value[i];
        m.b.grad.zero();
        m.stats[1] = -1.0f;
    };
    regrow_context ctx{.gradients = gradients, .batches = 2, .dense = &w0};
    std::vector<std::vector<double>> out;
    dense_saliency{}.score(m, listed, ctx, out);
    // g summed over 2 batches on w0: 2 * w0, so score = 4 * w0^4.
    for (std::size_t e = 0; e < 6; ++e)
        CHECK(out[0][e] == Approx(4.0 * std::pow(double(e), 4)));
    // The model is back to its fine-tuned values and buffers.
    CHECK(m.a.value[5] == 9.0f);
    CHECK(m.a.value[1] == 0.0f);
    CHECK(m.stats[1] == 7.0f);  // buffers moved by the gradient passes are put back
}

TEST_CASE("random regrowth is seeded, differs by step, and in [0, 1)", "[regrow][score]") {
    regrow_probe_model m;
    std::vector<std::vector<double>> x, y, z;
    random_regrowth{}.score(m, listed, {.seed = 3, .step = 1}, x);
    random_regrowth{}.score(m, listed, {.seed = 3, .step = 1}, y);
    random_regrowth{}.score(m, listed, {.seed = 3, .step = 2}, z);
    CHECK(x == y);
    CHECK(x != z);
    for (const auto& layer : x)
        for (const double v : layer)
            CHECK((v >= 0 && v < 1));
}

TEST_CASE("gradient scores without a gradient callable name the score", "[regrow][score]") {
    regrow_probe_model m;
    std::vector<std::vector<double>> out;
    CHECK_THROWS_WITH(gradient_magnitude{}.score(m, listed, {}, out),
                      Catch::Contains("gradient") && Catch::Contains("regrow_context::gradients"));
}
