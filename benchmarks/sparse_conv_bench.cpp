// Direct sparse convolution (bpr::kernels::sparse_conv2d_forward) against bpr's dense
// im2col + GEMM convolution across sparsities, on ResNet-20 / VGG16 layer shapes,
// batch 1 and 32, 1 and 2 threads. benchmarks/sparse_vs_torch.py runs this program and
// PyTorch's dense conv2d on the same shapes and writes the speedup table and plot.
// Names: <kernel>/<shape>/s<sparsity permille>/b<batch>/t<threads>; the dense kernel
// does not depend on sparsity and is run once per shape (s0).

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/sparse_conv2d.hpp"

namespace {

using bpr::index_t;
namespace k = bpr::kernels;

struct conv_shape {
    index_t channels, size, kernel, out_channels = 0, stride = 1;  // out 0: same as in
};

// c x c convolutions at size x size, stride 1, "same" padding; then ResNet-20's two
// stride-2 convolutions (which run on the de-interleaved input layout).
constexpr conv_shape shapes[] = {{16, 32, 3}, {64, 8, 3},  {256, 14, 3},       {256, 8, 3},
                                 {512, 4, 3}, {16, 32, 1}, {64, 8, 1},         {256, 14, 1},
                                 {256, 8, 1}, {512, 4, 1}, {16, 32, 3, 32, 2}, {32, 16, 3, 64, 2}};
constexpr int sparsities_permille[] = {0, 500, 700, 800, 900, 950, 980, 990, 995};

// GCC 12 reports a false -Wrestrict on chained std::string operator+, so names are
// formatted with snprintf.
std::string bench_name(const char* kernel, const conv_shape& s, int permille, index_t batch,
                       int threads) {
    char shape[64], text[128];
    if (s.out_channels == 0 && s.stride == 1)
        std::snprintf(shape, sizeof shape, "c%d_%dx%d_k%d", int(s.channels), int(s.size),
                      int(s.size), int(s.kernel));
    else
        std::snprintf(shape, sizeof shape, "c%d_o%d_%dx%d_k%d_s%d", int(s.channels),
                      int(s.out_channels), int(s.size), int(s.size), int(s.kernel), int(s.stride));
    std::snprintf(text, sizeof text, "%s/%s/s%d/b%d/t%d", kernel, shape, permille, int(batch),
                  threads);
    return text;
}

k::conv2d_geometry geometry_of(const conv_shape& s, index_t batch) {
    k::conv2d_geometry g;
    g.batch = batch, g.in_channels = s.channels;
    g.out_channels = s.out_channels > 0 ? s.out_channels : s.channels;
    g.in_h = g.in_w = s.size, g.kernel_h = g.kernel_w = s.kernel;
    g.stride_h = g.stride_w = s.stride;
    g.pad_h = g.pad_w = s.kernel / 2;
    g.validate("sparse_conv_bench");
    return g;
}

bpr::tensor<float> random_tensor(const bpr::shape& extents, std::uint64_t seed) {
    bpr::tensor<float> t(extents);
    bpr::rng r(seed);
    for (auto& v : t)
        v = static_cast<float>(r.uniform(-1.0, 1.0));
    return t;
}

// Exactly round((1 - sparsity) * size) nonzeros at uniformly random positions.
bpr::tensor<float> sparse_weight(const k::conv2d_geometry& g, int permille) {
    auto w = random_tensor(g.weight_shape(), 7);
    std::vector<index_t> order(static_cast<std::size_t>(w.size()));
    for (index_t i = 0; i < w.size(); ++i)
        order[static_cast<std::size_t>(i)] = i;
    bpr::rng r(8);
    bpr::shuffle(order.begin(), order.end(), r);
    const auto keep =
        static_cast<index_t>(static_cast<double>(w.size()) * (1000 - permille) / 1000.0 + 0.5);
    for (index_t i = keep; i < w.size(); ++i)
        w[order[static_cast<std::size_t>(i)]] = 0.0f;
    return w;
}

void report(benchmark::State& state, const k::conv2d_geometry& g) {
    // Dense-equivalent operations (2 per multiply-add), so sparse and dense compare.
    const double flops = 2.0 * static_cast<double>(g.batch * g.out_channels * g.out_h() *
                                                   g.out_w() * g.patch_size());
    state.counters["dense_GFLOP/s"] =
        benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void run_dense(benchmark::State& state, conv_shape s, index_t batch, int threads) {
    bpr::set_threads(threads);
    const auto g = geometry_of(s, batch);
    const auto input = random_tensor(g.input_shape(), 1);
    const auto weight = random_tensor(g.weight_shape(), 2);
    bpr::tensor<float> output(g.output_shape());
    k::conv2d_workspace<float> workspace;
    for (auto _ : state) {
        k::conv2d_forward<float>(g, input.data(), weight.data(), nullptr, output.data(), workspace);
        benchmark::DoNotOptimize(output.data());
        benchmark::ClobberMemory();
    }
    report(state, g);
}

void run_sparse(benchmark::State& state, conv_shape s, int permille, index_t batch, int threads) {
    bpr::set_threads(threads);
    const auto g = geometry_of(s, batch);
    const auto input = random_tensor(g.input_shape(), 1);
    const auto weight = sparse_weight(g, permille);
    // Tuning knobs from the environment, to measure the chunking heuristic.
    k::sparse_conv2d_options options;
    if (const char* v = std::getenv("BPR_SPARSE_L1_BYTES")) options.l1_bytes = std::atol(v);
    if (const char* v = std::getenv("BPR_SPARSE_MIN_ENTRIES"))
        options.min_entries_per_chunk = std::atol(v);
    if (const char* v = std::getenv("BPR_SPARSE_CHUNK")) options.chunk_channels = std::atol(v);
    if (const char* v = std::getenv("BPR_SPARSE_GROUP_MIN"))
        options.min_group_entries = std::atol(v);
    const auto packed = k::sparse_conv2d_weights::pack(g, weight.data(), options);
    bpr::tensor<float> output(g.output_shape());
    k::sparse_conv2d_workspace workspace;
    for (auto _ : state) {
        k::sparse_conv2d_forward(packed, batch, input.data(), output.data(), {}, workspace);
        benchmark::DoNotOptimize(output.data());
        benchmark::ClobberMemory();
    }
    report(state, g);
    state.counters["nnz"] = static_cast<double>(packed.nnz());
    state.counters["chunks"] = static_cast<double>(packed.chunks);
    state.counters["tile"] = static_cast<double>(packed.tile_vectors);
    state.counters["tap_groups"] = static_cast<double>(packed.tap_shifts.size());
}

// The input copy alone (padding, and stride-phase de-interleaving for stride 2): the
// price of contiguous loads, to compare with the whole convolution.
void run_pack(benchmark::State& state, conv_shape s) {
    const auto g = geometry_of(s, 1);
    const auto input = random_tensor(g.input_shape(), 1);
    const auto weight = sparse_weight(g, 900);
    const auto packed = k::sparse_conv2d_weights::pack(g, weight.data());
    k::sparse_conv2d_workspace workspace;
    workspace.prepare(packed, 1, 0);
    for (auto _ : state) {
        k::detail::sparse_pack_channels<xsimd::default_arch>(
            packed, input.data(), workspace.inputs[0].data(), 0, g.in_channels);
        benchmark::ClobberMemory();
    }
}

}  // namespace

int main(int argc, char** argv) {
    for (const auto& s : shapes)
        for (index_t batch : {1, 32})
            for (int threads : {1, 2}) {
                benchmark::RegisterBenchmark(bench_name("dense", s, 0, batch, threads).c_str(),
                                             run_dense, s, batch, threads)
                    ->Unit(benchmark::kMicrosecond)
                    ->UseRealTime();
                for (int p : sparsities_permille)
                    benchmark::RegisterBenchmark(bench_name("sparse", s, p, batch, threads).c_str(),
                                                 run_sparse, s, p, batch, threads)
                        ->Unit(benchmark::kMicrosecond)
                        ->UseRealTime();
            }
    for (const auto& s : shapes)
        benchmark::RegisterBenchmark(bench_name("pack", s, 0, 1, 1).c_str(), run_pack, s)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
