#pragma once
// bpr inference: compile a trained masked model into an inference-only engine
// (batchnorm folded, activations and residual adds fused, sparse or dense kernels per
// layer by measured crossover, buffers preallocated).
#include "bpr/infer/builder.hpp"
#include "bpr/infer/compile.hpp"
#include "bpr/infer/crossover.hpp"
#include "bpr/infer/engine.hpp"
