#pragma once
// Direct dense 2-D convolution vectorized with xsimd: forward, backward-data (stride 1)
// and backward-weights, for groups == 1.
//
// Why: ResNet-style layers have 16-64 channels, so im2col + GEMM spends its time in
// the unfold and in GEMMs too small to reach peak. Here one image is rewritten once
// into zero-padded "phase planes" (for stride s, the s*s sub-grids of the padded
// image), after which every tap (c, ky, kx) of the kernel is a constant offset into
// that buffer and the convolution becomes a 1-D multiply-add over a flat index
// q = y * plane_w + x. Columns x >= out_w of that grid are computed and discarded,
// which costs (plane_w - out_w) / plane_w of the work and buys branch-free inner
// loops: each step loads R vectors of input and multiplies them with OB broadcast
// weights into OB x R register accumulators.

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bpr/core/parallel.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/kernels/conv2d_geometry.hpp"

namespace bpr::kernels {

// What it represents: what happens to each output value of a convolution as it is
// written out: y = scale[o] * (x + bias[o]) + shift[o], then max(y, 0) if relu.
// Why: an eval-mode batchnorm (+ relu) after a convolution is a per-channel affine map;
// applying it while the output block is still in L1 saves two passes over the
// activations. Null pointers mean 1 (scale) and 0 (bias, shift).
template <typename T>
struct conv2d_output_transform {
    const T* bias = nullptr;
    const T* scale = nullptr;
    const T* shift = nullptr;
    bool relu = false;

    // Writes `rows` x `cols` values of channel o from `source` (row stride
    // `source_stride`) to the contiguous `target`; source and target may be the same.
    void write_channel(index_t o, const T* source, index_t source_stride, index_t rows,
                       index_t cols, T* target) const {
        const T b = bias ? bias[o] : T(0);
        const T a = scale ? scale[o] : T(1);
        const T c = shift ? shift[o] : T(0);
        for (index_t y = 0; y < rows; ++y) {
            const T* in = source + y * source_stride;
            T* out = target + y * cols;
            // Separate loops so that each one vectorizes without a branch inside.
            if (!scale && !shift && !relu)
                for (index_t x = 0; x < cols; ++x)
                    out[x] = in[x] + b;
            else if (!relu)
                for (index_t x = 0; x < cols; ++x)
                    out[x] = a * (in[x] + b) + c;
            else
                for (index_t x = 0; x < cols; ++x) {
                    const T v = a * (in[x] + b) + c;
                    out[x] = v > T(0) ? v : T(0);  // as bpr::relu: NaN gives 0
                }
        }
    }
};

namespace detail {

inline index_t ceil_div(index_t a, index_t b) {
    return (a + b - 1) / b;
}

// The flat layout of one image rewritten into phase planes, and the offset of every
// kernel tap into it. Requires a validated geometry with groups == 1.
template <typename T>
struct direct_plan {
    static constexpr index_t lanes = static_cast<index_t>(xsimd::batch<T>::size);

    index_t plane_h = 0, plane_w = 0, plane = 0;  // one phase plane
    index_t outputs = 0;                          // out_h * plane_w grid positions
    index_t vectors = 0;                          // ceil(outputs / lanes)
    index_t grid = 0;                             // vectors * lanes
    index_t buffer = 0;                           // elements of the rewritten image
    std::vector<index_t> offsets;                 // per tap (c, ky, kx), OIHW order

