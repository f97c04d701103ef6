#pragma once
// The scalar twin of sparse_conv2d_forward: the same packed weights, plain loops, no
// tiling and no over-computed positions. Tests use it as the oracle.

#include <vector>

#include "bpr/kernels/epilogue.hpp"
#include "bpr/kernels/sparse_conv2d_layout.hpp"

namespace bpr::kernels {

// output[n] = epilogue(conv(input[n], w)), one output value at a time.
inline void sparse_conv2d_reference_forward(const sparse_conv2d_weights& w, index_t batch,
                                            const float* input, float* output, const epilogue& e) {
    const conv2d_geometry& g = w.geometry;
    const index_t oh = g.out_h(), ow = g.out_w();
    const index_t in_image = g.in_channels * g.in_h * g.in_w;
    std::vector<float> packed(static_cast<std::size_t>(w.input_size));
    for (index_t n = 0; n < batch; ++n) {
        detail::sparse_pack_input(w, input + n * in_image, packed.data());
        float* out = output + n * g.out_channels * oh * ow;
        for (index_t row = 0; row < w.blocks * w.block_rows; ++row) {
            const index_t o = w.row_order[row];
            if (o < 0) continue;
            float* plane = out + o * oh * ow;
            for (index_t i = 0; i < oh * ow; ++i)
                plane[i] = 0.0f;
            w.for_each_entry(row, [&](float v, index_t offset) {
                for (index_t y = 0; y < oh; ++y)
                    for (index_t x = 0; x < ow; ++x)
                        plane[y * ow + x] += v * packed[offset + y * w.wq + x];
            });
            for (index_t i = 0; i < oh * ow; ++i)
                plane[i] = epilogue_scalar(e, o, plane[i]);
        }
    }
}

}  // namespace bpr::kernels
