#pragma once
// bpr::models::efficientnet_b0: EfficientNet-B0 of Tan & Le (2019) adapted to CIFAR as
// kuangliu/pytorch-cifar.

#include <array>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/dropout.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/mbconv.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/nn/repeat.hpp"
#include "bpr/nn/sequential.hpp"

namespace bpr::models {

// One stage of the B0 table: `blocks` MBConv blocks, the first with `stride`.
struct efficientnet_stage {
    index_t expansion, channels, blocks, kernel, stride;
};

// The B0 stages as the CIFAR reference uses them (strides 1, 2, 2, 2, 1, 2, 1: the
// ImageNet stem's stride 2 and the first stage's are dropped for 32x32 inputs).
inline constexpr std::array<efficientnet_stage, 7> efficientnet_b0_stages = {{
    {1, 16, 1, 3, 1},
    {6, 24, 2, 3, 2},
    {6, 40, 2, 5, 2},
    {6, 80, 3, 3, 2},
    {6, 112, 3, 5, 1},
    {6, 192, 4, 5, 2},
    {6, 320, 1, 3, 1},
}};

// What it represents: conv1 3x3 32 (stride 1) -> bn1 -> silu -> layers (16 MBConv
// blocks, SE ratio 0.25 of each block's input channels) -> global average pool ->
// dropout(0.2) -> linear 320 -> classes (no 1x1 head convolution, as the reference).
// Names equal the reference state_dict (conv1, bn1, layers.0.conv2, layers.1.conv1, ...,
// layers.15.se.se2, linear), except that the reference also creates conv1/bn1 in the
// expansion-1 block layers.0 without ever using them (1,088 parameters and two running
// statistics for 32 channels); bpr leaves them out.
template <typename T = float>
using efficientnet_model = sequential<named<"conv1", conv2d<T>>, named<"bn1", batchnorm<T>>,
                                      silu<T>, named<"layers", repeat<mbconv<T>>>,
                                      global_avg_pool<T>, dropout<T>, named<"linear", linear<T>>>;

// EfficientNet-B0 (CIFAR) for any input channel count and image size. drop_connect is
// the largest drop-connect rate (growing linearly over the blocks, as the paper; the
// reference's schedule never leaves 0, which is the default here). Parameters start at
// zero: call bpr::initialize before training.
template <typename T = float>
efficientnet_model<T> efficientnet_b0(index_t in_channels = 3, index_t num_classes = 10,
                                      double dropout_rate = 0.2, double drop_connect = 0.0) {
    BPR_REQUIRE(in_channels >= 1, "efficientnet_b0: in_channels must be >= 1, got ", in_channels);
    BPR_REQUIRE(num_classes >= 1, "efficientnet_b0: num_classes must be >= 1, got ", num_classes);
    BPR_REQUIRE(drop_connect >= 0.0 && drop_connect < 1.0,
                "efficientnet_b0: drop_connect must be in [0, 1), got ", drop_connect);
    index_t total = 0;
    for (const auto& s : efficientnet_b0_stages)
        total += s.blocks;
    repeat<mbconv<T>> layers;
    index_t channels = 32, index = 0;
    for (const auto& s : efficientnet_b0_stages)
        for (index_t i = 0; i < s.blocks; ++i, ++index) {
            mbconv<T>& block =
                layers.push_back(mbconv<T>({.in_channels = channels,
                                            .out_channels = s.channels,
                                            .kernel = s.kernel,
                                            .stride = i == 0 ? s.stride : 1,
                                            .expansion = s.expansion,
                                            .se_ratio = 0.25,
                                            .drop_rate = drop_connect * static_cast<double>(index) /
                                                         static_cast<double>(total)}));
            block.seed(0x65666e6574ULL + static_cast<std::uint64_t>(index));
            channels = s.channels;
        }
    return efficientnet_model<T>(conv2d<T>(in_channels, 32, 3, 1, 1), batchnorm<T>(32), silu<T>{},
                                 std::move(layers), global_avg_pool<T>{}, dropout<T>(dropout_rate),
                                 linear<T>(channels, num_classes));
}

}  // namespace bpr::models
