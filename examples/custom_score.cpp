// custom_score: how to extend bpr with your own regrowth score.
//
// bpr's pipeline is a type made of three stages,
//
//     bpr::pipeline<prune_to_budget<...>, score<...>, regrow<...>>
//
// and every stage parameter is checked by a concept, not looked up in a list. So a
// score you write yourself plugs in exactly like the library's own: it needs a name
// and one member function. This example writes one (a layer-normalized gradient
// score), composes a pipeline around it, and runs it on Fashion-MNIST with LeNet-5:
// train briefly, prune to 99% sparsity, regrow to 98% in two steps.
//
// Run it with no arguments (about a minute on 2 cores); docs/guide_custom_score.md
// walks through it. An optional argument is the Fashion-MNIST folder.

#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/core/parallel.hpp"
#include "bpr/data/idx.hpp"
#include "bpr/data/split.hpp"
#include "bpr/data/transforms.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/models/lenet.hpp"
#include "bpr/optim.hpp"
#include "bpr/pipeline.hpp"
#include "bpr/train.hpp"

// ---------------------------------------------------------------------------------
// Step 1: the score.
//
// RigL's score is |gradient| of each dead weight, compared across all layers. But
// layers have very different gradient scales (the classifier's are often far larger
// than the first convolution's), so a global top-k spends most of the regrowth on one
// layer. Our score divides |g| by the mean |g| of its layer: every layer's best
// candidates compete on equal terms.
//
// The contract (the bpr::regrow_score concept) is:
//   - a static `name`, used in error messages;
//   - score(model, indices, context, out): for each listed parameter indices[i], one
//     score per weight in out[i], higher = more worth regrowing. The regrower only
//     looks at the scores of dead weights, so we need not filter them.
// bpr::accumulate_gradients gives the dense gradients summed over context.batches
// batches (the pipeline supplies the batches; never the test set).
struct layer_normalized_gradient {
    static constexpr std::string_view name = "layer_normalized_gradient";

    template <typename Model>
    void score(Model& model, std::span<const std::size_t> indices,
               const bpr::regrow_context& context, std::vector<std::vector<double>>& out) const {
        out = bpr::accumulate_gradients(model, indices, context, name);
        for (auto& layer : out) {
            double mean = 0;
            for (double& g : layer)
                mean += (g = std::abs(g));
            mean /= static_cast<double>(layer.size());
            for (double& g : layer)
                g = mean > 0 ? g / mean : 0.0;
        }
    }
};

// The concept check is a one-liner; if the score were wrong, this line would say so
// here instead of deep inside the pipeline.
static_assert(bpr::regrow_score<layer_normalized_gradient>);

// ---------------------------------------------------------------------------------
// Step 2: the pipeline. One-shot global magnitude pruning to the budget, then our
// score, then regrowth: plain top-k over the scores, regrown weights start at zero.
using my_recipe =
    bpr::pipeline<bpr::prune_to_budget<bpr::magnitude, bpr::global_allocation, bpr::one_shot>,
                  bpr::score<layer_normalized_gradient>, bpr::regrow<bpr::top_k, bpr::init_zero>>;

int main(int argc, char** argv) try {
    bpr::set_threads(2);

    // -----------------------------------------------------------------------------
    // Step 3: data. Fashion-MNIST, with a seeded validation split carved from the
    // training images (the pipeline's evaluations use it; the test set is reported
    // only). To keep the example short we train on 12,000 of the remaining images.
    const std::string dir = argc > 1 ? argv[1] : bpr::data::default_fashion_mnist_dir;
    const auto full = bpr::data::load_fashion_mnist(bpr::data::subset_kind::train, dir);
    const auto test = bpr::data::load_fashion_mnist(bpr::data::subset_kind::test, dir);
    const auto parts = bpr::data::split(full, 5000, /*seed=*/1);
    const auto train = bpr::data::split(parts.train, 12000, /*seed=*/2).validation;
    const bpr::data::loader_options options{.batch_size = 128,
                                            .shuffle = true,
                                            .seed = 1,
                                            .norm = bpr::data::compute_normalization(train)};

    // -----------------------------------------------------------------------------
    // Step 4: a trained dense model. (bpr-regrow loads a committed checkpoint
    // instead; here three quick epochs are enough to show the mechanics.)
    auto model = bpr::models::lenet5<float>(1, 28, 10);
    bpr::rng generator(1);
    bpr::initialize(model, generator);
    {
        bpr::sgd<float> opt({.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
        bpr::data::batch_loader loader(train, options);
        bpr::fit(model, opt, bpr::cosine_lr{.base = 0.05}, loader, {.epochs = 3});
    }

    // -----------------------------------------------------------------------------
    // Step 5: run. The fine-tune callable is the library's adapter around bpr::fit: it
    // trains under the current masks (masked gradients zeroed after backward, masks
    // re-applied after every step) and evaluates. The gradient source feeds the
    // score training batches. The optimizer is passed to run() so that the momentum
    // of regrown weights is reset.
    bpr::sgd<float> opt({.lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4});
    bpr::fit_fine_tuner<decltype(model), bpr::sgd<float>> fine_tune{
        .model = model,
        .opt = opt,
        .train = train,
        .train_options = options,
        .validation = &parts.validation,
        .test = &test,
        .schedule = bpr::cosine_lr{.base = 0.01}};

    bpr::pipeline_inputs inputs;
    inputs.start = bpr::budget::sparsity(0.99);   // what the hardware accepts
    inputs.target = bpr::budget::sparsity(0.98);  // where regrowth stops
    inputs.steps = 2;
    inputs.fine_tune_length = 1;  // epochs per regrowth step
    inputs.prune_fine_tune_length = 1;
    inputs.gradients = bpr::make_gradient_source(model, train, options);
    inputs.score_batches = 8;

    my_recipe recipe;
    const auto result = recipe.run(model, fine_tune, inputs, opt);

    // -----------------------------------------------------------------------------
    // Step 6: what happened. Every step is in the trajectory; it also writes CSV,
    // JSON and an SVG plot (write_csv / write_json / write_svg).
    std::printf("\n%s", result.steps.table().c_str());
    for (std::size_t k = 0; k < result.regrowth.size(); ++k) {
        std::printf("regrowth step %zu:", k + 1);
        for (const auto& layer : result.regrowth[k].layers)
            std::printf("  %s +%lld", layer.name.c_str(), static_cast<long long>(layer.grown));
        std::printf("\n");
    }
    return 0;
} catch (const bpr::error& e) {
    std::fprintf(stderr, "custom_score: %s\n", e.what());
    return 1;
}
