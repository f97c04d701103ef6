#pragma once
// Direct sparse convolution, hand-vectorized with xsimd: vectorized over output
// positions, register-blocked over output channels, input channels in L1-sized chunks.

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

namespace bpr::kernels {

// Scratch memory of sparse_conv2d_forward, reused across calls: one packed input and
// one output grid per thread.
struct sparse_conv2d_workspace {
    std::vector<tensor<float>> inputs, grids;

    void prepare(std::size_t count, index_t input_size, index_t grid_size) {
        if (inputs.size() < count) inputs.resize(count), grids.resize(count);
        for (std::size_t i = 0; i < count; ++i) {
            inputs[i].resize({input_size});
            grids[i].resize({grid_size});
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

// One (chunk, block, tile): R output rows x T vectors of positions accumulated in
// registers. `in` points at the chunk's input shifted by the tile's first position,
// `out` at the block's first grid row shifted likewise.
template <class Arch, std::size_t R, std::size_t T, class Offset>
inline void sparse_block_tile(const float* in, const float* values, const Offset* offsets,
                              const sparse_conv2d_weights::segment& seg, float* out,
                              index_t out_stride, bool first) {
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
    static_for<R>([&](auto r) {
        static_for<T>([&](auto t) { acc[r][t].store_aligned(out + r * out_stride + t * lanes); });
    });
}

// All chunks and tiles of blocks first, first + step, ... of one packed image.
template <class Arch, std::size_t T, class Offset>
void sparse_conv2d_blocks(const sparse_conv2d_weights& w, const Offset* offsets,
                          const float* packed, float* grid, index_t first, index_t step) {
    constexpr std::size_t R = static_cast<std::size_t>(sparse_block_rows(T));
    const index_t tile_span = static_cast<index_t>(T) * w.lanes;
    for (index_t k = 0; k < w.chunks; ++k) {
        const float* chunk = packed + k * w.chunk_channels * w.channel_stride;
        for (index_t b = first; b < w.blocks; b += step) {
            const auto& seg = w.at(k, b);
            if (k > 0 && seg.common == 0) {
                bool empty = true;
                for (std::size_t r = 0; r < R; ++r)
                    empty = empty && seg.tail[r] == 0;
                if (empty) continue;
            }
            float* rows = grid + b * static_cast<index_t>(R) * w.grid_stride;
            for (index_t t = 0; t < w.tiles; ++t)
                sparse_block_tile<Arch, R, T>(chunk + t * tile_span, w.values.data(), offsets, seg,
                                              rows + t * tile_span, w.grid_stride, k == 0);
        }
    }
}

template <class Arch, class Offset>
void sparse_conv2d_dispatch(const sparse_conv2d_weights& w, const Offset* offsets,
                            const float* packed, float* grid, index_t first, index_t step) {
    switch (w.tile_vectors) {
        case 1:
            return sparse_conv2d_blocks<Arch, 1>(w, offsets, packed, grid, first, step);
        case 2:
            return sparse_conv2d_blocks<Arch, 2>(w, offsets, packed, grid, first, step);
        case 3:
            return sparse_conv2d_blocks<Arch, 3>(w, offsets, packed, grid, first, step);
        case 4:
            return sparse_conv2d_blocks<Arch, 4>(w, offsets, packed, grid, first, step);
        case 5:
            return sparse_conv2d_blocks<Arch, 5>(w, offsets, packed, grid, first, step);
        case 6:
            return sparse_conv2d_blocks<Arch, 6>(w, offsets, packed, grid, first, step);
        case 7:
            return sparse_conv2d_blocks<Arch, 7>(w, offsets, packed, grid, first, step);
        case 8:
            return sparse_conv2d_blocks<Arch, 8>(w, offsets, packed, grid, first, step);
        default:
            bpr::detail::fail("sparse_conv2d_forward: tile_vectors ", w.tile_vectors,
                              " is not in [1, 8]");
    }
}

// Blocks first, first + step, ... of one image: kernel, then epilogue and the copy of
// the valid columns of the grid into NCHW output.
template <class Arch>
void sparse_conv2d_image(const sparse_conv2d_weights& w, const float* packed, float* grid,
                         float* output, const epilogue& e, index_t first, index_t step) {
    if (w.wide)
        sparse_conv2d_dispatch<Arch>(w, w.offsets32.data(), packed, grid, first, step);
    else
        sparse_conv2d_dispatch<Arch>(w, w.offsets16.data(), packed, grid, first, step);
    const index_t oh = w.geometry.out_h(), ow = w.geometry.out_w();
    for (index_t b = first; b < w.blocks; b += step)
        for (index_t r = 0; r < w.block_rows; ++r) {
            const index_t row = b * w.block_rows + r, o = w.row_order[row];
            if (o < 0) continue;
            float* src = grid + row * w.grid_stride;
            apply_epilogue<Arch>(e, o, src, w.positions());
            float* dst = output + o * oh * ow;
            if (w.wq == ow) {
                std::memcpy(dst, src, sizeof(float) * static_cast<std::size_t>(oh * ow));
            } else {
                for (index_t y = 0; y < oh; ++y)
                    std::memcpy(dst + y * ow, src + y * w.wq,
                                sizeof(float) * static_cast<std::size_t>(ow));
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
    if (batch >= thread_count || thread_count == 1) {
        workspace.prepare(static_cast<std::size_t>(thread_count), w.input_size, grid_size);
#pragma omp parallel for schedule(static)
        for (index_t n = 0; n < batch; ++n) {
            int worker = 0;
#ifdef _OPENMP
            worker = omp_get_thread_num();
#endif
            float* packed = workspace.inputs[worker].data();
            detail::sparse_pack_input(w, input + n * in_image, packed);
            detail::sparse_conv2d_image<Arch>(w, packed, workspace.grids[worker].data(),
                                              output + n * out_image, e, 0, 1);
        }
        return;
    }
    // Fewer images than threads: share one packed input, split the blocks cyclically
    // (rows are sorted by nonzero count, so cyclic shares balance the work).
    workspace.prepare(1, w.input_size, grid_size);
    float* packed = workspace.inputs[0].data();
    float* grid = workspace.grids[0].data();
    for (index_t n = 0; n < batch; ++n) {
        detail::sparse_pack_input(w, input + n * in_image, packed);
#pragma omp parallel num_threads(thread_count)
        {
            index_t first = 0, step = 1;
#ifdef _OPENMP
            first = omp_get_thread_num(), step = omp_get_num_threads();
#endif
            detail::sparse_conv2d_image<Arch>(w, packed, grid, output + n * out_image, e, first,
                                              step);
        }
    }
}

}  // namespace bpr::kernels
