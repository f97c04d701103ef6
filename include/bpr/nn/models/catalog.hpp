#pragma once
// bpr::models::with_model: builds a zoo model chosen by name at run time and hands it to
// a generic callable (for programs with a --model flag).

#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/models/densenet.hpp"
#include "bpr/nn/models/efficientnet.hpp"
#include "bpr/nn/models/lenet.hpp"
#include "bpr/nn/models/resnet.hpp"
#include "bpr/nn/models/vgg.hpp"

namespace bpr::models {

// The input and output sizes a zoo model is built for.
struct model_spec {
    index_t in_channels = 3;
    index_t image_size = 32;  // square images; used by lenet5 and vgg16
    index_t num_classes = 10;
};

// The names with_model accepts, in the order of docs/models.md.
inline constexpr std::array<std::string_view, 8> model_names = {
    "lenet5",    "resnet20", "resnet32",    "resnet56",
    "resnet20b", "vgg16",    "densenet121", "efficientnet_b0"};

// The initialisation a program training zoo model `name` from scratch gives it (bpr-train
// and bpr-prune both use this): LeNet-5 as torch.nn.Conv2d and nn.Linear initialise
// themselves by default (uniform in +-1/sqrt(fan_in)), as its PyTorch twin in
// tools/reference_models.py and benchmarks/torch_prune_baseline.py is initialised; the
// deep nets He init (kaiming normal, fan_in), whose draws are sqrt(6) times wider.
inline init_scheme default_init_scheme(std::string_view name) {
    return name == "lenet5" ? init_scheme::pytorch_default : init_scheme::kaiming_normal;
}

// What it does: builds the model called `name` for `spec` and returns f(model).
// Requires: f callable with every zoo model type (each is a distinct type, so f is
// instantiated once per model: keep it small or accept the compile time); all
// instantiations return the same type.
// Guarantees: an unknown name throws bpr::error listing the known ones. Parameters are
// zero: f should call bpr::initialize (or load a checkpoint).
template <typename T = float, typename F>
decltype(auto) with_model(std::string_view name, const model_spec& spec, F&& f) {
    if (name == "lenet5") {
        auto m = lenet5<T>(spec.in_channels, spec.image_size, spec.num_classes);
        return f(m);
    }
    if (name == "resnet20") {
        auto m = resnet20<T>(spec.in_channels, spec.num_classes);
        return f(m);
    }
    if (name == "resnet32") {
        auto m = resnet32<T>(spec.in_channels, spec.num_classes);
        return f(m);
    }
    if (name == "resnet56") {
        auto m = resnet56<T>(spec.in_channels, spec.num_classes);
        return f(m);
    }
    if (name == "resnet20b") {
        auto m = resnet20<T, resnet_shortcut::projection>(spec.in_channels, spec.num_classes);
        return f(m);
    }
    if (name == "vgg16") {
        auto m = vgg16<T>(spec.in_channels, spec.num_classes, spec.image_size);
        return f(m);
    }
    if (name == "densenet121") {
        auto m = densenet121<T>(spec.in_channels, spec.num_classes);
        return f(m);
    }
    if (name == "efficientnet_b0") {
        auto m = efficientnet_b0<T>(spec.in_channels, spec.num_classes);
        return f(m);
    }
    std::string known;
    for (std::string_view n : model_names) {
        if (!known.empty()) known += ", ";
        known += n;
    }
    bpr::detail::fail("models::with_model: unknown model '", name, "' (known: ", known, ")");
}

}  // namespace bpr::models
