#pragma once
// bpr data: datasets, loaders for IDX, CIFAR-10 binary and image folders, transforms,
// batching and validation splits. Depends on bpr core only.

#include "bpr/data/any_format.hpp"
#include "bpr/data/batch_loader.hpp"
#include "bpr/data/cifar10.hpp"
#include "bpr/data/dataset.hpp"
#include "bpr/data/idx.hpp"
#include "bpr/data/image_folder.hpp"
#include "bpr/data/split.hpp"
#include "bpr/data/transforms.hpp"
