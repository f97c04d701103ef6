#pragma once
// bpr::models::densenet121: the CIFAR DenseNet-BC of Huang et al. (2017) with growth
// rate 32, as kuangliu/pytorch-cifar.

#include <array>
#include <cmath>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/concat.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/nn/repeat.hpp"
#include "bpr/nn/residual.hpp"
#include "bpr/nn/sequential.hpp"

namespace bpr::models {

// What it represents: bn1 -> relu -> conv1 1x1 (4 * growth) -> bn2 -> relu -> conv2 3x3
// (growth), the bottleneck of a DenseNet-BC layer.
template <typename T = float>
using dense_bottleneck = sequential<named<"bn1", batchnorm<T>>, relu<T>, named<"conv1", conv2d<T>>,
                                    named<"bn2", batchnorm<T>>, relu<T>, named<"conv2", conv2d<T>>>;

// What it represents: cat([bottleneck(x), x]) along the channels: in -> in + growth
// channels, new features first as in the reference (this order fixes the layout of
// every later weight).
template <typename T = float>
using dense_layer = concat<dense_bottleneck<T>, identity<T>>;

// What it represents: bn -> relu -> conv 1x1 -> avg pool 2x2, between dense blocks.
template <typename T = float>
using dense_transition =
    sequential<named<"bn", batchnorm<T>>, relu<T>, named<"conv", conv2d<T>>, avg_pool2d<T>>;

// What it represents: conv1 3x3 (2 * growth) -> dense1 -> trans1 -> dense2 -> trans2 ->
// dense3 -> trans3 -> dense4 -> bn -> relu -> global average pool -> linear. Names equal
// the reference state_dict (conv1, dense1.0.bn1, ..., trans1.conv, bn, linear). The
// reference ends with avg_pool2d(4), equal to the global average for 32x32 inputs; the
// global average also serves 28x28 inputs (3x3 maps there).
template <typename T = float>
using densenet_model =
    sequential<named<"conv1", conv2d<T>>, named<"dense1", repeat<dense_layer<T>>>,
               named<"trans1", dense_transition<T>>, named<"dense2", repeat<dense_layer<T>>>,
               named<"trans2", dense_transition<T>>, named<"dense3", repeat<dense_layer<T>>>,
               named<"trans3", dense_transition<T>>, named<"dense4", repeat<dense_layer<T>>>,
               named<"bn", batchnorm<T>>, relu<T>, global_avg_pool<T>, named<"linear", linear<T>>>;

// A CIFAR DenseNet-BC with four dense blocks of `blocks` layers, growth rate `growth`
// and transition compression `reduction` (channels = floor(channels * reduction)).
// Parameters start at zero: call bpr::initialize before training.
template <typename T = float>
densenet_model<T> densenet_cifar(std::array<index_t, 4> blocks, index_t growth,
                                 double reduction = 0.5, index_t in_channels = 3,
                                 index_t num_classes = 10) {
    BPR_REQUIRE(growth >= 1, "densenet: growth must be >= 1, got ", growth);
    BPR_REQUIRE(reduction > 0.0 && reduction <= 1.0, "densenet: reduction must be in (0, 1], got ",
                reduction);
    BPR_REQUIRE(in_channels >= 1, "densenet: in_channels must be >= 1, got ", in_channels);
    BPR_REQUIRE(num_classes >= 1, "densenet: num_classes must be >= 1, got ", num_classes);
    for (index_t count : blocks)
        BPR_REQUIRE(count >= 1, "densenet: every dense block needs >= 1 layer, got ", count);
    index_t channels = 2 * growth;
    auto dense = [&](index_t count) {
        repeat<dense_layer<T>> layers;
        for (index_t i = 0; i < count; ++i) {
            layers.push_back(dense_layer<T>(
                dense_bottleneck<T>(batchnorm<T>(channels), relu<T>{},
                                    conv2d<T>(channels, 4 * growth, 1), batchnorm<T>(4 * growth),
                                    relu<T>{}, conv2d<T>(4 * growth, growth, 3, 1, 1)),
                identity<T>{}));
            channels += growth;
        }
        return layers;
    };
    auto transition = [&] {
        const auto out =
            static_cast<index_t>(std::floor(static_cast<double>(channels) * reduction));
        dense_transition<T> t(batchnorm<T>(channels), relu<T>{}, conv2d<T>(channels, out, 1),
                              avg_pool2d<T>(2));
        channels = out;
        return t;
    };
    auto dense1 = dense(blocks[0]);
    auto trans1 = transition();
    auto dense2 = dense(blocks[1]);
    auto trans2 = transition();
    auto dense3 = dense(blocks[2]);
    auto trans3 = transition();
    auto dense4 = dense(blocks[3]);
    return densenet_model<T>(conv2d<T>(in_channels, 2 * growth, 3, 1, 1), std::move(dense1),
                             std::move(trans1), std::move(dense2), std::move(trans2),
                             std::move(dense3), std::move(trans3), std::move(dense4),
                             batchnorm<T>(channels), relu<T>{}, global_avg_pool<T>{},
                             linear<T>(channels, num_classes));
}

// DenseNet-121 for CIFAR: blocks 6/12/24/16, growth 32, reduction 0.5 (6,956,298
// parameters for 3 input channels and 10 classes, as the reference).
template <typename T = float>
densenet_model<T> densenet121(index_t in_channels = 3, index_t num_classes = 10) {
    return densenet_cifar<T>({6, 12, 24, 16}, 32, 0.5, in_channels, num_classes);
}

}  // namespace bpr::models
