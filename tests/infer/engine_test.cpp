#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>

#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/infer.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/models/densenet.hpp"
#include "bpr/nn/models/efficientnet.hpp"
#include "bpr/nn/models/lenet.hpp"
#include "bpr/nn/models/resnet.hpp"
#include "bpr/nn/models/vgg.hpp"

#include "../support/random_values.hpp"

namespace {

using bpr::index_t;
namespace inf = bpr::infer;

// Keeps each weight (role weight) with probability `density`, as a random mask would.
template <typename Model>
void random_mask(Model& model, double density, std::uint64_t seed) {
    bpr::rng r(seed);
    bpr::visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        if (p.role != bpr::param_role::weight) return;
        for (auto& w : p.value)
            if (r.uniform() >= density) w = 0.0f;
    });
}

// Non-trivial eval statistics and affine parameters for every batchnorm, and non-zero
// biases, so that folding is really exercised.
template <typename Model>
void randomize_norms(Model& model, std::uint64_t seed) {
    bpr::rng r(seed);
    bpr::visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        if (p.role == bpr::param_role::norm_scale)
            for (auto& v : p.value)
                v = static_cast<float>(r.uniform(0.5, 1.5));
        if (p.role == bpr::param_role::norm_shift || p.role == bpr::param_role::bias)
            for (auto& v : p.value)
                v = static_cast<float>(r.uniform(-0.5, 0.5));
    });
    bpr::visit_buffers(model, [&](const std::string& name, auto& t) {
        const bool var = name.find("running_var") != std::string::npos;
        for (auto& v : t)
            v = static_cast<float>(var ? r.uniform(0.2, 3.0) : r.uniform(-0.5, 0.5));
    });
}

bpr::tensor<float> random_images(index_t n, index_t c, index_t h, index_t w, std::uint64_t seed) {
    bpr::rng r(seed);
    return bpr_test::uniform_tensor({n, c, h, w}, r);
}

// max |a - b| / max |reference|: the "1e-4 relative" of the issue, on the logits.
double relative_error(const bpr::tensor<float>& got, const bpr::tensor<float>& reference) {
    REQUIRE(got.size() == reference.size());
    double diff = 0, scale = 0;
    for (index_t i = 0; i < got.size(); ++i) {
        diff = std::max(diff, std::abs(double(got[i]) - double(reference[i])));
        scale = std::max(scale, std::abs(double(reference[i])));
    }
    return scale > 0 ? diff / scale : diff;
}

template <typename Model>
void check_against_model(Model& model, const bpr::tensor<float>& images, index_t max_batch,
                         inf::path_policy policy) {
    bpr::tensor<float> reference;
    model.forward(images, reference, bpr::mode::eval);
    inf::compile_options options;
    options.max_batch = max_batch, options.policy = policy;
    auto engine =
        inf::compile(model, {images.extent(1), images.extent(2), images.extent(3)}, options);
    bpr::tensor<float> got;
    engine.forward(images, got);
    REQUIRE(got.shape() == reference.shape());
    CHECK(relative_error(got, reference) <= 1e-4);
    // A second call reuses the buffers and gives the same bits.
    bpr::tensor<float> again;
    engine.forward(images, again);
    CHECK(std::equal(got.begin(), got.end(), again.begin()));
}

constexpr inf::path_policy policies[] = {
    inf::path_policy::automatic, inf::path_policy::always_dense, inf::path_policy::always_sparse};

}  // namespace

TEST_CASE("LeNet-5 engine equals the masked model at every density", "[infer]") {
    bpr::set_threads(1);
    for (double density : {1.0, 0.5, 0.05, 0.01, 0.0}) {
        auto model = bpr::models::lenet5<float>(1, 28, 10);
        bpr::rng r(3);
        bpr::initialize(model, r);
        randomize_norms(model, 4);
        random_mask(model, density, 5);
        const auto images = random_images(3, 1, 28, 28, 6);
        for (auto policy : policies) {
            INFO("density " << density << " policy " << int(policy));
            check_against_model(model, images, 2, policy);
        }
    }
}

