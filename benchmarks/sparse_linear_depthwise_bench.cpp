// The two sparse kernels besides the direct convolution, each against the dense path
// the engine would otherwise run:
//   linear:    kernels::sparse_linear_forward (CSR SpMV at batch 1, SpMM over the batch
//              above) against Eigen's GEMV/GEMM (the engine's dense linear path);
//   depthwise: kernels::depthwise_conv2d_forward with masked packing (zero taps
//              dropped) and dense packing (all taps), against conv2d_forward with
//              groups == channels (im2col + GEMM per group, what grouped layers run in
//              training).
// Shapes: LeNet-5's and VGG-16's linear layers plus a square 1024 one; EfficientNet-B0's
// depthwise layers at CIFAR size. Names: <kernel>/<shape>/s<sparsity permille>/b<batch>;
// 1 thread (bpr::set_threads(1)). The dense paths do not depend on sparsity (s0).
//
//   build/benchmarks/bpr_sparse_linear_depthwise_bench --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/depthwise.hpp"
#include "bpr/kernels/sparse_linear.hpp"

namespace {

using bpr::index_t;
using bpr_bench::apply_random_mask;
using bpr_bench::random_values;
namespace k = bpr::kernels;
using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int sparsities_permille[] = {0, 500, 800, 900, 950, 990};

struct linear_shape {
    index_t in, out;
};
constexpr linear_shape linear_shapes[] = {{400, 120}, {120, 84}, {512, 10}, {1024, 1024}};

struct depthwise_shape {
    index_t channels, size, kernel, stride;
};
// EfficientNet-B0 (CIFAR): the first depthwise layer of stages 2-7 and a repeat of stage 2.
constexpr depthwise_shape depthwise_shapes[] = {{96, 32, 3, 2}, {144, 16, 3, 1}, {144, 16, 5, 2},
                                                {240, 8, 3, 2}, {480, 4, 5, 1},  {672, 4, 5, 2},
                                                {1152, 2, 3, 1}};

// Exactly round((1 - sparsity) * count) nonzeros at uniformly random positions.
std::vector<float> sparse_values(index_t count, int permille) {
    auto w = random_values(count, 7);
    apply_random_mask(w, (1000 - permille) / 1000.0, 8);
    return w;
}

std::string linear_name(const char* kernel, const linear_shape& s, int permille, index_t batch) {
    char text[96];
    std::snprintf(text, sizeof text, "%s/%d_%d/s%d/b%d", kernel, int(s.in), int(s.out), permille,
                  int(batch));
    return text;
}

std::string depthwise_name(const char* kernel, const depthwise_shape& s, int permille,
                           index_t batch) {
    char text[96];
    std::snprintf(text, sizeof text, "%s/c%d_%dx%d_k%d_s%d/s%d/b%d", kernel, int(s.channels),
                  int(s.size), int(s.size), int(s.kernel), int(s.stride), permille, int(batch));
    return text;
}

void run_linear_dense(benchmark::State& state, linear_shape s, index_t batch) {
    bpr::set_threads(1);
    const auto input = random_values(batch * s.in, 1);
    const auto weight = random_values(s.out * s.in, 2);
    std::vector<float> output(static_cast<std::size_t>(batch * s.out));
    Eigen::Map<const row_matrix> x(input.data(), batch, s.in);
    Eigen::Map<const row_matrix> w(weight.data(), s.out, s.in);
    Eigen::Map<row_matrix> y(output.data(), batch, s.out);
    for (auto _ : state) {
        y.noalias() = x * w.transpose();
        benchmark::DoNotOptimize(output.data());
        benchmark::ClobberMemory();
    }
}

void run_linear_sparse(benchmark::State& state, linear_shape s, int permille, index_t batch) {
    bpr::set_threads(1);
    const auto input = random_values(batch * s.in, 1);
    const auto weight = sparse_values(s.out * s.in, permille);
    const auto packed = k::sparse_linear_weights::pack(s.out, s.in, weight.data());
    std::vector<float> output(static_cast<std::size_t>(batch * s.out));
    k::sparse_linear_workspace workspace;
    for (auto _ : state) {
        k::sparse_linear_forward(packed, batch, input.data(), output.data(), {}, workspace);
        benchmark::DoNotOptimize(output.data());
        benchmark::ClobberMemory();
    }
    state.counters["nnz"] = static_cast<double>(packed.nnz());
}

k::conv2d_geometry depthwise_geometry(const depthwise_shape& s, index_t batch) {
    k::conv2d_geometry g;
    g.batch = batch, g.in_channels = g.out_channels = g.groups = s.channels;
    g.in_h = g.in_w = s.size, g.kernel_h = g.kernel_w = s.kernel;
    g.stride_h = g.stride_w = s.stride;
    g.pad_h = g.pad_w = s.kernel / 2;
    g.validate("sparse_linear_depthwise_bench");
    return g;
}

void run_depthwise_im2col(benchmark::State& state, depthwise_shape s, index_t batch) {
    bpr::set_threads(1);
    const auto g = depthwise_geometry(s, batch);
    const auto input = random_values(g.input_shape().numel(), 1);
    const auto weight = random_values(g.weight_shape().numel(), 2);
    std::vector<float> output(static_cast<std::size_t>(g.output_shape().numel()));
    k::conv2d_workspace<float> workspace;
    for (auto _ : state) {
        k::conv2d_forward<float>(g, input.data(), weight.data(), nullptr, output.data(), workspace);
        benchmark::DoNotOptimize(output.data());
        benchmark::ClobberMemory();
    }
}

// drop_zeros false: the dense packing (all taps), run at sparsity 0 only.
void run_depthwise(benchmark::State& state, depthwise_shape s, int permille, index_t batch,
                   bool drop_zeros) {
    bpr::set_threads(1);
    const auto g = depthwise_geometry(s, batch);
    const auto input = random_values(g.input_shape().numel(), 1);
    const auto weight = sparse_values(g.weight_shape().numel(), permille);
    const auto packed = k::depthwise_conv2d_weights::pack(g, weight.data(), drop_zeros);
    std::vector<float> output(static_cast<std::size_t>(g.output_shape().numel()));
    k::sparse_conv2d_workspace workspace;
    for (auto _ : state) {
        k::depthwise_conv2d_forward(packed, batch, input.data(), output.data(), {}, workspace);
        benchmark::DoNotOptimize(output.data());
        benchmark::ClobberMemory();
    }
    state.counters["taps"] = static_cast<double>(packed.nnz());
}

}  // namespace

