#pragma once
// The sanitizer build compiles the test areas that run whole models (tests/models,
// tests/infer) at -O0, which compiles them three times faster than -O1 but would run
// the convolutions 5-10x slower (xsimd's wrappers are not inlined at -O0). So those
// files see the convolution kernels as explicit instantiation declarations: the
// compiler calls them instead of instantiating them, and optimized_kernels.cpp
// instantiates them once, at -O1, with the same sanitizers (tests/CMakeLists.txt).
// Every other build includes nothing from here.

#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/depthwise.hpp"
#include "bpr/kernels/sparse_conv2d.hpp"

// EXTERN: `extern` for the declarations, empty for the definitions.
#define BPR_TEST_CONV_KERNELS(EXTERN, T)                                                      \
    EXTERN template void bpr::kernels::conv2d_forward<T>(                                     \
        const bpr::kernels::conv2d_geometry&, const T*, const T*, const T*, T*,               \
        bpr::kernels::conv2d_workspace<T>&, const bpr::kernels::conv2d_output_transform<T>&); \
    EXTERN template void bpr::kernels::conv2d_backward_data<T>(                               \
        const bpr::kernels::conv2d_geometry&, const T*, const T*, T*,                         \
        bpr::kernels::conv2d_workspace<T>&);                                                  \
    EXTERN template void bpr::kernels::conv2d_backward_weight<T>(                             \
        const bpr::kernels::conv2d_geometry&, const T*, const T*, T*, T*,                     \
        bpr::kernels::conv2d_workspace<T>&);

#define BPR_TEST_FLOAT_KERNELS(EXTERN)                                                     \
    EXTERN template void bpr::kernels::sparse_conv2d_forward<xsimd::default_arch>(         \
        const bpr::kernels::sparse_conv2d_weights&, bpr::index_t, const float*, float*,    \
        const bpr::kernels::epilogue&, bpr::kernels::sparse_conv2d_workspace&);            \
    EXTERN template void bpr::kernels::depthwise_conv2d_forward<xsimd::default_arch>(      \
        const bpr::kernels::depthwise_conv2d_weights&, bpr::index_t, const float*, float*, \
        const bpr::kernels::epilogue&, bpr::kernels::sparse_conv2d_workspace&);

#ifdef BPR_TEST_EXTERN_KERNELS
BPR_TEST_CONV_KERNELS(extern, float)
BPR_TEST_CONV_KERNELS(extern, double)
BPR_TEST_FLOAT_KERNELS(extern)
#endif