TEST_CASE("ResNet-20 engine folds batchnorm and fuses the residual add", "[infer]") {
    bpr::set_threads(1);
    for (double density : {1.0, 0.5, 0.05, 0.01}) {
        auto model = bpr::models::resnet20<float>(3, 10);
        bpr::rng r(7);
        bpr::initialize(model, r);
        randomize_norms(model, 8);
        random_mask(model, density, 9);
        // Odd, non-square images: stride-2 layers and the pad shortcut round up.
        const auto images = random_images(3, 3, 17, 23, 10);
        for (auto policy : policies) {
            INFO("density " << density << " policy " << int(policy));
            check_against_model(model, images, 3, policy);
        }
    }
    auto model = bpr::models::resnet20<float>(3, 10);
    bpr::rng r(7);
    bpr::initialize(model, r);
    randomize_norms(model, 8);
    auto engine = inf::compile(model, {3, 32, 32});
    // Every batchnorm was folded, every block's add and ReLU fused into its last conv.
    index_t folded = 0, fused_adds = 0;
    for (const auto& layer : engine.layers()) {
        folded += layer.folded_batchnorm;
        fused_adds += layer.fused == "bias+add+relu";
    }
    CHECK(folded == 19);
    CHECK(fused_adds == 9);
    CHECK(engine.layers().front().name == "conv1");
    CHECK(engine.layers().back().name == "linear");
}

TEST_CASE("ResNet-20 with projection shortcuts and an all-zero layer", "[infer]") {
    bpr::set_threads(1);
    auto model = bpr::models::resnet20<float, bpr::models::resnet_shortcut::projection>(3, 10);
    bpr::rng r(11);
    bpr::initialize(model, r);
    randomize_norms(model, 12);
    random_mask(model, 0.05, 13);
    model.template get<4>()[1].main().template get<0>().weight().value.zero();  // layer2.1.conv1
    const auto images = random_images(2, 3, 32, 32, 14);
    for (auto policy : policies)
        check_against_model(model, images, 1, policy);
}

TEST_CASE("VGG-16 engine at 99% sparsity, 2 threads", "[infer]") {
    auto model = bpr::models::vgg16<float>(3, 10, 32);
    bpr::rng r(15);
    bpr::initialize(model, r);
    randomize_norms(model, 16);
    random_mask(model, 0.01, 17);
    const auto images = random_images(2, 3, 32, 32, 18);
    bpr::set_threads(2);
    check_against_model(model, images, 2, inf::path_policy::automatic);
    check_against_model(model, images, 1, inf::path_policy::always_sparse);
    bpr::set_threads(1);
}

TEST_CASE("ResNet-20 engine sized for 32 images, 2 threads", "[infer]") {
    // The batch-32 crossover column, the SpMM path of the linear head, and images split
    // across threads; 35 images are a full slice of 32 and a slice of 3.
    auto model = bpr::models::resnet20<float>(3, 10);
    bpr::rng r(37);
    bpr::initialize(model, r);
    randomize_norms(model, 38);
    random_mask(model, 0.3, 39);
    const auto images = random_images(35, 3, 12, 12, 40);
    bpr::set_threads(2);
    for (auto policy : policies) {
        INFO("policy " << int(policy));
        check_against_model(model, images, 32, policy);
    }
    bpr::set_threads(1);
}

