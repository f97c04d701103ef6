// ResNet-20 (CIFAR, option-A shortcuts) throughput: images/s of a training step
// (forward + softmax cross-entropy + backward + SGD step) and of inference (eval
// forward), on random 3x32x32 data. Prints one JSON object; benchmarks/compare_pytorch.py
// runs this next to the same model in PyTorch.
//
//   bpr_resnet20_throughput [--threads 2] [--batch 128] [--steps 20] [--warmup 3]
//                           [--mode both|train|infer] [--sparsity S] [--sparse-density D]
//
// --sparsity S prunes every weight tensor (convolutions and the linear layer) to
// sparsity S with a seeded random mask (uniform per layer), kept through the steps as
// bpr-prune / bpr-regrow keep theirs (gradients wanted for alive weights only, masked
// gradients, weights re-zeroed after each step). --sparse-density D lets every
// convolution whose density is <= D run on the sparse kernels (forward, backward-data
// and the alive weights' gradients; conv2d::set_sparse_density; 0, the default: dense
// kernels only).

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/loss.hpp"
#include "bpr/nn/models/resnet.hpp"
#include "bpr/optim/sgd.hpp"
#include "bpr/sparse/mask.hpp"

namespace {

struct options {
    int threads = 2;
    bpr::index_t batch = 128;
    int steps = 20;
    int warmup = 3;
    std::string mode = "both";
    double sparsity = 0.0;
    double sparse_density = 0.0;
};

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "resnet20_throughput: %s needs a value\n", flag.c_str());
            std::exit(2);
        }
        const char* value = argv[++i];
        if (flag == "--threads")
            o.threads = std::atoi(value);
        else if (flag == "--batch")
            o.batch = std::atoll(value);
        else if (flag == "--steps")
            o.steps = std::atoi(value);
        else if (flag == "--warmup")
            o.warmup = std::atoi(value);
        else if (flag == "--mode")
            o.mode = value;
        else if (flag == "--sparsity")
            o.sparsity = std::atof(value);
        else if (flag == "--sparse-density")
            o.sparse_density = std::atof(value);
        else {
            std::fprintf(stderr, "resnet20_throughput: unknown flag %s\n", flag.c_str());
            std::exit(2);
        }
    }
    if (o.threads < 1 || o.batch < 1 || o.steps < 1 || o.warmup < 0 ||
        (o.mode != "both" && o.mode != "train" && o.mode != "infer") || o.sparsity < 0 ||
        o.sparsity >= 1 || o.sparse_density < 0 || o.sparse_density > 1) {
        std::fprintf(stderr, "resnet20_throughput: bad arguments\n");
        std::exit(2);
    }
    return o;
}

double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct timings {
    std::vector<double> wall;  // seconds per step, sorted
    double cpu = 0;            // process CPU seconds per step (all threads), mean
};

// Times `steps` calls of `step` after `warmup` untimed ones. CPU time is reported too:
// on a shared machine it is the figure that other processes disturb least.
template <typename F>
timings time_steps(int warmup, int steps, F&& step) {
    for (int i = 0; i < warmup; ++i)
        step();
    timings t;
    const double cpu_start = process_cpu_seconds();
    for (int i = 0; i < steps; ++i) {
        const auto start = std::chrono::steady_clock::now();
        step();
        t.wall.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    t.cpu = (process_cpu_seconds() - cpu_start) / steps;
    std::sort(t.wall.begin(), t.wall.end());
    return t;
}

void print_rates(const char* name, const timings& t, bpr::index_t batch) {
    const double median = t.wall[t.wall.size() / 2], best = t.wall.front();
    const auto n = static_cast<double>(batch);
    std::printf(
        "\"%s\": {\"images_per_second\": %.1f, \"best_images_per_second\": %.1f, "
        "\"median_ms\": %.2f, \"cpu_ms_per_step\": %.2f, \"steps\": %zu}, ",
        name, n / median, n / best, median * 1e3, t.cpu * 1e3, t.wall.size());
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    bpr::set_threads(o.threads);

    auto model = bpr::models::resnet20<float>();
    bpr::rng generator(1);
    bpr::initialize(model, generator);
    bpr::sgd<float> optimizer({.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4});
    bpr::softmax_cross_entropy<float> criterion;

    bpr::tensor<float> images({o.batch, 3, 32, 32});
    for (auto& v : images)
        v = static_cast<float>(generator.normal());
    std::vector<int> labels(static_cast<std::size_t>(o.batch));
    for (auto& label : labels)
        label = static_cast<int>(generator.below(10));

    auto masks = bpr::mask_set<>::dense(model);
    if (o.sparsity > 0) {
        for (auto& entry : masks) {
            std::vector<std::uint8_t> bits(static_cast<std::size_t>(entry.bits.size()));
            for (auto& bit : bits)
                bit = generator.uniform() >= o.sparsity;
            bits[0] = 1;  // no layer entirely dead
            entry.bits.set_bits(bits);
        }
        masks.apply(model);
        masks.restrict_gradients(model);  // as bpr's fine-tuning does
    }
    bpr::set_sparse_density(model, o.sparse_density);

    bpr::tensor<float> logits, grad_logits, grad_input;
    std::printf(
        "{\"library\": \"bpr\", \"threads\": %d, \"batch\": %lld, "
        "\"sparsity\": %.4f, \"sparse_density\": %.4f, ",
        o.threads, static_cast<long long>(o.batch), masks.sparsity(), o.sparse_density);
    float last_loss = 0;
    if (o.mode != "infer") {
        const auto seconds = time_steps(o.warmup, o.steps, [&] {
            model.forward(images, logits, bpr::mode::train);
            last_loss = criterion.forward(logits, labels);
            criterion.backward(grad_logits);
            model.backward(images, logits, grad_logits, grad_input);
            masks.mask_grads(model);
            optimizer.step(model);
            masks.apply(model);
        });
        print_rates("train", seconds, o.batch);
    }
    if (o.mode != "train") {
        const auto seconds =
            time_steps(o.warmup, o.steps, [&] { model.forward(images, logits, bpr::mode::eval); });
        print_rates("infer", seconds, o.batch);
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("\"last_loss\": %.4f, \"peak_rss_mb\": %.1f}\n", static_cast<double>(last_loss),
                static_cast<double>(usage.ru_maxrss) / 1024.0);
    return 0;
}
