#pragma once
// Direct sparse convolution, hand-vectorized with xsimd: vectorized over output
// positions, register-blocked over output channels, input channels in L1-sized chunks.

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "bpr/core/parallel.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/kernels/epilogue.hpp"
#include "bpr/kernels/sparse_conv2d_layout.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace bpr::kernels {

// Scratch memory of sparse_conv2d_forward, reused across calls: one packed input and
// one output grid per thread.
struct sparse_conv2d_workspace {
    std::vector<tensor<float>> inputs, grids;
    // The input layout whose zero border (and zero tail) the buffers already hold:
    // weights of the same geometry share it.
    std::array<index_t, 8> prepared_key{};
    std::size_t prepared_count = 0;

    // Sizes the buffers and zeroes the packed inputs unless they already hold a zero
    // border for the layout of `w` (only the interior is rewritten per image).
    void prepare(const sparse_input_layout& w, std::size_t count, index_t grid_size) {
        const conv2d_geometry& g = w.geometry;
        const std::array<index_t, 8> key{g.in_channels, g.in_h,     g.in_w, g.pad_h,
                                         g.pad_w,       g.stride_h, w.wq,   w.input_size};
        const bool same = key == prepared_key && prepared_count >= count;
        if (inputs.size() < count) inputs.resize(count), grids.resize(count);
        for (std::size_t i = 0; i < count; ++i) {
            inputs[i].resize({w.input_size});
            grids[i].resize({grid_size});
        }
        if (!same) {
            for (std::size_t i = 0; i < count; ++i)
                inputs[i].zero();
            prepared_key = key, prepared_count = count;
        }
    }
};

namespace detail {

template <std::size_t... I, typename F>
inline void static_for_impl(std::index_sequence<I...>, F&& f) {
    (f(std::integral_constant<std::size_t, I>{}), ...);
}
// Calls f(integral_constant<i>) for i in [0, N): a loop the compiler must unroll, so
// that accumulator arrays stay in registers.
template <std::size_t N, typename F>
inline void static_for(F&& f) {
    static_for_impl(std::make_index_sequence<N>{}, std::forward<F>(f));
}

// dst[0, n) = src[0, n) with vectors; on AVX-512 the tail is one masked move, so the
// many short rows of small feature maps do not fall back to scalar code.
template <class Arch>
inline void copy_floats(float* dst, const float* src, index_t n) {
    using batch = xsimd::batch<float, Arch>;
    constexpr index_t lanes = batch::size;
    index_t i = 0;
    for (; i + lanes <= n; i += lanes)
        batch::load_unaligned(src + i).store_unaligned(dst + i);
    if (i == n) return;
#if defined(__AVX512F__)
    if constexpr (lanes == 16 && std::is_base_of_v<xsimd::avx512f, Arch>) {
        const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(dst + i, mask, _mm512_maskz_loadu_ps(mask, src + i));
        return;
    }
#endif
    for (; i < n; ++i)
        dst[i] = src[i];
}

#if defined(__AVX512F__)
// Stride 2 on AVX-512: phase (py, px) of input row iy holds its columns ix0, ix0 + 2, ...
// (ix0 = the phase's parity), one permute per 16 of them. The scalar strided copy cost
// ResNet-20's two stride-2 layers about 6% of the batch-1 time at 99% sparsity.
inline void sparse_pack_stride2_avx512(const sparse_input_layout& w, const float* image,
                                       float* packed, index_t c0, index_t c1) {
    const conv2d_geometry& g = w.geometry;
    const index_t h = g.in_h, wd = g.in_w;
    const __m512i every_other =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const auto first_bits = [](index_t n) {
        return static_cast<__mmask16>(n >= 16 ? 0xffffu : (1u << n) - 1u);
    };
    for (index_t c = c0; c < c1; ++c) {
        const float* src = image + c * h * wd;
        for (index_t py = 0; py < 2; ++py)
            for (index_t qy = 0; qy < w.hq; ++qy) {
                const index_t iy = qy * 2 + py - g.pad_h;
                if (iy < 0 || iy >= h) continue;
                const float* in = src + iy * wd;
                for (index_t px = 0; px < 2; ++px) {
                    float* row =
                        packed + c * w.channel_stride + (py * 2 + px) * w.plane + qy * w.wq;
                    const index_t qx0 = (g.pad_w - px + 1) / 2;  // first qx with ix >= 0
                    const index_t ix0 = qx0 * 2 + px - g.pad_w;
                    const index_t count = std::min(w.wq - qx0, (wd - ix0 + 1) / 2);
                    for (index_t k = 0; k < count; k += 16) {
                        const index_t n = std::min<index_t>(16, count - k);
                        const index_t span = 2 * n - 1;  // input floats the n outputs read
                        const float* from = in + ix0 + 2 * k;
                        const __m512 low = _mm512_maskz_loadu_ps(first_bits(span), from);
                        const __m512 high = _mm512_maskz_loadu_ps(
                            first_bits(std::max<index_t>(span - 16, 0)), from + 16);
                        _mm512_mask_storeu_ps(row + qx0 + k, first_bits(n),
                                              _mm512_permutex2var_ps(low, every_other, high));
                    }
                }
            }
    }
}
#endif

// The interior of input channels [c0, c1) of the packed layout (its border is zero
// already, see sparse_conv2d_workspace::prepare).
template <class Arch>
void sparse_pack_channels(const sparse_input_layout& w, const float* image, float* packed,
                          index_t c0, index_t c1) {
    const conv2d_geometry& g = w.geometry;
    const index_t h = g.in_h, wd = g.in_w;
    if (g.stride_h != 1) {
#if defined(__AVX512F__)
        if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
            if (g.stride_h == 2) {
                sparse_pack_stride2_avx512(w, image, packed, c0, c1);
                return;
            }
        }
#endif
        sparse_pack_input_channels(w, image, packed, c0, c1);
        return;
    }
    for (index_t c = c0; c < c1; ++c) {
        const float* src = image + c * h * wd;
        float* dst = packed + c * w.channel_stride + g.pad_h * w.wq + g.pad_w;
        for (index_t y = 0; y < h; ++y)
            copy_floats<Arch>(dst + y * w.wq, src + y * wd, wd);
    }
}

