// The convolution kernels of tests/support/optimized_kernels.hpp, instantiated once for
// the sanitizer build's -O0 model areas (compiled at -O1, sanitized like them).
#include "optimized_kernels.hpp"

BPR_TEST_CONV_KERNELS(, float)
BPR_TEST_CONV_KERNELS(, double)
BPR_TEST_FLOAT_KERNELS()