TEST_CASE("MBConv blocks: depthwise kernel, squeeze-excitation and the skip add", "[infer]") {
    bpr::set_threads(1);
    namespace nn = bpr;
    // Expansion 1 and 6, kernel 3 and 5, stride 1 (with the skip) and 2 (without).
    auto block = [](index_t in, index_t out, index_t kernel, index_t stride, index_t expansion) {
        return nn::mbconv<float>({.in_channels = in,
                                  .out_channels = out,
                                  .kernel = kernel,
                                  .stride = stride,
                                  .expansion = expansion,
                                  .se_ratio = 0.25,
                                  .drop_rate = 0.3});  // eval mode: no drop-connect
    };
    nn::repeat<nn::mbconv<float>> blocks;
    blocks.push_back(block(8, 8, 3, 1, 1));
    blocks.push_back(block(8, 12, 5, 2, 6));
    blocks.push_back(block(12, 12, 3, 1, 6));
    auto model = nn::sequential<nn::conv2d<float>, nn::batchnorm<float>, nn::silu<float>,
                                nn::repeat<nn::mbconv<float>>, nn::global_avg_pool<float>,
                                nn::linear<float>>(
        nn::conv2d<float>(3, 8, 3, 1, 1), nn::batchnorm<float>(8), nn::silu<float>{},
        std::move(blocks), nn::global_avg_pool<float>{}, nn::linear<float>(12, 5));
    for (double density : {1.0, 0.3, 0.02}) {
        bpr::rng r(21);
        bpr::initialize(model, r);
        randomize_norms(model, 22);
        random_mask(model, density, 23);
        // Odd sizes: the stride-2 depthwise layer rounds up.
        const auto images = random_images(3, 3, 11, 9, 24);
        for (auto policy : policies) {
            INFO("density " << density << " policy " << int(policy));
            check_against_model(model, images, 2, policy);
        }
    }
    auto engine = inf::compile(model, {3, 16, 16});
    index_t depthwise = 0, fused_adds = 0;
    for (const auto& layer : engine.layers()) {
        depthwise += layer.kind == "depthwise";
        fused_adds += layer.fused == "bias+add";
        if (layer.kind == "depthwise") {
            CHECK(layer.folded_batchnorm);
            CHECK(layer.fused == "bias+silu");
            // 2% of the taps are left: the zero taps are dropped.
            CHECK(layer.chosen == inf::path::sparse);
        }
    }
    CHECK(depthwise == 3);
    CHECK(fused_adds == 2);  // the two stride-1 blocks with in == out channels
}

TEST_CASE("EfficientNet-B0 and DenseNet-121 compile and equal the model", "[infer]") {
    bpr::set_threads(2);
    {
        auto model = bpr::models::efficientnet_b0<float>(1, 10);
        bpr::rng r(25);
        bpr::initialize(model, r);
        randomize_norms(model, 26);
        random_mask(model, 0.05, 27);
        check_against_model(model, random_images(2, 1, 12, 12, 28), 2, inf::path_policy::automatic);
    }
    {
        auto model = bpr::models::densenet121<float>(1, 10);
        bpr::rng r(29);
        bpr::initialize(model, r);
        randomize_norms(model, 30);
        random_mask(model, 0.05, 31);
        const auto images = random_images(2, 1, 12, 12, 32);
        check_against_model(model, images, 1, inf::path_policy::automatic);
        auto engine = inf::compile(model, {1, 12, 12});
        // 120 convolutions and the head. Only the 58 bn2 fold (into conv1): the batchnorms
        // that follow a concat have no producing convolution and run as affine steps.
        CHECK(engine.layers().size() == 121);
        index_t folded = 0;
        for (const auto& layer : engine.layers())
            folded += layer.folded_batchnorm;
        CHECK(folded == 58);
    }
    bpr::set_threads(1);
}

TEST_CASE("DenseNet concat keeps every branch's features in order", "[infer]") {
    bpr::set_threads(1);
    for (double density : {1.0, 0.1}) {
        auto model = bpr::models::densenet_cifar<float>({2, 1, 1, 2}, 4, 0.5, 3, 7);
        bpr::rng r(33);
        bpr::initialize(model, r);
        randomize_norms(model, 34);
        random_mask(model, density, 35);
        const auto images = random_images(3, 3, 16, 16, 36);
        for (auto policy : policies) {
            INFO("density " << density << " policy " << int(policy));
            check_against_model(model, images, 2, policy);
        }
    }
}

