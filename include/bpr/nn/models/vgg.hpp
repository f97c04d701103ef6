#pragma once
// bpr::models::vgg16: the CIFAR VGG-16 with batchnorm (Simonyan & Zisserman's 13
// convolutions, one linear classifier), as kuangliu/pytorch-cifar.

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/nn/sequential.hpp"

namespace bpr::detail {

// VGG-16's plan: output channels of each 3x3 convolution, 0 for a 2x2 max pool.
inline constexpr std::array<index_t, 18> vgg16_plan = {64, 64,  0,   128, 128, 0,   256, 256, 256,
                                                       0,  512, 512, 512, 0,   512, 512, 512, 0};
// Every convolution is followed by batchnorm and relu: 13 * 3 + 5 pools.
inline constexpr std::size_t vgg16_feature_count = 44;

enum class vgg_kind { conv, norm, act, pool };

// Which layer sits at position `position` of `features`, and its channel counts
// (in == 0 means the model's input channels).
struct vgg_slot {
    vgg_kind kind;
    index_t in, out;
};

constexpr vgg_slot vgg16_slot(std::size_t position) {
    std::size_t p = 0;
    index_t in = 0;
    for (index_t item : vgg16_plan) {
        if (item == 0) {
            if (p++ == position) return {vgg_kind::pool, in, in};
            continue;
        }
        for (vgg_kind kind : {vgg_kind::conv, vgg_kind::norm, vgg_kind::act})
            if (p++ == position) return {kind, kind == vgg_kind::conv ? in : item, item};
        in = item;
    }
    return {vgg_kind::act, 0, 0};  // unreachable for position < vgg16_feature_count
}

template <typename T, std::size_t I>
using vgg16_layer_t =
    std::conditional_t<vgg16_slot(I).kind == vgg_kind::conv, conv2d<T>,
                       std::conditional_t<vgg16_slot(I).kind == vgg_kind::norm, batchnorm<T>,
                                          std::conditional_t<vgg16_slot(I).kind == vgg_kind::act,
                                                             relu<T>, max_pool2d<T>>>>;

template <typename T, std::size_t I>
vgg16_layer_t<T, I> make_vgg16_layer(index_t in_channels, index_t last_pool) {
    constexpr vgg_slot slot = vgg16_slot(I);
    if constexpr (slot.kind == vgg_kind::conv)
        return conv2d<T>(slot.in == 0 ? in_channels : slot.in, slot.out, 3, 1, 1, 1, true);
    else if constexpr (slot.kind == vgg_kind::norm)
        return batchnorm<T>(slot.out);
    else if constexpr (slot.kind == vgg_kind::act)
        return relu<T>{};
    else
        return max_pool2d<T>(I + 1 == vgg16_feature_count ? last_pool : 2);
}

template <typename T, typename Positions>
struct vgg16_features;
template <typename T, std::size_t... I>
struct vgg16_features<T, std::index_sequence<I...>> {
    using type = sequential<vgg16_layer_t<T, I>...>;
    static type make(index_t in_channels, index_t last_pool) {
        return type(make_vgg16_layer<T, I>(in_channels, last_pool)...);
    }
};

template <typename T>
using vgg16_features_t =
    typename vgg16_features<T, std::make_index_sequence<vgg16_feature_count>>::type;

}  // namespace bpr::detail

namespace bpr::models {

// What it represents: features = 13 x (conv 3x3 with bias -> batchnorm -> relu) with a
// 2x2 max pool after convolutions 2, 4, 7, 10 and 13 (64, 64, M, 128, 128, M, 256 x 3,
// M, 512 x 3, M, 512 x 3, M), then flatten and classifier = linear 512 -> classes.
// Names equal the reference state_dict: features.0.weight, features.1.running_mean, ...,
// features.40.weight, classifier.weight. The fifth pool covers the whole remaining
// map (2x2 for 32x32 inputs, exactly as the reference; 1x1 for 28x28 inputs, where the
// reference fails), so any image of at least 16x16 gives 512 features.
template <typename T = float>
using vgg16_model = sequential<named<"features", bpr::detail::vgg16_features_t<T>>, flatten<T>,
                               named<"classifier", linear<T>>>;

// VGG-16 for square images of `image_size` with `in_channels` channels. Parameters
// start at zero: call bpr::initialize before training.
template <typename T = float>
vgg16_model<T> vgg16(index_t in_channels = 3, index_t num_classes = 10, index_t image_size = 32) {
    BPR_REQUIRE(in_channels >= 1, "vgg16: in_channels must be >= 1, got ", in_channels);
    BPR_REQUIRE(num_classes >= 1, "vgg16: num_classes must be >= 1, got ", num_classes);
    BPR_REQUIRE(image_size >= 16, "vgg16: image_size must be >= 16 (four 2x2 pools), got ",
                image_size);
    const index_t last_pool = image_size / 2 / 2 / 2 / 2;
    return vgg16_model<T>(
        bpr::detail::vgg16_features<
            T, std::make_index_sequence<bpr::detail::vgg16_feature_count>>::make(in_channels,
                                                                                 last_pool),
        flatten<T>{}, linear<T>(512, num_classes));
}

}  // namespace bpr::models