int main(int argc, char** argv) {
    for (index_t batch : {1, 32}) {
        for (const auto& s : linear_shapes) {
            benchmark::RegisterBenchmark(linear_name("linear_dense", s, 0, batch).c_str(),
                                         run_linear_dense, s, batch)
                ->Unit(benchmark::kMicrosecond);
            for (int p : sparsities_permille)
                benchmark::RegisterBenchmark(linear_name("linear_sparse", s, p, batch).c_str(),
                                             run_linear_sparse, s, p, batch)
                    ->Unit(benchmark::kMicrosecond);
        }
        for (const auto& s : depthwise_shapes) {
            benchmark::RegisterBenchmark(depthwise_name("depthwise_im2col", s, 0, batch).c_str(),
                                         run_depthwise_im2col, s, batch)
                ->Unit(benchmark::kMicrosecond);
            benchmark::RegisterBenchmark(depthwise_name("depthwise_dense", s, 0, batch).c_str(),
                                         run_depthwise, s, 0, batch, false)
                ->Unit(benchmark::kMicrosecond);
            for (int p : sparsities_permille)
                benchmark::RegisterBenchmark(
                    depthwise_name("depthwise_masked", s, p, batch).c_str(), run_depthwise, s, p,
                    batch, true)
                    ->Unit(benchmark::kMicrosecond);
        }
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