TEST_CASE("measured policy times both kernels, and paths replays a choice", "[infer]") {
    bpr::set_threads(1);
    auto model = bpr::models::resnet20<float>(3, 10);
    bpr::rng r(31);
    bpr::initialize(model, r);
    randomize_norms(model, 32);
    random_mask(model, 0.1, 33);
    const auto images = random_images(3, 3, 16, 16, 34);
    bpr::tensor<float> reference, measured_out, replayed_out, forced_out;
    model.forward(images, reference, bpr::mode::eval);

    inf::compile_options measured;
    measured.max_batch = 2, measured.policy = inf::path_policy::measured;
    auto engine = inf::compile(model, {3, 16, 16}, measured);
    for (const auto& layer : engine.layers()) {
        INFO(layer.name);
        REQUIRE(layer.dense_us > 0);
        REQUIRE(layer.sparse_us > 0);
        CHECK(layer.chosen ==
              (layer.sparse_us < layer.dense_us ? inf::path::sparse : inf::path::dense));
    }
    engine.forward(images, measured_out);
    CHECK(relative_error(measured_out, reference) <= 1e-4);

    // The recorded choice compiles to the same kernels and the same bits.
    const std::string recorded = engine.paths();
    REQUIRE(recorded.size() == engine.layers().size());
    inf::compile_options replay;
    replay.max_batch = 2, replay.paths = recorded;
    auto replayed = inf::compile(model, {3, 16, 16}, replay);
    CHECK(replayed.paths() == recorded);
    replayed.forward(images, replayed_out);
    CHECK(std::equal(replayed_out.begin(), replayed_out.end(), measured_out.begin()));
    for (const auto& layer : replayed.layers())
        CHECK(layer.dense_us == -1.0);  // nothing timed

    // Any pattern is honoured, whatever the policy says.
    std::string pattern;
    for (std::size_t i = 0; i < recorded.size(); ++i)
        pattern += i % 3 == 0 ? 'D' : 'S';
    inf::compile_options forced;
    forced.paths = pattern, forced.policy = inf::path_policy::always_dense;
    auto forced_engine = inf::compile(model, {3, 16, 16}, forced);
    CHECK(forced_engine.paths() == pattern);
    forced_engine.forward(images, forced_out);
    CHECK(relative_error(forced_out, reference) <= 1e-4);

    // A pattern for another model, or with another letter, names what is wrong.
    inf::compile_options short_paths;
    short_paths.paths = "SD";
    CHECK_THROWS_WITH(inf::compile(model, {3, 16, 16}, short_paths),
                      Catch::Contains("'SD' has 2 letters") &&
                          Catch::Contains(std::to_string(recorded.size()) + " convolution"));
    inf::compile_options bad_letter;
    bad_letter.paths = recorded;
    bad_letter.paths[5] = 's';
    CHECK_THROWS_WITH(inf::compile(model, {3, 16, 16}, bad_letter),
                      Catch::Contains("letter 5") && Catch::Contains(engine.layers()[5].name) &&
                          Catch::Contains("'s'"));
}

TEST_CASE("engine reports and errors", "[infer]") {
    auto model = bpr::models::lenet5<float>(1, 28, 10);
    bpr::rng r(19);
    bpr::initialize(model, r);
    random_mask(model, 0.02, 20);
    auto engine = inf::compile(model, {1, 28, 28});
    REQUIRE(engine.layers().size() == 5);
    for (const auto& layer : engine.layers()) {
        CHECK(layer.density() < 0.1);
        // 2% is below every measured crossover at batch 1 but the tiny head's (1%).
        CHECK(layer.chosen == (layer.name == "fc3" ? inf::path::dense : inf::path::sparse));
    }
    // Below 1% the head runs sparse too; sized for 32 images, the SpMM never wins on it.
    random_mask(model, 0.2, 21);  // 0.4% left
    const auto head = inf::compile(model, {1, 28, 28}).layers().back();
    CHECK(head.density() <= 0.01);
    CHECK(head.chosen == inf::path::sparse);
    inf::compile_options batched;
    batched.max_batch = 32;
    CHECK(inf::compile(model, {1, 28, 28}, batched).layers().back().chosen == inf::path::dense);
    CHECK(engine.output_shape().size() == 10);
    CHECK(engine.buffer_bytes() > 0);
    // A wrong image size fails with the model's own message.
    CHECK_THROWS_WITH(inf::compile(model, {3, 28, 28}), Catch::Contains("channels"));
    bpr::tensor<float> wrong({2, 1, 27, 28}), out;
    CHECK_THROWS_AS(engine.forward(wrong, out), bpr::error);
    // Dense weights choose the dense kernel where it was measured faster.
    auto dense = bpr::models::resnet20<float>(3, 10);
    bpr::initialize(dense, r);
    auto dense_engine = inf::compile(dense, {3, 32, 32});
    CHECK(dense_engine.layers()[1].chosen == inf::path::dense);
}