// One (chunk, block, tile): R output rows x T vectors of positions accumulated in
// registers. `in` points at the chunk's input shifted by the tile's first position,
// `out` at the block's first grid row shifted likewise.
template <class Arch>
inline xsimd::batch<float, Arch> activate(xsimd::batch<float, Arch> x, activation act) {
    using batch = xsimd::batch<float, Arch>;
    switch (act) {
        case activation::none:
            return x;
        case activation::relu:
            return xsimd::max(x, batch(0.0f));
        case activation::relu6:
            return xsimd::min(xsimd::max(x, batch(0.0f)), batch(6.0f));
        case activation::silu:
            return x / (batch(1.0f) + xsimd::exp(-x));
    }
    return x;
}

// `e` is non-null on the last chunk: the epilogue of the block's channels (`channels`,
// -1 for padding rows) is applied before the store.
template <class Arch, std::size_t R, std::size_t T, class Offset>
inline void sparse_block_tile(const float* in, const float* values, const Offset* offsets,
                              const sparse_conv2d_weights::segment& seg, float* out,
                              index_t out_stride, bool first, const epilogue* e,
                              const index_t* channels) {
    using batch = xsimd::batch<float, Arch>;
    constexpr std::size_t lanes = batch::size;
    batch acc[R][T];
    static_for<R>([&](auto r) {
        static_for<T>([&](auto t) {
            acc[r][t] = first ? batch(0.0f) : batch::load_aligned(out + r * out_stride + t * lanes);
        });
    });
    const float* v = values + seg.start;
    const Offset* o = offsets + seg.start;
    for (index_t j = 0; j < seg.common; ++j, v += R, o += R) {
        static_for<R>([&](auto r) {
            const batch weight(v[r]);
            const float* src = in + o[r];
            static_for<T>([&](auto t) {
                acc[r][t] = xsimd::fma(weight, batch::load_unaligned(src + t * lanes), acc[r][t]);
            });
        });
    }
    static_for<R>([&](auto r) {
        for (std::int32_t j = 0; j < seg.tail[r]; ++j, ++v, ++o) {
            const batch weight(*v);
            const float* src = in + *o;
            static_for<T>([&](auto t) {
                acc[r][t] = xsimd::fma(weight, batch::load_unaligned(src + t * lanes), acc[r][t]);
            });
        }
    });
    if (e && !e->is_identity()) {
        static_for<R>([&](auto r) {
            const index_t channel = channels[r];
            if (channel < 0) return;
            const batch scale(e->scale ? e->scale[channel] : 1.0f);
            const batch bias(e->bias ? e->bias[channel] : 0.0f);
            static_for<T>([&](auto t) {
                acc[r][t] = activate<Arch>(xsimd::fma(acc[r][t], scale, bias), e->act);
            });
        });
    }
    static_for<R>([&](auto r) {
        static_for<T>([&](auto t) { acc[r][t].store_aligned(out + r * out_stride + t * lanes); });
    });
}

