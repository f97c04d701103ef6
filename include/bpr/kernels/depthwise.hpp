#pragma once
// Depthwise convolution (one k x k filter per channel, as in EfficientNet's MBConv),
// dense or masked, vectorized over output positions with xsimd, with a scalar twin.

#include <cstdint>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "bpr/core/parallel.hpp"
#include "bpr/kernels/epilogue.hpp"
#include "bpr/kernels/sparse_conv2d.hpp"

namespace bpr::kernels {

// What it represents: the taps of a depthwise weight [C, 1, kh, kw] (groups == C ==
// out_channels), each a value and its offset inside the channel's packed input (see
// sparse_input_layout). Masked packing drops zero taps, dense packing keeps all.
// Guarantees: channel c's taps are [starts[c], starts[c + 1]) in (ky, kx) order.
struct depthwise_conv2d_weights : sparse_input_layout {
    std::vector<float> values;
    std::vector<std::uint32_t> offsets;
    std::vector<index_t> starts;

    index_t nnz() const { return static_cast<index_t>(values.size()); }

    static depthwise_conv2d_weights pack(
        const conv2d_geometry& g, const float* weight, bool drop_zeros,
        index_t lanes = static_cast<index_t>(xsimd::batch<float>::size)) {
        BPR_REQUIRE(g.groups == g.in_channels && g.out_channels == g.in_channels,
                    "depthwise_conv2d_weights::pack: needs groups == in_channels == "
                    "out_channels, got groups ",
                    g.groups, ", in_channels ", g.in_channels, ", out_channels ", g.out_channels);
        depthwise_conv2d_weights w;
        static_cast<sparse_input_layout&>(w) =
            sparse_input_layout::make(g, lanes, "depthwise_conv2d_weights::pack", 8);
        w.starts.push_back(0);
        for (index_t c = 0; c < g.in_channels; ++c) {
            for (index_t ky = 0; ky < g.kernel_h; ++ky)
                for (index_t kx = 0; kx < g.kernel_w; ++kx) {
                    const float v = weight[(c * g.kernel_h + ky) * g.kernel_w + kx];
                    if (drop_zeros && v == 0.0f) continue;
                    w.values.push_back(v);
                    w.offsets.push_back(static_cast<std::uint32_t>(w.tap_offset(ky, kx)));
                }
            w.starts.push_back(static_cast<index_t>(w.values.size()));
        }
        return w;
    }
};

namespace detail {

// One channel of one image: taps accumulated over tiles of T vectors, epilogue, then
// the valid columns copied to the output plane.
template <class Arch, std::size_t T>
void depthwise_channel(const depthwise_conv2d_weights& w, index_t c, const float* packed,
                       float* grid, float* out, const epilogue& e) {
    using batch = xsimd::batch<float, Arch>;
    constexpr std::size_t lanes = batch::size;
    const float* in = packed + c * w.channel_stride;
    const index_t first = w.starts[c], last = w.starts[c + 1];
    for (index_t t = 0; t < w.tiles; ++t) {
        const index_t p0 = t * static_cast<index_t>(T * lanes);
        batch acc[T];
        static_for<T>([&](auto i) { acc[i] = batch(0.0f); });
        for (index_t j = first; j < last; ++j) {
            const batch weight(w.values[j]);
            const float* src = in + w.offsets[j] + p0;
            static_for<T>([&](auto i) {
                acc[i] = xsimd::fma(weight, batch::load_unaligned(src + i * lanes), acc[i]);
            });
        }
        static_for<T>([&](auto i) { acc[i].store_aligned(grid + p0 + i * lanes); });
    }
    apply_epilogue<Arch>(e, c, grid, w.positions());
    const index_t oh = w.geometry.out_h(), ow = w.geometry.out_w();
    for (index_t y = 0; y < oh; ++y)
        copy_floats<Arch>(out + y * ow, grid + y * w.wq, ow);
}

}  // namespace detail

// output[n] = epilogue(depthwise_conv(input[n], w)), NCHW. Parallel over (image,
// channel) pairs; each output value is summed in tap order whatever the thread count.
// Requires: w was packed with lanes == xsimd::batch<float, Arch>::size.
template <class Arch = xsimd::default_arch>
void depthwise_conv2d_forward(const depthwise_conv2d_weights& w, index_t batch, const float* input,
                              float* output, const epilogue& e,
                              sparse_conv2d_workspace& workspace) {
    BPR_REQUIRE(w.lanes == static_cast<index_t>(xsimd::batch<float, Arch>::size),
                "depthwise_conv2d_forward: weights packed for ", w.lanes,
                " lanes, kernel arch has ", xsimd::batch<float, Arch>::size);
    const conv2d_geometry& g = w.geometry;
    const index_t channels = g.in_channels, oh = g.out_h(), ow = g.out_w();
    const int thread_count = threads();
    workspace.prepare(w, static_cast<std::size_t>(thread_count), w.grid_stride);
    // Vector FMAs of the call: a small layer stays on one thread (see min_parallel_work).
    const long long work = static_cast<long long>(batch) * w.nnz() * w.tiles * w.tile_vectors;
    parallel_for(
        batch * channels,
        [&](index_t job, int worker) {
            const index_t n = job / channels, c = job % channels;
            float* packed = workspace.inputs[worker].data();
            float* grid = workspace.grids[worker].data();
            detail::sparse_pack_channels<Arch>(w, input + n * channels * g.in_h * g.in_w, packed, c,
                                               c + 1);
            float* out = output + (n * channels + c) * oh * ow;
            switch (w.tile_vectors) {
                case 1:
                    detail::depthwise_channel<Arch, 1>(w, c, packed, grid, out, e);
                    break;
                case 2:
                    detail::depthwise_channel<Arch, 2>(w, c, packed, grid, out, e);
                    break;
                case 3:
                    detail::depthwise_channel<Arch, 3>(w, c, packed, grid, out, e);
                    break;
                case 4:
                    detail::depthwise_channel<Arch, 4>(w, c, packed, grid, out, e);
                    break;
                case 5:
                    detail::depthwise_channel<Arch, 5>(w, c, packed, grid, out, e);
                    break;
                case 6:
                    detail::depthwise_channel<Arch, 6>(w, c, packed, grid, out, e);
                    break;
                case 7:
                    detail::depthwise_channel<Arch, 7>(w, c, packed, grid, out, e);
                    break;
                default:
                    detail::depthwise_channel<Arch, 8>(w, c, packed, grid, out, e);
                    break;
            }
        },
        work);
}

// The scalar twin: the same taps, plain loops over valid positions only.
inline void depthwise_conv2d_reference_forward(const depthwise_conv2d_weights& w, index_t batch,
                                               const float* input, float* output,
                                               const epilogue& e) {
    const conv2d_geometry& g = w.geometry;
    const index_t channels = g.in_channels, oh = g.out_h(), ow = g.out_w();
    std::vector<float> packed(static_cast<std::size_t>(w.input_size));
    for (index_t n = 0; n < batch; ++n) {
        detail::sparse_pack_input(w, input + n * channels * g.in_h * g.in_w, packed.data());
        for (index_t c = 0; c < channels; ++c) {
            float* out = output + (n * channels + c) * oh * ow;
            for (index_t y = 0; y < oh; ++y)
                for (index_t x = 0; x < ow; ++x) {
                    float sum = 0.0f;
                    for (index_t j = w.starts[c]; j < w.starts[c + 1]; ++j)
                        sum += w.values[j] *
                               packed[c * w.channel_stride + w.offsets[j] + y * w.wq + x];
                    out[y * ow + x] = epilogue_scalar(e, c, sum);
                }
        }
    }
}

}  // namespace bpr::kernels