    explicit direct_plan(const conv2d_geometry& g) {
        const index_t sh = g.stride_h, sw = g.stride_w;
        plane_h = ceil_div(g.in_h + 2 * g.pad_h, sh);
        plane_w = ceil_div(g.in_w + 2 * g.pad_w, sw);
        plane = plane_h * plane_w;
        outputs = g.out_h() * plane_w;
        vectors = ceil_div(outputs, lanes);
        grid = vectors * lanes;
        const index_t taps = g.in_channels * g.kernel_h * g.kernel_w;
        offsets.resize(static_cast<std::size_t>(taps));
        index_t furthest = 0;
        for (index_t c = 0; c < g.in_channels; ++c)
            for (index_t ky = 0; ky < g.kernel_h; ++ky)
                for (index_t kx = 0; kx < g.kernel_w; ++kx) {
                    const index_t phase = (c * sh + ky % sh) * sw + kx % sw;
                    const index_t offset = phase * plane + (ky / sh) * plane_w + kx / sw;
                    offsets[static_cast<std::size_t>((c * g.kernel_h + ky) * g.kernel_w + kx)] =
                        offset;
                    furthest = std::max(furthest, offset);
                }
        // Garbage grid positions may read past the last plane: keep that tail allocated.
        buffer = std::max(g.in_channels * sh * sw * plane, furthest + grid);
    }
};

// Copies a short row inline: a libc memcpy call per 8-32 float row cost more than the copy.
template <typename T>
void copy_row(const T* source, T* target, index_t count) {
    using batch = xsimd::batch<T>;
    constexpr index_t lanes = static_cast<index_t>(batch::size);
    index_t k = 0;
    for (; k + lanes <= count; k += lanes)
        batch::load_unaligned(source + k).store_unaligned(target + k);
    for (; k < count; ++k)
        target[k] = source[k];
}

// Writes image [C, H, W] into `buffer` as zero-padded phase planes; the tail past the
// planes is zeroed so that every value read by the kernels is finite. The padding and
// the tail are the same positions for every image of a geometry, so a caller that
// zeroed `buffer` once for it may pass padding_is_zero = true and skip them.
template <typename T>
void to_phase_planes(const conv2d_geometry& g, const direct_plan<T>& plan, const T* image,
                     T* buffer, bool padding_is_zero = false) {
    const index_t sh = g.stride_h, sw = g.stride_w;
    if (sh > 1 || sw > 1) {
        // Zero everything, then scatter each input row once, in order: reading the
        // input with stride sw per phase plane measured twice as slow.
        if (!padding_is_zero) std::fill(buffer, buffer + plan.buffer, T(0));
        for (index_t c = 0; c < g.in_channels; ++c)
            for (index_t iy = 0; iy < g.in_h; ++iy) {
                const index_t i = (iy + g.pad_h) / sh, py = (iy + g.pad_h) % sh;
                const T* in_row = image + (c * g.in_h + iy) * g.in_w;
                T* rows = buffer + ((c * sh + py) * sw) * plan.plane + i * plan.plane_w;
                for (index_t px = 0; px < sw; ++px) {
                    // The first column ix of this phase: (ix + pad_w) % sw == px.
                    const index_t start = ((px - g.pad_w) % sw + sw) % sw;
                    T* row = rows + px * plan.plane + (start + g.pad_w) / sw;
                    const index_t count = start < g.in_w ? ceil_div(g.in_w - start, sw) : 0;
                    if (sw == 2)  // a constant stride lets the compiler vectorize
                        for (index_t k = 0; k < count; ++k)
                            row[k] = in_row[start + 2 * k];
                    else
                        for (index_t k = 0; k < count; ++k)
                            row[k] = in_row[start + sw * k];
                }
            }
        return;
    }
    const index_t first = std::min(plan.plane_w, g.pad_w);
    const index_t last = std::min(plan.plane_w, g.pad_w + g.in_w);
    for (index_t c = 0; c < g.in_channels; ++c) {
        const T* source = image + c * g.in_h * g.in_w;
        T* target = buffer + c * plan.plane;
        for (index_t i = 0; i < plan.plane_h; ++i) {
            T* row = target + i * plan.plane_w;
            const index_t iy = i - g.pad_h;
            if (iy < 0 || iy >= g.in_h) {
                if (!padding_is_zero) std::fill(row, row + plan.plane_w, T(0));
                continue;
            }
            // Left padding, the row (clipped to the plane), right padding.
            if (!padding_is_zero) {
                std::fill(row, row + first, T(0));
                std::fill(row + last, row + plan.plane_w, T(0));
            }
            copy_row(source + iy * g.in_w, row + first, last - first);
        }
    }
    if (padding_is_zero) return;
    const index_t planes_end = g.in_channels * sh * sw * plan.plane;
    std::fill(buffer + planes_end, buffer + plan.buffer, T(0));
}

// Whether the target has 32 vector registers (AVX-512, AArch64) rather than 16 (AVX2,
// SSE): the register tiles below are sized for it.
#if defined(__AVX512F__) || defined(__aarch64__)
inline constexpr bool wide_register_file = true;
#else
inline constexpr bool wide_register_file = false;
#endif

// Output-channel block and vectors per step of the forward kernel: OB x R accumulators
// plus R input vectors and one broadcast weight stay within the register file.
// With 16 registers, 8 x 3 spilled: ResNet-20 trained at 196 images/s on a Zen 3 (AVX2)
// against 261 with 4 x 3 (docs/benchmarks.md, session 17); 4 x 2 and 6 x 2 were level.
inline constexpr index_t forward_block = wide_register_file ? 8 : 4;
inline constexpr index_t forward_vectors = 3;

// out[o][q .. q + R * lanes) = sum over taps of packed[t][o] * x[offset[t] + q ...].
template <typename T, int R>
void direct_forward_tile(const T* x, const index_t* offsets, index_t taps, const T* packed, T* out,
                         index_t out_stride) {
    using batch = xsimd::batch<T>;
    constexpr int lanes = static_cast<int>(batch::size);
    constexpr int OB = static_cast<int>(forward_block);
    batch acc[OB][R];
    for (int o = 0; o < OB; ++o)
        for (int r = 0; r < R; ++r)
            acc[o][r] = batch(T(0));
    for (index_t t = 0; t < taps; ++t) {
        const T* source = x + offsets[t];
        batch v[R];
        for (int r = 0; r < R; ++r)
            v[r] = batch::load_unaligned(source + r * lanes);
        const T* w = packed + t * OB;
        for (int o = 0; o < OB; ++o) {
            const batch wo(w[o]);
            for (int r = 0; r < R; ++r)
                acc[o][r] = xsimd::fma(wo, v[r], acc[o][r]);
        }
    }
    for (int o = 0; o < OB; ++o)
        for (int r = 0; r < R; ++r)
            acc[o][r].store_aligned(out + o * out_stride + r * lanes);
}

// One image: every output-channel block over the whole grid, written to `scratch`
// [forward_block][plan.grid] and then copied out (minus garbage columns) through the
// output transform, while the block is still in L1.
template <typename T>
void direct_forward_image(const conv2d_geometry& g, const direct_plan<T>& plan, const T* x,
                          const T* packed, const conv2d_output_transform<T>& transform, T* output,
                          T* scratch) {
    constexpr index_t OB = forward_block, R = forward_vectors, lanes = direct_plan<T>::lanes;
    const index_t taps = static_cast<index_t>(plan.offsets.size());
    const index_t oh = g.out_h(), ow = g.out_w(), spatial = oh * ow;
    for (index_t o0 = 0; o0 < g.out_channels; o0 += OB) {
        const T* w = packed + o0 * taps;
        index_t v = 0;
        for (; v + R <= plan.vectors; v += R)
            direct_forward_tile<T, R>(x + v * lanes, plan.offsets.data(), taps, w,
                                      scratch + v * lanes, plan.grid);
        const index_t rest = plan.vectors - v;
        if (rest == 2)
            direct_forward_tile<T, 2>(x + v * lanes, plan.offsets.data(), taps, w,
                                      scratch + v * lanes, plan.grid);
        else if (rest == 1)
            direct_forward_tile<T, 1>(x + v * lanes, plan.offsets.data(), taps, w,
                                      scratch + v * lanes, plan.grid);
        static_assert(forward_vectors == 3, "the remainder above handles R - 1 <= 2 vectors");
        const index_t block = std::min(OB, g.out_channels - o0);
        for (index_t o = 0; o < block; ++o)
            transform.write_channel(o0 + o, scratch + o * plan.grid, plan.plane_w, oh, ow,
                                    output + (o0 + o) * spatial);
    }
}

// Packs weight(o, t) as [ceil(O / OB)][taps][OB], zero for o >= O.
template <typename T, typename Weight>
void pack_forward_weights(index_t out_channels, index_t taps, Weight&& weight,
                          std::vector<T>& packed) {
    constexpr index_t OB = forward_block;
    const index_t blocks = ceil_div(out_channels, OB);
    packed.assign(static_cast<std::size_t>(blocks * taps * OB), T(0));
    for (index_t o = 0; o < out_channels; ++o)
        for (index_t t = 0; t < taps; ++t)
            packed[static_cast<std::size_t>(((o / OB) * taps + t) * OB + o % OB)] = weight(o, t);
}

// Forward over the batch with packed weights; OpenMP over images.
template <typename T>
void direct_forward_batch(const conv2d_geometry& g, const direct_plan<T>& plan, const T* input,
                          const T* packed, const conv2d_output_transform<T>& transform, T* output,
                          std::vector<tensor<T>>& buffers) {
    const int thread_count = threads();
    if (static_cast<int>(buffers.size()) < thread_count) buffers.resize(thread_count);
    const index_t scratch_elements = forward_block * plan.grid;
    const index_t x_elements = ceil_div(plan.buffer, direct_plan<T>::lanes) * direct_plan<T>::lanes;
    for (int i = 0; i < thread_count; ++i) {
        buffers[i].resize({x_elements + scratch_elements});
        // Zero padding once per call; each image then only writes its interior.
        std::fill(buffers[i].data(), buffers[i].data() + x_elements, T(0));
    }
    const index_t in_image = g.in_channels * g.in_h * g.in_w;
    const index_t out_image = g.out_channels * g.out_h() * g.out_w();
    parallel_for(g.batch, [&](index_t n, int worker) {
        T* x = buffers[worker].data();
        to_phase_planes(g, plan, input + n * in_image, x, true);
        direct_forward_image(g, plan, x, packed, transform, output + n * out_image, x + x_elements);
    });
}

// Backward-weight: grad_out is transposed to [grid position][output channel] so that a
// vector holds OV * lanes output channels; each grid position then broadcasts TB input
// values (one per tap) against them. No horizontal sums are needed and the result for a
// block is a [TB][OV * lanes] slice of the [tap][output channel] partial.
template <typename T, int OV, int TB>
void direct_weight_tile(const T* x, const index_t* offsets, const T* gout_t, index_t channels,
                        index_t positions, T* partial) {
    using batch = xsimd::batch<T>;
    constexpr int lanes = static_cast<int>(batch::size);
    batch acc[TB][OV];
    for (int t = 0; t < TB; ++t)
        for (int v = 0; v < OV; ++v)
            acc[t][v] = batch(T(0));
    const T* sources[TB];
    for (int t = 0; t < TB; ++t)
        sources[t] = x + offsets[t];
    for (index_t q = 0; q < positions; ++q) {
        batch go[OV];
        for (int v = 0; v < OV; ++v)
            go[v] = batch::load_aligned(gout_t + q * channels + v * lanes);
        for (int t = 0; t < TB; ++t) {
            const batch xv(sources[t][q]);
            for (int v = 0; v < OV; ++v)
                acc[t][v] = xsimd::fma(go[v], xv, acc[t][v]);
        }
    }
    for (int t = 0; t < TB; ++t)
        for (int v = 0; v < OV; ++v) {
            T* target = partial + t * channels + v * lanes;
            (batch::load_aligned(target) + acc[t][v]).store_aligned(target);
        }
}

// All blocks of one image: output-channel vectors OV at a time, taps TB at a time
// (the tap list is padded to a multiple of TB; padded rows of `partial` are discarded).
// Blocking the positions so that grad_out stays in L1 measured no faster.
template <typename T, int OV, int TB>
void direct_weight_image(const T* x, const index_t* offsets, index_t padded_taps, const T* gout_t,
                         index_t channels, index_t positions, T* partial) {
    constexpr index_t lanes = static_cast<index_t>(xsimd::batch<T>::size);
    for (index_t o0 = 0; o0 < channels; o0 += OV * lanes)
        for (index_t t0 = 0; t0 < padded_taps; t0 += TB)
            direct_weight_tile<T, OV, TB>(x, offsets + t0, gout_t + o0, channels, positions,
                                          partial + t0 * channels + o0);
}

}  // namespace detail

// What it represents: scratch for the direct kernels (per-thread rewritten images,
// packed weights, weight-gradient partials), reused across calls so the training loop
// does not allocate once sizes are stable.
template <typename T>
struct conv2d_direct_workspace {
    std::vector<tensor<T>> buffers;
    std::vector<tensor<T>> partials;
    std::vector<T> packed;
};

// True when the direct kernels handle `g` (groups == 1); otherwise use im2col.
inline bool conv2d_direct_supported(const conv2d_geometry& g) {
    return g.groups == 1;
}

// Backward-data runs as a stride-1 forward convolution of grad_output with the
// flipped, transposed kernel, so it also needs stride 1 and padding < kernel.
inline bool conv2d_direct_backward_data_supported(const conv2d_geometry& g) {
    return g.groups == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h < g.kernel_h &&
           g.pad_w < g.kernel_w;
}

// output = transform(conv(input, weight) + bias) (bias may be null and replaces
// transform.bias; the default transform is the identity). Requires
// conv2d_direct_supported(g).
template <typename T>
void conv2d_direct_forward(const conv2d_geometry& g, const T* input, const T* weight, const T* bias,
                           T* output, conv2d_direct_workspace<T>& workspace,
                           conv2d_output_transform<T> transform = {}) {
    BPR_REQUIRE(conv2d_direct_supported(g), "conv2d_direct_forward: groups must be 1, got ",
                g.groups);
    const detail::direct_plan<T> plan(g);
    const index_t taps = g.patch_size();
    detail::pack_forward_weights<T>(
        g.out_channels, taps, [&](index_t o, index_t t) { return weight[o * taps + t]; },
        workspace.packed);
    transform.bias = bias;
    detail::direct_forward_batch(g, plan, input, workspace.packed.data(), transform, output,
                                 workspace.buffers);
}

// grad_input = conv_transpose(grad_output, weight). Requires
// conv2d_direct_backward_data_supported(g).
template <typename T>
void conv2d_direct_backward_data(const conv2d_geometry& g, const T* grad_output, const T* weight,
                                 T* grad_input, conv2d_direct_workspace<T>& workspace) {
    BPR_REQUIRE(conv2d_direct_backward_data_supported(g),
                "conv2d_direct_backward_data: needs groups 1, stride 1 and padding < kernel, got "
                "groups ",
                g.groups, ", stride ", g.stride_h, "x", g.stride_w, ", padding ", g.pad_h, "x",
                g.pad_w);
    // The adjoint of a stride-1 convolution is a convolution of grad_output, padded by
    // kernel - 1 - pad, with weight'[c][o][ky][kx] = weight[o][c][kh-1-ky][kw-1-kx].
    conv2d_geometry t;
    t.batch = g.batch, t.in_channels = g.out_channels, t.in_h = g.out_h(), t.in_w = g.out_w();
    t.out_channels = g.in_channels, t.kernel_h = g.kernel_h, t.kernel_w = g.kernel_w;
    t.pad_h = g.kernel_h - 1 - g.pad_h, t.pad_w = g.kernel_w - 1 - g.pad_w;
    const detail::direct_plan<T> plan(t);
    const index_t kh = g.kernel_h, kw = g.kernel_w, cin = g.in_channels;
    detail::pack_forward_weights<T>(
        t.out_channels, t.patch_size(),
        [&](index_t c, index_t tap) {
            const index_t o = tap / (kh * kw), ky = tap / kw % kh, kx = tap % kw;
            return weight[((o * cin + c) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)];
        },
        workspace.packed);
    detail::direct_forward_batch(t, plan, grad_output, workspace.packed.data(),
                                 conv2d_output_transform<T>{}, grad_input, workspace.buffers);
}

// grad_weight = sum over the batch and positions of grad_output x input patches;
// grad_bias (may be null) = sum of grad_output. Per-thread partials are reduced in
// thread order: deterministic for a given thread count. Requires
// conv2d_direct_supported(g).
template <typename T>
void conv2d_direct_backward_weight(const conv2d_geometry& g, const T* input, const T* grad_output,
                                   T* grad_weight, T* grad_bias,
                                   conv2d_direct_workspace<T>& workspace) {
    BPR_REQUIRE(conv2d_direct_supported(g), "conv2d_direct_backward_weight: groups must be 1, got ",
                g.groups);
    constexpr index_t lanes = detail::direct_plan<T>::lanes;
    const detail::direct_plan<T> plan(g);
    const index_t taps = g.patch_size();
    // Output channels padded to whole vectors; OV vectors per block, TB taps per block:
    // OV * TB = 24 accumulators with 32 registers, 12 with 16.
    const index_t channels = detail::ceil_div(g.out_channels, lanes) * lanes;
    const index_t channel_vectors = channels / lanes;
    constexpr bool wide = detail::wide_register_file;
    const int ov = wide && channel_vectors % 4 == 0 ? 4 : channel_vectors % 2 == 0 ? 2 : 1;
    const index_t tb = !wide ? 12 / ov : ov == 1 ? 12 : 24 / ov;
    const index_t padded_taps = detail::ceil_div(taps, tb) * tb;
    // Padded taps read offset 0 and land in discarded partial rows.
    std::vector<index_t> offsets(plan.offsets);
    offsets.resize(static_cast<std::size_t>(padded_taps), 0);

    const int thread_count = threads();
    if (static_cast<int>(workspace.buffers.size()) < thread_count)
        workspace.buffers.resize(thread_count);
    if (static_cast<int>(workspace.partials.size()) < thread_count)
        workspace.partials.resize(thread_count);
    const index_t x_elements = detail::ceil_div(plan.buffer, lanes) * lanes;
    const index_t positions = plan.outputs;
    for (int i = 0; i < thread_count; ++i) {
        workspace.buffers[i].resize({x_elements + positions * channels});
        // Padded channels and garbage grid columns of grad_out stay zero throughout.
        workspace.buffers[i].zero();
        workspace.partials[i].resize({padded_taps * channels});
        workspace.partials[i].zero();
    }
    const index_t in_image = g.in_channels * g.in_h * g.in_w;
    const index_t oh = g.out_h(), ow = g.out_w(), spatial = oh * ow;
    parallel_for(g.batch, [&](index_t n, int worker) {
        T* x = workspace.buffers[worker].data();
        T* gout_t = x + x_elements;
        T* partial = workspace.partials[worker].data();
        detail::to_phase_planes(g, plan, input + n * in_image, x, true);  // zeroed above
        const T* source = grad_output + n * g.out_channels * spatial;
        for (index_t y = 0; y < oh; ++y)
            for (index_t xx = 0; xx < ow; ++xx) {
                T* target = gout_t + (y * plan.plane_w + xx) * channels;
                for (index_t o = 0; o < g.out_channels; ++o)
                    target[o] = source[o * spatial + y * ow + xx];
            }
        if constexpr (wide) {
            if (ov == 4)
                detail::direct_weight_image<T, 4, 6>(x, offsets.data(), padded_taps, gout_t,
                                                     channels, positions, partial);
            else if (ov == 2)
                detail::direct_weight_image<T, 2, 12>(x, offsets.data(), padded_taps, gout_t,
                                                      channels, positions, partial);
            else
                detail::direct_weight_image<T, 1, 12>(x, offsets.data(), padded_taps, gout_t,
                                                      channels, positions, partial);
        } else {
            if (ov == 2)
                detail::direct_weight_image<T, 2, 6>(x, offsets.data(), padded_taps, gout_t,
                                                     channels, positions, partial);
            else
                detail::direct_weight_image<T, 1, 12>(x, offsets.data(), padded_taps, gout_t,
                                                      channels, positions, partial);
        }
    });
    std::fill(grad_weight, grad_weight + g.out_channels * taps, T(0));
    for (int i = 0; i < thread_count; ++i) {
        const T* partial = workspace.partials[i].data();
        for (index_t o = 0; o < g.out_channels; ++o)
            for (index_t t = 0; t < taps; ++t)
                grad_weight[o * taps + t] += partial[t * channels + o];
    }
    if (grad_bias) {
        for (index_t o = 0; o < g.out_channels; ++o) {
            T sum = 0;
            for (index_t n = 0; n < g.batch; ++n) {
                const T* plane = grad_output + (n * g.out_channels + o) * spatial;
                for (index_t i = 0; i < spatial; ++i)
                    sum += plane[i];
            }
            grad_bias[o] = sum;
        }
    }
}

}  // namespace bpr::kernels