// acc[t] += the lanes m.. of part[t] followed by the first m lanes of part[t + 1] (zero
// past the tile): part's positions moved down by m, in registers.
template <class Arch, std::size_t T>
inline void add_shifted(xsimd::batch<float, Arch> (&acc)[T],
                        const xsimd::batch<float, Arch> (&part)[T], index_t m) {
    using batch = xsimd::batch<float, Arch>;
    constexpr std::size_t lanes = batch::size;
#if defined(__AVX512F__)
    if constexpr (lanes == 16 && std::is_base_of_v<xsimd::avx512f, Arch>) {
        // One two-source permute per vector (index j + m picks lane j + m of the pair).
        const __m512i index = _mm512_add_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(static_cast<int>(m)));
        static_for<T>([&](auto t) {
            __m512 high = _mm512_setzero_ps();
            if constexpr (t + 1 < T) high = part[t + 1];
            acc[t] += batch(_mm512_permutex2var_ps(part[t], index, high));
        });
        return;
    }
#endif
    alignas(64) float spill[(T + 1) * lanes];
    static_for<T>([&](auto t) { part[t].store_aligned(spill + t * lanes); });
    batch(0.0f).store_aligned(spill + T * lanes);
    static_for<T>([&](auto t) { acc[t] += batch::load_unaligned(spill + m + t * lanes); });
}

// One (chunk, row, tile) with aligned tap groups (sparse_conv2d_weights::tap_shifts):
// the row's ungrouped entries as in sparse_block_tile, then each group from aligned
// loads into its own registers, shifted into the accumulators once.
template <class Arch, std::size_t T, class Offset>
inline void sparse_grouped_tile(const float* in, const float* values, const Offset* offsets,
                                const sparse_conv2d_weights::segment& seg,
                                const std::vector<index_t>& shifts, float* out, bool first,
                                const epilogue* e, index_t channel) {
    using batch = xsimd::batch<float, Arch>;
    constexpr std::size_t lanes = batch::size;
    batch acc[T];
    static_for<T>(
        [&](auto t) { acc[t] = first ? batch(0.0f) : batch::load_aligned(out + t * lanes); });
    index_t grouped = 0;
    for (std::size_t i = 0; i < shifts.size(); ++i)
        grouped += seg.group_size[i];
    const float* v = values + seg.start;
    const Offset* o = offsets + seg.start;
    for (index_t j = 0, direct = seg.common - grouped; j < direct; ++j, ++v, ++o) {
        const batch weight(*v);
        const float* src = in + *o;
        static_for<T>([&](auto t) {
            acc[t] = xsimd::fma(weight, batch::load_unaligned(src + t * lanes), acc[t]);
        });
    }
    for (std::size_t i = 0; i < shifts.size(); ++i) {
        const index_t count = seg.group_size[i], m = shifts[i];
        if (count == 0) continue;
        batch part[T];
        static_for<T>([&](auto t) { part[t] = batch(0.0f); });
        for (index_t j = 0; j < count; ++j, ++v, ++o) {
            const batch weight(*v);
            const float* src = in + (static_cast<index_t>(*o) - m);  // a multiple of lanes
            static_for<T>([&](auto t) {
                part[t] = xsimd::fma(weight, batch::load_aligned(src + t * lanes), part[t]);
            });
        }
        add_shifted<Arch, T>(acc, part, m);
    }
    if (e && !e->is_identity() && channel >= 0) {
        const batch scale(e->scale ? e->scale[channel] : 1.0f);
        const batch bias(e->bias ? e->bias[channel] : 0.0f);
        static_for<T>(
            [&](auto t) { acc[t] = activate<Arch>(xsimd::fma(acc[t], scale, bias), e->act); });
    }
    static_for<T>([&](auto t) { acc[t].store_aligned(out + t * lanes); });
}

