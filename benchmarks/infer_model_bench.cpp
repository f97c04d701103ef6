// End-to-end inference of a zoo model (CIFAR variants: ResNet-20 with option-A
// shortcuts, VGG-16, DenseNet-121, EfficientNet-B0) through bpr::infer at a given
// sparsity: random masks (every weight tensor keeps the same random fraction of its
// weights), random batchnorm statistics, 3x32x32 random images. Prints one JSON object;
// benchmarks/infer_vs_torch.py runs it next to PyTorch's dense eval-mode model and
// compares.
//
//   bpr_infer_model_bench --sparsity 95 [--model resnet20|vgg16|densenet121|efficientnet_b0]
//                         [--batch 1] [--threads 1] [--seconds 1] [--repeats 3]
//                         [--policy auto|dense|sparse]
//
// Times: process CPU time and wall time per image, best of --repeats runs of at least
// --seconds each. Before timing, the engine's logits are checked against the masked
// model's own eval forward (max |difference| / max |logit|, printed as "relative_error").

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/infer.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/models/densenet.hpp"
#include "bpr/nn/models/efficientnet.hpp"
#include "bpr/nn/models/resnet.hpp"
#include "bpr/nn/models/vgg.hpp"

namespace {

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct settings {
    double sparsity = 95, seconds = 1;
    bpr::index_t batch = 1;
    int threads = 1, repeats = 3;
    std::string policy = "auto", model = "resnet20";
};

template <typename Model>
int measure(Model model, const settings& s) {
    const double sparsity = s.sparsity, seconds = s.seconds;
    const bpr::index_t batch = s.batch;
    const int threads = s.threads, repeats = s.repeats;
    const std::string& policy = s.policy;
    bpr::rng r(1);
    bpr::initialize(model, r);
    bpr::visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        if (p.role == bpr::param_role::weight)
            for (auto& w : p.value)
                if (r.uniform() * 100 < sparsity) w = 0.0f;
        if (p.role == bpr::param_role::norm_scale)
            for (auto& v : p.value)
                v = static_cast<float>(r.uniform(0.5, 1.5));
    });
    bpr::visit_buffers(model, [&](const std::string& name, auto& t) {
        const bool var = name.find("running_var") != std::string::npos;
        for (auto& v : t)
            v = static_cast<float>(var ? r.uniform(0.5, 2.0) : r.uniform(-0.2, 0.2));
    });
    bpr::infer::compile_options options;
    options.max_batch = batch;
    options.policy = policy == "dense"    ? bpr::infer::path_policy::always_dense
                     : policy == "sparse" ? bpr::infer::path_policy::always_sparse
                                          : bpr::infer::path_policy::automatic;
    auto engine = bpr::infer::compile(model, {3, 32, 32}, options);

    bpr::tensor<float> images({batch, 3, 32, 32}), logits, reference;
    for (auto& v : images)
        v = static_cast<float>(r.uniform(-2.0, 2.0));
    engine.forward(images, logits);
    model.forward(images, reference, bpr::mode::eval);
    double diff = 0, scale = 0;
    for (bpr::index_t i = 0; i < logits.size(); ++i) {
        diff = std::max(diff, std::abs(double(logits[i]) - double(reference[i])));
        scale = std::max(scale, std::abs(double(reference[i])));
    }

    double best_cpu = 1e30, best_wall = 1e30;
    for (int repeat = 0; repeat < repeats; ++repeat) {
        long calls = 0;
        const auto w0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        double elapsed = 0;
        do {
            engine.forward(images.data(), batch, logits.data());
            ++calls;
            elapsed = cpu_seconds() - c0;
        } while (elapsed < seconds);
        const double wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
        const double images_run = static_cast<double>(calls * batch);
        best_cpu = std::min(best_cpu, elapsed / images_run);
        best_wall = std::min(best_wall, wall / images_run);
    }
    bpr::index_t sparse_layers = 0, nonzeros = 0, weights = 0;
    for (const auto& l : engine.layers()) {
        sparse_layers += l.chosen == bpr::infer::path::sparse;
        nonzeros += l.nonzeros, weights += l.weights;
    }
    std::printf(
        "{\"model\": \"%s\", \"sparsity\": %.2f, \"batch\": %d, \"threads\": %d, \"policy\": "
        "\"%s\", "
        "\"cpu_ms_per_image\": %.6f, \"wall_ms_per_image\": %.6f, \"density\": %.6f, "
        "\"sparse_layers\": %d, \"layers\": %d, \"relative_error\": %.3g}\n",
        s.model.c_str(), sparsity, int(batch), threads, policy.c_str(), best_cpu * 1e3,
        best_wall * 1e3, double(nonzeros) / double(weights), int(sparse_layers),
        int(engine.layers().size()), scale > 0 ? diff / scale : diff);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    settings s;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--sparsity")
            s.sparsity = std::atof(value.c_str());
        else if (flag == "--batch")
            s.batch = std::atol(value.c_str());
        else if (flag == "--threads")
            s.threads = std::atoi(value.c_str());
        else if (flag == "--seconds")
            s.seconds = std::atof(value.c_str());
        else if (flag == "--repeats")
            s.repeats = std::atoi(value.c_str());
        else if (flag == "--policy")
            s.policy = value;
        else if (flag == "--model")
            s.model = value;
        else {
            std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
            return 2;
        }
    }
    bpr::set_threads(s.threads);
    namespace m = bpr::models;
    if (s.model == "resnet20") return measure(m::resnet20<float>(3, 10), s);
    if (s.model == "vgg16") return measure(m::vgg16<float>(3, 10, 32), s);
    if (s.model == "densenet121") return measure(m::densenet121<float>(3, 10), s);
    if (s.model == "efficientnet_b0") return measure(m::efficientnet_b0<float>(3, 10), s);
    std::fprintf(stderr, "unknown model %s\n", s.model.c_str());
    return 2;
}
