// Dense convolution over ResNet-20's (CIFAR) convolution shapes at batch 128:
// forward, backward-data and backward-weight, reported in GFLOP/s.
// benchmarks/conv2d_compare.py runs the same shapes in PyTorch side by side.
// Threads: BPR_THREADS (default 2). Names: conv2d/<implementation>/<shape>/<pass>.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/kernels/conv2d_dense.hpp"

namespace {

struct conv_shape {
    const char* name;
    bpr::index_t in_channels, out_channels, size, kernel, stride, pad;
};

// Every distinct convolution of ResNet-20 (option-A shortcuts have no convolution).
constexpr conv_shape resnet20_shapes[] = {
    {"c3_o16_32x32", 3, 16, 32, 3, 1, 1},      {"c16_o16_32x32", 16, 16, 32, 3, 1, 1},
    {"c16_o32_32x32_s2", 16, 32, 32, 3, 2, 1}, {"c32_o32_16x16", 32, 32, 16, 3, 1, 1},
    {"c32_o64_16x16_s2", 32, 64, 16, 3, 2, 1}, {"c64_o64_8x8", 64, 64, 8, 3, 1, 1},
};

constexpr bpr::index_t batch = 128;

bpr::kernels::conv2d_geometry geometry_of(const conv_shape& s) {
    bpr::kernels::conv2d_geometry g;
    g.batch = batch, g.in_channels = s.in_channels, g.in_h = g.in_w = s.size;
    g.out_channels = s.out_channels, g.kernel_h = g.kernel_w = s.kernel;
    g.stride_h = g.stride_w = s.stride, g.pad_h = g.pad_w = s.pad;
    g.validate("conv2d_bench");
    return g;
}

template <typename T>
void fill_random(bpr::tensor<T>& t, std::uint64_t seed) {
    bpr::rng r(seed);
    for (auto& v : t)
        v = static_cast<T>(r.uniform(-1.0, 1.0));
}

enum class pass { forward, backward_data, backward_weight };

// dispatch: the public conv2d_* functions (direct kernels where they apply);
// im2col_omp: im2col + GEMM with OpenMP over the batch, one GEMM per image;
// im2col_eigen: the same loop on one OpenMP thread with Eigen's GEMM threaded instead.
enum class impl { dispatch, im2col_omp, im2col_eigen };

// Pins OpenMP to one thread (Eigen keeps its own count) for the lifetime of the guard.
struct eigen_threads_only {
    int saved = bpr::threads();
    explicit eigen_threads_only(bool active) {
        if (active) {
#ifdef _OPENMP
            omp_set_num_threads(1);
#endif
        } else {
            saved = 0;
        }
    }
    ~eigen_threads_only() {
#ifdef _OPENMP
        if (saved > 0) omp_set_num_threads(saved);
#endif
    }
};

template <typename T>
void run(benchmark::State& state, conv_shape s, pass p, impl which) {
    const auto g = geometry_of(s);
    bpr::tensor<T> input(g.input_shape()), weight(g.weight_shape()), output(g.output_shape());
    bpr::tensor<T> grad_out(g.output_shape()), grad_in(g.input_shape()), grad_w(g.weight_shape());
    fill_random(input, 1), fill_random(weight, 2), fill_random(grad_out, 3);
    bpr::kernels::conv2d_workspace<T> workspace;
    namespace k = bpr::kernels;
    const eigen_threads_only guard(which == impl::im2col_eigen);
    const bool direct = which == impl::dispatch;
    for (auto _ : state) {
        switch (p) {
            case pass::forward:
                if (direct)
                    k::conv2d_forward<T>(g, input.data(), weight.data(), nullptr, output.data(),
                                         workspace);
                else
                    k::conv2d_im2col_forward<T>(g, input.data(), weight.data(), nullptr,
                                                output.data(), workspace);
                benchmark::DoNotOptimize(output.data());
                break;
            case pass::backward_data:
                if (direct)
                    k::conv2d_backward_data<T>(g, grad_out.data(), weight.data(), grad_in.data(),
                                               workspace);
                else
                    k::conv2d_im2col_backward_data<T>(g, grad_out.data(), weight.data(),
                                                      grad_in.data(), workspace);
                benchmark::DoNotOptimize(grad_in.data());
                break;
            case pass::backward_weight:
                if (direct)
                    k::conv2d_backward_weight<T>(g, input.data(), grad_out.data(), grad_w.data(),
                                                 nullptr, workspace);
                else
                    k::conv2d_im2col_backward_weight<T>(g, input.data(), grad_out.data(),
                                                        grad_w.data(), nullptr, workspace);
                benchmark::DoNotOptimize(grad_w.data());
                break;
        }
        benchmark::ClobberMemory();
    }
    // Multiply-adds count as two operations, as PyTorch's and oneDNN's figures do.
    const double flops = 2.0 * static_cast<double>(g.batch * g.out_channels * g.out_h() *
                                                   g.out_w() * g.patch_size());
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// With one thread, rates use CPU time, which stays meaningful while other processes
// share the machine; with more, wall time (CPU time would count one thread only).
void register_all(bool wall_time) {
    const std::pair<const char*, pass> passes[] = {{"fwd", pass::forward},
                                                   {"bwd_data", pass::backward_data},
                                                   {"bwd_weight", pass::backward_weight}};
    const std::pair<const char*, impl> impls[] = {{"dispatch", impl::dispatch},
                                                  {"im2col_omp", impl::im2col_omp},
                                                  {"im2col_eigen", impl::im2col_eigen}};
    for (const auto& [impl_name, which] : impls)
        for (const auto& s : resnet20_shapes)
            for (const auto& [pass_name, p] : passes) {
                auto* b = benchmark::RegisterBenchmark(
                    (std::string("conv2d/") + impl_name + "/" + s.name + "/" + pass_name).c_str(),
                    [s, p, which](benchmark::State& state) { run<float>(state, s, p, which); });
                b->Unit(benchmark::kMillisecond);
                if (wall_time) b->UseRealTime();
            }
}

}  // namespace

int main(int argc, char** argv) {
    const char* env = std::getenv("BPR_THREADS");
    const int thread_count = env ? std::atoi(env) : 2;
    bpr::set_threads(thread_count);
    register_all(thread_count > 1);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
