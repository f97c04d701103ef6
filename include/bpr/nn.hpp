#pragma once
// bpr nn: the layer contract, layers, composition blocks, loss and initialisation.
// The model zoo is in "bpr/nn/models.hpp".
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/concat.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/dropout.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/loss.hpp"
#include "bpr/nn/mbconv.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/nn/repeat.hpp"
#include "bpr/nn/residual.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/nn/squeeze_excitation.hpp"
