#pragma once
// Naive direct convolution: the oracle every optimized convolution is tested against.

#include "bpr/kernels/conv2d_geometry.hpp"

namespace bpr::kernels {

// output[n, o, y, x] = bias[o] + sum over (c, ky, kx) of weight * input. `bias` may be null.
template <typename T>
void conv2d_reference_forward(const conv2d_geometry& g, const T* input, const T* weight,
                              const T* bias, T* output) {
    const index_t cpg = g.in_channels_per_group(), opg = g.out_channels_per_group();
    const index_t oh = g.out_h(), ow = g.out_w();
    for (index_t n = 0; n < g.batch; ++n)
        for (index_t o = 0; o < g.out_channels; ++o) {
            const index_t group = o / opg;
            for (index_t y = 0; y < oh; ++y)
                for (index_t x = 0; x < ow; ++x) {
                    T sum = bias ? bias[o] : T(0);
                    for (index_t c = 0; c < cpg; ++c) {
                        const index_t channel = group * cpg + c;
                        for (index_t ky = 0; ky < g.kernel_h; ++ky) {
                            const index_t iy = y * g.stride_h - g.pad_h + ky;
                            if (iy < 0 || iy >= g.in_h) continue;
                            for (index_t kx = 0; kx < g.kernel_w; ++kx) {
                                const index_t ix = x * g.stride_w - g.pad_w + kx;
                                if (ix < 0 || ix >= g.in_w) continue;
                                sum +=
                                    weight[((o * cpg + c) * g.kernel_h + ky) * g.kernel_w + kx] *
                                    input[((n * g.in_channels + channel) * g.in_h + iy) * g.in_w +
                                          ix];
                            }
                        }
                    }
                    output[((n * g.out_channels + o) * oh + y) * ow + x] = sum;
                }
        }
}

}  // namespace bpr::kernels
