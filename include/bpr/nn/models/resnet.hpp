#pragma once
// bpr::models::resnet20/32/56: the CIFAR ResNets of He et al. (2016), section 4.2.

#include <type_traits>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/nn/repeat.hpp"
#include "bpr/nn/residual.hpp"
#include "bpr/nn/sequential.hpp"

namespace bpr::models {

// How a basic block whose shape changes reaches its output shape.
enum class resnet_shortcut {
    // Option A: subsample and zero-pad the channels, no parameters (the 0.27M ResNet-20).
    pad,
    // Option B: 1x1 convolution with the block's stride, then batchnorm.
    projection,
};

}  // namespace bpr::models

namespace bpr::detail {

template <typename T>
using basic_block_main = sequential<named<"conv1", conv2d<T>>, named<"bn1", batchnorm<T>>, relu<T>,
                                    named<"conv2", conv2d<T>>, named<"bn2", batchnorm<T>>>;

template <typename T>
using projection_shortcut = maybe<sequential<conv2d<T>, batchnorm<T>>>;

template <typename T, models::resnet_shortcut S>
using basic_block_shortcut = std::conditional_t<S == models::resnet_shortcut::pad,
                                                channel_pad_shortcut<T>, projection_shortcut<T>>;

}  // namespace bpr::detail

namespace bpr::models {

// What it represents: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) with 3x3
// convolutions (the first one strided), as akamaster/pytorch_resnet_cifar10's
// BasicBlock; the shortcut is the identity when the shape is kept.
template <typename T = float, resnet_shortcut S = resnet_shortcut::pad>
using basic_block =
    residual<bpr::detail::basic_block_main<T>, bpr::detail::basic_block_shortcut<T, S>, relu<T>>;

// One basic block from in_channels to planes with the given stride.
template <typename T = float, resnet_shortcut S = resnet_shortcut::pad>
basic_block<T, S> make_basic_block(index_t in_channels, index_t planes, index_t stride) {
    bpr::detail::basic_block_main<T> main(conv2d<T>(in_channels, planes, 3, stride, 1),
                                          batchnorm<T>(planes), relu<T>{},
                                          conv2d<T>(planes, planes, 3, 1, 1), batchnorm<T>(planes));
    if constexpr (S == resnet_shortcut::pad) {
        return basic_block<T, S>(std::move(main),
                                 channel_pad_shortcut<T>(in_channels, planes, stride));
    } else {
        bpr::detail::projection_shortcut<T> shortcut;
        if (stride != 1 || in_channels != planes)
            shortcut = bpr::detail::projection_shortcut<T>(sequential<conv2d<T>, batchnorm<T>>(
                conv2d<T>(in_channels, planes, 1, stride), batchnorm<T>(planes)));
        return basic_block<T, S>(std::move(main), std::move(shortcut));
    }
}

// What it represents: conv 3x3 16 -> bn -> relu -> 3 stages of n basic blocks (16, 32,
// 64 channels; stages 2 and 3 start with stride 2) -> global average pool -> linear,
// depth 6n + 2. Parameter and buffer names equal the reference's state_dict (conv1,
// bn1, layer1.0.conv1, ..., layer3.2.shortcut.0 with option B, linear).
template <typename T = float, resnet_shortcut S = resnet_shortcut::pad>
using resnet_cifar_model = sequential<
    named<"conv1", conv2d<T>>, named<"bn1", batchnorm<T>>, relu<T>,
    named<"layer1", repeat<basic_block<T, S>>>, named<"layer2", repeat<basic_block<T, S>>>,
    named<"layer3", repeat<basic_block<T, S>>>, global_avg_pool<T>, named<"linear", linear<T>>>;

// A CIFAR ResNet of `depth` = 6n + 2 layers (20, 32, 44, 56, 110, ...) for any input
// channel count and image size. Parameters start at zero: call bpr::initialize.
template <typename T = float, resnet_shortcut S = resnet_shortcut::pad>
resnet_cifar_model<T, S> resnet_cifar(index_t depth, index_t in_channels = 3,
                                      index_t num_classes = 10) {
    BPR_REQUIRE(depth >= 8 && (depth - 2) % 6 == 0, "resnet_cifar: depth must be 6n + 2, got ",
                depth);
    BPR_REQUIRE(in_channels >= 1, "resnet_cifar: in_channels must be >= 1, got ", in_channels);
    BPR_REQUIRE(num_classes >= 1, "resnet_cifar: num_classes must be >= 1, got ", num_classes);
    const index_t n = (depth - 2) / 6;
    index_t channels = 16;
    auto stage = [&](index_t planes, index_t stride) {
        repeat<basic_block<T, S>> blocks;
        for (index_t i = 0; i < n; ++i) {
            blocks.push_back(make_basic_block<T, S>(channels, planes, i == 0 ? stride : 1));
            channels = planes;
        }
        return blocks;
    };
    auto layer1 = stage(16, 1);
    auto layer2 = stage(32, 2);
    auto layer3 = stage(64, 2);
    return resnet_cifar_model<T, S>(
        conv2d<T>(in_channels, 16, 3, 1, 1), batchnorm<T>(16), relu<T>{}, std::move(layer1),
        std::move(layer2), std::move(layer3), global_avg_pool<T>{}, linear<T>(64, num_classes));
}

template <typename T = float, resnet_shortcut S = resnet_shortcut::pad>
resnet_cifar_model<T, S> resnet20(index_t in_channels = 3, index_t num_classes = 10) {
    return resnet_cifar<T, S>(20, in_channels, num_classes);
}
template <typename T = float, resnet_shortcut S = resnet_shortcut::pad>
resnet_cifar_model<T, S> resnet32(index_t in_channels = 3, index_t num_classes = 10) {
    return resnet_cifar<T, S>(32, in_channels, num_classes);
}
template <typename T = float, resnet_shortcut S = resnet_shortcut::pad>
resnet_cifar_model<T, S> resnet56(index_t in_channels = 3, index_t num_classes = 10) {
    return resnet_cifar<T, S>(56, in_channels, num_classes);
}

}  // namespace bpr::models