// All chunks and tiles of blocks first, first + step, ... of one packed image.
template <class Arch, std::size_t T, class Offset>
void sparse_conv2d_blocks(const sparse_conv2d_weights& w, const Offset* offsets,
                          const float* packed, float* grid, const epilogue& e, index_t first,
                          index_t step) {
    constexpr std::size_t R = static_cast<std::size_t>(sparse_block_rows(T));
    const index_t tile_span = static_cast<index_t>(T) * w.lanes;
    for (index_t k = 0; k < w.chunks; ++k) {
        const float* chunk = packed + k * w.chunk_channels * w.channel_stride;
        for (index_t b = first; b < w.blocks; b += step) {
            const auto& seg = w.at(k, b);
            const bool last = k + 1 == w.chunks;
            if (k > 0 && !last && seg.common == 0) {
                bool empty = true;
                for (std::size_t r = 0; r < R; ++r)
                    empty = empty && seg.tail[r] == 0;
                if (empty) continue;
            }
            float* rows = grid + b * static_cast<index_t>(R) * w.grid_stride;
            if constexpr (R == 1) {
                if (!w.tap_shifts.empty()) {
                    for (index_t t = 0; t < w.tiles; ++t)
                        sparse_grouped_tile<Arch, T>(
                            chunk + t * tile_span, w.values.data(), offsets, seg, w.tap_shifts,
                            rows + t * tile_span, k == 0, last ? &e : nullptr, w.row_order[b]);
                    continue;
                }
            }
            for (index_t t = 0; t < w.tiles; ++t)
                sparse_block_tile<Arch, R, T>(chunk + t * tile_span, w.values.data(), offsets, seg,
                                              rows + t * tile_span, w.grid_stride, k == 0,
                                              last ? &e : nullptr, w.row_order.data() + b * R);
        }
    }
}

template <class Arch, class Offset>
void sparse_conv2d_dispatch(const sparse_conv2d_weights& w, const Offset* offsets,
                            const float* packed, float* grid, const epilogue& e, index_t first,
                            index_t step) {
    switch (w.tile_vectors) {
        case 1:
            return sparse_conv2d_blocks<Arch, 1>(w, offsets, packed, grid, e, first, step);
        case 2:
            return sparse_conv2d_blocks<Arch, 2>(w, offsets, packed, grid, e, first, step);
        case 3:
            return sparse_conv2d_blocks<Arch, 3>(w, offsets, packed, grid, e, first, step);
        case 4:
            return sparse_conv2d_blocks<Arch, 4>(w, offsets, packed, grid, e, first, step);
        case 5:
            return sparse_conv2d_blocks<Arch, 5>(w, offsets, packed, grid, e, first, step);
        case 6:
            return sparse_conv2d_blocks<Arch, 6>(w, offsets, packed, grid, e, first, step);
        case 7:
            return sparse_conv2d_blocks<Arch, 7>(w, offsets, packed, grid, e, first, step);
        case 8:
            return sparse_conv2d_blocks<Arch, 8>(w, offsets, packed, grid, e, first, step);
        case 9:
            return sparse_conv2d_blocks<Arch, 9>(w, offsets, packed, grid, e, first, step);
        case 10:
            return sparse_conv2d_blocks<Arch, 10>(w, offsets, packed, grid, e, first, step);
        case 11:
            return sparse_conv2d_blocks<Arch, 11>(w, offsets, packed, grid, e, first, step);
        case 12:
            return sparse_conv2d_blocks<Arch, 12>(w, offsets, packed, grid, e, first, step);
        case 13:
            return sparse_conv2d_blocks<Arch, 13>(w, offsets, packed, grid, e, first, step);
        case 14:
            return sparse_conv2d_blocks<Arch, 14>(w, offsets, packed, grid, e, first, step);
        case 15:
            return sparse_conv2d_blocks<Arch, 15>(w, offsets, packed, grid, e, first, step);
        case 16:
            return sparse_conv2d_blocks<Arch, 16>(w, offsets, packed, grid, e, first, step);
        default:
            bpr::detail::fail("sparse_conv2d_forward: tile_vectors ", w.tile_vectors,
                              " is not in [1, 16]");
    }
}

