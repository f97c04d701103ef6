#pragma once
// bpr core: tensors, shapes, errors, random numbers and thread control.
#include "bpr/core/error.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/core/shape.hpp"
#include "bpr/core/tensor.hpp"
