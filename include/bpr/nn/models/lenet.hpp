#pragma once
// bpr::models::lenet5: LeCun et al.'s LeNet-5 with ReLU and max pooling.

#include "bpr/core/error.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/nn/sequential.hpp"

namespace bpr::models {

// What it represents: conv 6@5x5 -> relu -> maxpool 2 -> conv 16@5x5 -> relu -> maxpool
// 2 -> fc 120 -> relu -> fc 84 -> relu -> fc num_classes, all with biases, named as
// the common PyTorch port (conv1, conv2, fc1, fc2, fc3). The first convolution pads by
// 2 for inputs smaller than 32x32, so 28x28 images see the 32x32 geometry of the paper.
template <typename T = float>
using lenet5_model =
    sequential<named<"conv1", conv2d<T>>, relu<T>, max_pool2d<T>, named<"conv2", conv2d<T>>,
               relu<T>, max_pool2d<T>, flatten<T>, named<"fc1", linear<T>>, relu<T>,
               named<"fc2", linear<T>>, relu<T>, named<"fc3", linear<T>>>;

// LeNet-5 for square images of `image_size` (>= 12 after padding) with `in_channels`
// channels. Parameters start at zero: call bpr::initialize before training.
template <typename T = float>
lenet5_model<T> lenet5(index_t in_channels = 1, index_t image_size = 28, index_t num_classes = 10) {
    BPR_REQUIRE(in_channels >= 1, "lenet5: in_channels must be >= 1, got ", in_channels);
    BPR_REQUIRE(num_classes >= 1, "lenet5: num_classes must be >= 1, got ", num_classes);
    const index_t pad = image_size < 32 ? 2 : 0;
    const index_t side = ((image_size + 2 * pad - 4) / 2 - 4) / 2;
    BPR_REQUIRE(side >= 1, "lenet5: image_size ", image_size,
                " is too small (needs at least 12x12 after padding)");
    return lenet5_model<T>(conv2d<T>(in_channels, 6, 5, 1, pad, 1, true), relu<T>{},
                           max_pool2d<T>(2), conv2d<T>(6, 16, 5, 1, 0, 1, true), relu<T>{},
                           max_pool2d<T>(2), flatten<T>{}, linear<T>(16 * side * side, 120),
                           relu<T>{}, linear<T>(120, 84), relu<T>{}, linear<T>(84, num_classes));
}

}  // namespace bpr::models