// Blocks first, first + step, ... of one image: the kernel (which applies the epilogue
// on the last chunk), then the copy of the grid's valid columns into NCHW output.
template <class Arch>
void sparse_conv2d_image(const sparse_conv2d_weights& w, const float* packed, float* grid,
                         float* output, const epilogue& e, index_t first, index_t step) {
    if (w.wide)
        sparse_conv2d_dispatch<Arch>(w, w.offsets32.data(), packed, grid, e, first, step);
    else
        sparse_conv2d_dispatch<Arch>(w, w.offsets16.data(), packed, grid, e, first, step);
    const index_t oh = w.geometry.out_h(), ow = w.geometry.out_w();
    for (index_t b = first; b < w.blocks; b += step)
        for (index_t r = 0; r < w.block_rows; ++r) {
            const index_t row = b * w.block_rows + r, o = w.row_order[row];
            if (o < 0) continue;
            const float* src = grid + row * w.grid_stride;
            float* dst = output + o * oh * ow;
            if (w.wq == ow) {
                copy_floats<Arch>(dst, src, oh * ow);
            } else {
                for (index_t y = 0; y < oh; ++y)
                    copy_floats<Arch>(dst + y * ow, src + y * w.wq, ow);
            }
        }
}

}  // namespace detail

// output[n] = epilogue(conv(input[n], w)) for n < batch; NCHW input and output with the
// geometry w was packed for. Threads: over images when batch >= threads(), otherwise
// over output-channel blocks of each image. Every output value is summed in the same
// order whatever the thread count, so results are bitwise reproducible.
// Requires: w was packed with lanes == xsimd::batch<float, Arch>::size.
template <class Arch = xsimd::default_arch>
void sparse_conv2d_forward(const sparse_conv2d_weights& w, index_t batch, const float* input,
                           float* output, const epilogue& e, sparse_conv2d_workspace& workspace) {
    BPR_REQUIRE(w.lanes == static_cast<index_t>(xsimd::batch<float, Arch>::size),
                "sparse_conv2d_forward: weights packed for ", w.lanes, " lanes, kernel arch has ",
                xsimd::batch<float, Arch>::size);
    BPR_REQUIRE(batch >= 0, "sparse_conv2d_forward: batch must be >= 0, got ", batch);
    const conv2d_geometry& g = w.geometry;
    const index_t in_image = g.in_channels * g.in_h * g.in_w;
    const index_t out_image = g.out_channels * g.out_h() * g.out_w();
    const index_t grid_size = w.blocks * w.block_rows * w.grid_stride;
    const int thread_count = threads();
    // Vector FMAs per image: small layers stay on one thread (see min_parallel_work).
    const long long work = static_cast<long long>(w.nnz()) * w.tiles * w.tile_vectors;
    if (batch >= thread_count || thread_count == 1 || work < min_parallel_work) {
        workspace.prepare(w, static_cast<std::size_t>(thread_count), grid_size);
        parallel_for(
            batch,
            [&](index_t n, int worker) {
                float* packed = workspace.inputs[worker].data();
                detail::sparse_pack_channels<Arch>(w, input + n * in_image, packed, 0,
                                                   g.in_channels);
                detail::sparse_conv2d_image<Arch>(w, packed, workspace.grids[worker].data(),
                                                  output + n * out_image, e, 0, 1);
            },
            work * batch);
        return;
    }
    // Fewer images than threads: share one packed input, split the blocks cyclically
    // (rows are sorted by nonzero count, so cyclic shares balance the work).
    workspace.prepare(w, 1, grid_size);
    float* packed = workspace.inputs[0].data();
    float* grid = workspace.grids[0].data();
#pragma omp parallel num_threads(thread_count)
    {
        index_t first = 0, step = 1;
#ifdef _OPENMP
        first = omp_get_thread_num(), step = omp_get_num_threads();
#endif
        const index_t share = (g.in_channels + step - 1) / step;
        for (index_t n = 0; n < batch; ++n) {
            const index_t c0 = std::min(g.in_channels, first * share);
            detail::sparse_pack_channels<Arch>(w, input + n * in_image, packed, c0,
                                               std::min(g.in_channels, c0 + share));
#pragma omp barrier
            detail::sparse_conv2d_image<Arch>(w, packed, grid, output + n * out_image, e, first,
                                              step);
#pragma omp barrier
        }
    }
}

}  // namespace bpr::kernels
