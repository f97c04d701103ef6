#pragma once
// The umbrella header: everything a user of bpr needs, nothing internal.
#include "bpr/core.hpp"
#include "bpr/kernels.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/nn/sequential.hpp"
