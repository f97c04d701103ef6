// The sparse/dense crossover of bpr::infer: for every convolution shape of LeNet-5,
// ResNet-20 and VGG-16 (CIFAR size), the CPU time of one forward call of the two paths
// the engine can choose, each with the engine's epilogue (bias + ReLU):
//   dense:  kernels::conv2d_forward (direct xsimd) + apply_epilogue (ReLU),
//   sparse: kernels::sparse_conv2d_forward with the fused epilogue,
// at densities 100% down to 5%, and the highest density at which sparse is faster.
// The table in include/bpr/infer/crossover.hpp comes from this program's output:
//   nice -n 10 build-h3/benchmarks/bpr_infer_crossover_bench [batch] [threads]
// Times are process CPU time per call (the best of 5 repeats of >= 20 ms each), so a
// loaded machine inflates them less than wall time. Random masks, seeds fixed.

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_support.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/epilogue.hpp"
#include "bpr/kernels/sparse_conv2d.hpp"
#include "bpr/kernels/sparse_linear.hpp"

namespace {

using bpr::index_t;
using bpr_bench::apply_random_mask;
using bpr_bench::random_values;
namespace k = bpr::kernels;

struct conv_shape {
    const char* model;
    index_t in, out, size, kernel, stride, pad;
};

constexpr conv_shape shapes[] = {
    {"lenet5", 1, 6, 28, 5, 1, 2},     {"lenet5", 6, 16, 14, 5, 1, 0},
    {"resnet20", 3, 16, 32, 3, 1, 1},  {"resnet20", 16, 16, 32, 3, 1, 1},
    {"resnet20", 16, 32, 32, 3, 2, 1}, {"resnet20", 32, 32, 16, 3, 1, 1},
    {"resnet20", 32, 64, 16, 3, 2, 1}, {"resnet20", 64, 64, 8, 3, 1, 1},
    {"vgg16", 64, 64, 32, 3, 1, 1},    {"vgg16", 128, 128, 16, 3, 1, 1},
    {"vgg16", 256, 256, 8, 3, 1, 1},   {"vgg16", 512, 512, 4, 3, 1, 1},
    {"vgg16", 512, 512, 2, 3, 1, 1},
};
struct linear_shape {
    const char* model;
    index_t in, out;
};
constexpr linear_shape linear_shapes[] = {{"lenet5", 400, 120}, {"lenet5", 120, 84},
                                          {"lenet5", 84, 10},   {"resnet20", 64, 10},
                                          {"vgg16", 512, 10},   {"other", 1024, 1024}};

constexpr double densities[] = {1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05};

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Best CPU time per call over 5 repeats, each long enough to be measurable.
template <typename F>
double time_per_call(F&& f) {
    f();  // warm up (and let the workspaces allocate)
    double best = 1e30;
    for (int repeat = 0; repeat < 5; ++repeat) {
        long calls = 0;
        const double start = cpu_seconds();
        double elapsed = 0;
        do {
            f();
            ++calls;
            elapsed = cpu_seconds() - start;
        } while (elapsed < 0.02);
        best = std::min(best, elapsed / static_cast<double>(calls));
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    const index_t batch = argc > 1 ? std::atol(argv[1]) : 1;
    const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
    bpr::set_threads(threads);
    std::printf("# batch %d, %d thread(s); times in microseconds of CPU per call\n", int(batch),
                threads);
    std::printf("%-9s %-22s %9s", "model", "shape", "dense_us");
    for (double d : densities)
        std::printf(" %8s%-3d", "sp@", int(d * 100 + 0.5));
    std::printf(" %s\n", "crossover_density");
    for (const conv_shape& s : shapes) {
        k::conv2d_geometry g;
        g.batch = batch, g.in_channels = s.in, g.out_channels = s.out;
        g.in_h = g.in_w = s.size, g.kernel_h = g.kernel_w = s.kernel;
        g.stride_h = g.stride_w = s.stride, g.pad_h = g.pad_w = s.pad;
        g.validate("infer_crossover_bench");
        const auto input = random_values(batch * s.in * s.size * s.size, 1);
        const auto bias = random_values(s.out, 3);
        std::vector<float> output(static_cast<std::size_t>(batch * s.out * g.out_h() * g.out_w()));
        const k::epilogue relu_only{nullptr, nullptr, k::activation::relu};
        const k::epilogue fused{nullptr, bias.data(), k::activation::relu};

        auto weight = random_values(s.out * s.in * s.kernel * s.kernel, 2);
        k::conv2d_workspace<float> dense_workspace;
        const double dense = time_per_call([&] {
            k::conv2d_forward<float>(g, input.data(), weight.data(), bias.data(), output.data(),
                                     dense_workspace);
            k::apply_epilogue(relu_only, 0, output.data(), static_cast<index_t>(output.size()));
        });
        char shape[64];
        std::snprintf(shape, sizeof shape, "%dx%d@%dx%d k%d s%d", int(s.in), int(s.out),
                      int(s.size), int(s.size), int(s.kernel), int(s.stride));
        std::printf("%-9s %-22s %9.1f", s.model, shape, dense * 1e6);
        double crossover = 0.0;
        bool dense_won_above = false;
        for (double d : densities) {
            auto masked = weight;
            apply_random_mask(masked, d, 4);
            const auto packed = k::sparse_conv2d_weights::pack(g, masked.data());
            k::sparse_conv2d_workspace workspace;
            const double sparse = time_per_call([&] {
                k::sparse_conv2d_forward(packed, batch, input.data(), output.data(), fused,
                                         workspace);
            });
            std::printf(" %11.1f", sparse * 1e6);
            // The highest density from which sparse wins at every lower density measured.
            if (sparse < dense) {
                if (crossover == 0.0 || dense_won_above) crossover = d;
                dense_won_above = false;
            } else {
                dense_won_above = true, crossover = 0.0;
            }
        }
        std::printf(" %.2f\n", crossover);
        std::fflush(stdout);
    }
    // Linear layers: Eigen GEMM + epilogue (the engine's dense path) against the CSR
    // SpMV / SpMM of kernels::sparse_linear_forward.
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    for (const linear_shape& s : linear_shapes) {
        const auto input = random_values(batch * s.in, 1);
        const auto bias = random_values(s.out, 3);
        std::vector<float> output(static_cast<std::size_t>(batch * s.out));
        const k::epilogue fused{nullptr, bias.data(), k::activation::relu};
        auto weight = random_values(s.out * s.in, 2);
        const double dense = time_per_call([&] {
            Eigen::Map<const matrix> x(input.data(), batch, s.in);
            Eigen::Map<const matrix> w(weight.data(), s.out, s.in);
            Eigen::Map<matrix> y(output.data(), batch, s.out);
            y.noalias() = x * w.transpose();
            for (index_t n = 0; n < batch; ++n)
                for (index_t o = 0; o < s.out; ++o)
                    y(n, o) = k::epilogue_scalar(fused, o, y(n, o));
        });
        char shape[64];
        std::snprintf(shape, sizeof shape, "linear %d->%d", int(s.in), int(s.out));
        std::printf("%-9s %-22s %9.2f", s.model, shape, dense * 1e6);
        double crossover = 0.0;
        bool dense_won_above = false;
        for (double d : densities) {
            auto masked = weight;
            apply_random_mask(masked, d, 4);
            const auto packed = k::sparse_linear_weights::pack(s.out, s.in, masked.data());
            k::sparse_linear_workspace workspace;
            const double sparse = time_per_call([&] {
                k::sparse_linear_forward(packed, batch, input.data(), output.data(), fused,
                                         workspace);
            });
            std::printf(" %11.2f", sparse * 1e6);
            if (sparse < dense) {
                if (crossover == 0.0 || dense_won_above) crossover = d;
                dense_won_above = false;
            } else {
                dense_won_above = true, crossover = 0.0;
            }
        }
        std::printf(" %.2f\n", crossover);
        std::fflush(stdout);
    }
    return 0;
}
