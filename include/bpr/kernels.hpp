#pragma once
// bpr kernels: dense convolution (direct and im2col + GEMM), sparse convolution and
// linear kernels (xsimd), depthwise convolution, fused epilogues, and the reference
// oracles they are tested against.
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/conv2d_direct.hpp"
#include "bpr/kernels/conv2d_geometry.hpp"
#include "bpr/kernels/conv2d_reference.hpp"
#include "bpr/kernels/depthwise.hpp"
#include "bpr/kernels/epilogue.hpp"
#include "bpr/kernels/sparse_conv2d.hpp"
#include "bpr/kernels/sparse_conv2d_layout.hpp"
#include "bpr/kernels/sparse_conv2d_reference.hpp"
#include "bpr/kernels/sparse_linear.hpp"
