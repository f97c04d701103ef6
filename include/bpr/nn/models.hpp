#pragma once
// bpr/nn/models.hpp: the model zoo (LeNet-5, CIFAR ResNets, VGG-16, DenseNet-121,
// EfficientNet-B0) and the blocks they are built from.

#include "bpr/nn/concat.hpp"
#include "bpr/nn/mbconv.hpp"
#include "bpr/nn/models/catalog.hpp"
#include "bpr/nn/models/densenet.hpp"
#include "bpr/nn/models/efficientnet.hpp"
#include "bpr/nn/models/lenet.hpp"
#include "bpr/nn/models/resnet.hpp"
#include "bpr/nn/models/vgg.hpp"
#include "bpr/nn/repeat.hpp"
#include "bpr/nn/residual.hpp"
#include "bpr/nn/squeeze_excitation.hpp"
