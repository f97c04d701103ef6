#pragma once
// The measured sparse/dense crossover of bpr::infer: below which weight density the
// sparse kernel of a layer is faster than the dense one.

#include <array>
#include <xsimd/xsimd.hpp>

#include "bpr/core/shape.hpp"
#include "bpr/kernels/conv2d_geometry.hpp"

namespace bpr::infer {

namespace detail {

struct conv_crossover {
    index_t in, out, size, kernel, stride;
    // Highest measured density at which sparse was faster, at batch 1 and batch 32.
    double batch1, batch32;
};

// Measured by benchmarks/infer_crossover_bench.cpp (1 thread, process CPU time, random
// masks, densities 100/80/60/50/40/30/20/10/5%; docs/inference.md has the full tables,
// the date and the load):
//   nice -n 10 build-h3/benchmarks/bpr_infer_crossover_bench 1 1
//   nice -n 10 build-h3/benchmarks/bpr_infer_crossover_bench 32 1
// Dense = kernels::conv2d_forward (direct xsimd) + ReLU pass; sparse =
// kernels::sparse_conv2d_forward with the fused bias + ReLU epilogue.
inline constexpr std::array<conv_crossover, 13> conv_crossovers = {{
    {1, 6, 28, 5, 1, 1.0, 1.0},      // LeNet-5 conv1 (padding 2): sparse wins even dense
    {6, 16, 14, 5, 1, 0.6, 0.6},     // LeNet-5 conv2
    {3, 16, 32, 3, 1, 0.6, 0.6},     // ResNet-20 stem
    {16, 16, 32, 3, 1, 0.5, 0.5},    // ResNet-20 layer1
    {16, 32, 32, 3, 2, 0.6, 0.5},    // ResNet-20 layer2.0.conv1
    {32, 32, 16, 3, 1, 0.6, 0.6},    // ResNet-20 layer2
    {32, 64, 16, 3, 2, 0.6, 0.6},    // ResNet-20 layer3.0.conv1
    {64, 64, 8, 3, 1, 0.6, 0.6},     // ResNet-20 layer3
    {64, 64, 32, 3, 1, 0.5, 0.5},    // VGG-16 block 1
    {128, 128, 16, 3, 1, 0.6, 0.5},  // VGG-16 block 2
    {256, 256, 8, 3, 1, 0.6, 0.5},   // VGG-16 block 3
    {512, 512, 4, 3, 1, 1.0, 0.5},   // VGG-16 block 4: at batch 1 sparse wins even dense
    {512, 512, 2, 3, 1, 1.0, 0.4},   // VGG-16 block 5
}};

// Batches below this use the batch-1 column, the others the batch-32 column.
inline constexpr index_t crossover_batch_split = 8;

}  // namespace detail

// The density at or below which compile() runs a convolution with the sparse kernel,
// for an engine sized for `batch` images per slice. Shapes of the measured table use
// their entry (by input/output channels, input size, kernel and stride); other shapes
// use the rule the table shows: at batch 1 output maps of at most 4x4 positions always
// sparse (the direct dense kernel's tiles are mostly empty there), everything else at
// <= 50% density (the lowest crossover measured but one, VGG's 2x2 layer at batch 32).
inline double sparse_crossover_density(const kernels::conv2d_geometry& g, index_t batch = 1) {
    const bool small_batch = batch < detail::crossover_batch_split;
    for (const auto& c : detail::conv_crossovers)
        if (c.in == g.in_channels && c.out == g.out_channels && c.size == g.in_h &&
            c.size == g.in_w && c.kernel == g.kernel_h && c.kernel == g.kernel_w &&
            c.stride == g.stride_h)
            return small_batch ? c.batch1 : c.batch32;
    if (small_batch && g.out_h() * g.out_w() <= 16) return 1.0;
    return 0.5;
}

// Linear layers. Batches below one vector run sparse_linear_forward's SpMV (four partial
// sums since session 13): measured by benchmarks/sparse_linear_depthwise_bench.cpp on the
// Zen 5 machine (docs/sparse_kernels.md), it wins at 5% density on 400->120, 120->84 and
// 1024->1024 but loses by 18% (0.03 us) on the 512->10 head, which it beats at 1%.
// Larger batches run the SpMM over the batch; from the Zen 4 crossover runs it wins
// below 60-80% on 400->120, 120->84 and 1024->1024, never on 84->10 and 512->10.
inline double sparse_linear_crossover_density(index_t in_features, index_t out_features,
                                              index_t batch = 1) {
    const bool small_layer = in_features * out_features < 8192;
    if (batch < static_cast<index_t>(xsimd::batch<float>::size)) return small_layer ? 0.01 : 0.05;
    return small_layer ? 0.0 : 0.6;
}

}  // namespace bpr::infer
