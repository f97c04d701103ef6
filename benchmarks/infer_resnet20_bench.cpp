// End-to-end ResNet-20 (CIFAR, option-A shortcuts) through bpr::infer at a given
// sparsity: random masks (every convolution and the linear layer keep the same random
// fraction of their weights), random batchnorm statistics, 3x32x32 random images.
// Prints one JSON object; benchmarks/infer_vs_torch.py runs it next to PyTorch's dense
// eval-mode ResNet-20 and compares.
//
//   bpr_infer_resnet20_bench --sparsity 95 [--batch 1] [--threads 1] [--seconds 1]
//                            [--repeats 3] [--policy auto|dense|sparse]
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
#include "bpr/nn/models/resnet.hpp"

namespace {

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
    double sparsity = 95, seconds = 1;
    bpr::index_t batch = 1;
    int threads = 1, repeats = 3;
    std::string policy = "auto";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--sparsity")
            sparsity = std::atof(value.c_str());
        else if (flag == "--batch")
            batch = std::atol(value.c_str());
        else if (flag == "--threads")
            threads = std::atoi(value.c_str());
        else if (flag == "--seconds")
            seconds = std::atof(value.c_str());
        else if (flag == "--repeats")
            repeats = std::atoi(value.c_str());
        else if (flag == "--policy")
            policy = value;
        else {
            std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
            return 2;
        }
    }
    bpr::set_threads(threads);
    auto model = bpr::models::resnet20<float>(3, 10);
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
        "{\"sparsity\": %.2f, \"batch\": %d, \"threads\": %d, \"policy\": \"%s\", "
        "\"cpu_ms_per_image\": %.6f, \"wall_ms_per_image\": %.6f, \"density\": %.6f, "
        "\"sparse_layers\": %d, \"layers\": %d, \"relative_error\": %.3g}\n",
        sparsity, int(batch), threads, policy.c_str(), best_cpu * 1e3, best_wall * 1e3,
        double(nonzeros) / double(weights), int(sparse_layers), int(engine.layers().size()),
        scale > 0 ? diff / scale : diff);
    return 0;
}
