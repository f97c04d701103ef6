#pragma once
// bpr kernels: dense convolution (im2col + GEMM) and its reference oracle.
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/conv2d_geometry.hpp"
#include "bpr/kernels/conv2d_reference.hpp"
