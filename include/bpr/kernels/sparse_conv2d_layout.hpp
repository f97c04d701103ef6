#pragma once
// The packed weight layout of the direct sparse convolution, and the matching input
// layout (zero-padded, split into stride phases so that every load is contiguous).

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "bpr/core/error.hpp"
#include "bpr/kernels/conv2d_geometry.hpp"

namespace bpr::kernels {

namespace detail {
// Whether the kernel's lane shift for aligned tap groups (add_shifted) is one permute
// per vector: with AVX-512 only; elsewhere it goes through memory.
#if defined(__AVX512F__)
inline constexpr bool native_lane_shift = xsimd::batch<float>::size == 16;
#else
inline constexpr bool native_lane_shift = false;
#endif
}  // namespace detail

// Knobs of sparse_conv2d_weights::pack; the defaults are what the benchmarks chose.
struct sparse_conv2d_options {
    // Input channels per chunk; 0 picks the larger of "fits in l1_bytes" and "gives each
    // output row about min_entries_per_chunk nonzeros per chunk".
    index_t chunk_channels = 0;
    index_t l1_bytes = 24 * 1024;
    index_t min_entries_per_chunk = 24;
    // Vector width in floats the kernel will run with (xsimd's default arch).
    index_t lanes = static_cast<index_t>(xsimd::batch<float>::size);
    // Store 32-bit offsets even when 16-bit ones fit (for tests and measurements).
    bool force_wide_offsets = false;
    // Aligned tap groups (see sparse_conv2d_weights): a row's taps that share one
    // misalignment are accumulated from aligned loads and shifted into place once, when
    // the layout allows it and at least this many of them fall in one chunk; 0 = never.
    // By default only where the shift is a permute: through memory (AVX2) the groups made
    // the 256x256@14x14 layer 8-16% slower on a Zen 3 (docs/sparse_kernels.md).
    index_t min_group_entries = detail::native_lane_shift ? 2 : 0;
};

namespace detail {

// Output rows processed together by the kernel for a tile of `tile_vectors` vectors:
// enough independent accumulators to hide the FMA latency, few enough for registers.
// Above 8 vectors one row already has enough chains (1 x 14 measured ~5% faster than
// 2 x 7 on 256x256@14x14: half the broadcasts and offset loads per FMA).
constexpr index_t sparse_block_rows(index_t tile_vectors) {
    return tile_vectors <= 4 ? 4 : (tile_vectors <= 8 ? 2 : 1);
}
inline constexpr index_t sparse_max_tile_vectors = 16;
inline constexpr index_t sparse_max_block_rows = 4;
inline constexpr index_t sparse_max_tap_groups = 7;

}  // namespace detail

// What it represents: the packed input layout and position tiling shared by the direct
// sparse and the depthwise kernels: the zero-padded input (hp x wp) of each channel is
// split into s * s stride phases of hq x wq (s = stride), so that output position
// (y, x) of tap (ky, kx) reads phase (ky % s) * s + kx % s at y * wq + x + (ky / s) * wq
// + kx / s. Positions are computed on the out_h x wq grid (columns >= out_w are
// discarded) in tiles of tile_vectors vectors.
// Requires: square stride. Guarantees: input_size covers every over-read of the kernels.
struct sparse_input_layout {
    conv2d_geometry geometry;  // batch is ignored
    index_t hq = 0, wq = 0, plane = 0, channel_stride = 0;
    index_t lanes = 0, tile_vectors = 0, tiles = 0;
    index_t grid_stride = 0;  // floats per output row in the kernel's scratch grid
    index_t input_size = 0;   // floats of one packed input image, including the over-read

    index_t positions() const { return geometry.out_h() * wq; }
    // Offset of tap (ky, kx) inside its channel's phase planes.
    index_t tap_offset(index_t ky, index_t kx) const {
        const index_t s = geometry.stride_h;
        return ((ky % s) * s + kx % s) * plane + (ky / s) * wq + kx / s;
    }

    static sparse_input_layout make(const conv2d_geometry& g, index_t lanes, const char* where,
                                    index_t max_tile_vectors = detail::sparse_max_tile_vectors) {
        g.validate(where);
        BPR_REQUIRE(g.stride_h == g.stride_w, where, ": stride must be square, got ", g.stride_h,
                    "x", g.stride_w);
        BPR_REQUIRE(lanes >= 1, where, ": lanes must be >= 1, got ", lanes);
        sparse_input_layout l;
        l.geometry = g;
        const index_t s = g.stride_h;
        const index_t hp = g.in_h + 2 * g.pad_h, wp = g.in_w + 2 * g.pad_w;
        l.hq = (hp + s - 1) / s, l.wq = (wp + s - 1) / s;
        l.plane = l.hq * l.wq;
        l.channel_stride = s * s * l.plane;
        l.lanes = lanes;
        // Tile: T vectors of positions, chosen to minimise tiles * (T + 1) (the +1 is
        // the per-entry broadcast and offset load).
        const index_t vectors = (l.positions() + lanes - 1) / lanes;
        index_t best_t = 1, best_cost = -1;
        for (index_t t = 1; t <= max_tile_vectors; ++t) {
            const index_t tiles = (vectors + t - 1) / t;
            const index_t cost = tiles * (t + 1);
            if (best_cost < 0 || cost <= best_cost) best_cost = cost, best_t = t;
            if (t >= vectors) break;
        }
        l.tile_vectors = best_t;
        l.tiles = (vectors + best_t - 1) / best_t;
        l.grid_stride = l.tiles * best_t * lanes;
        l.input_size = g.in_channels * l.channel_stride + l.grid_stride + lanes;
        return l;
    }
};

// What it represents: the nonzeros of a dense OIHW convolution weight (groups == 1),
// packed for the direct sparse kernel. Each nonzero is a value and a precomputed offset
// into the packed input of its input-channel chunk:
//   offset = (c - chunk_first) * channel_stride + phase * plane + (ky / s) * wq + kx / s,
// phase = (ky % s) * s + kx % s, plane = hq * wq, where the padded input (hp x wp) is
// split into s * s phase planes of hq x wq (s = stride; for stride 1 the offset is
// c * hp * wp + ky * wp + kx). Output position (y, x) then reads input y * wq + x + offset,
// so a vector of consecutive positions is one contiguous load.
// Output rows are sorted by nonzero count and grouped in blocks of block_rows; within
// a (chunk, block) segment the first `common` entries of every row are interleaved,
// the rest follow row by row.
// Guarantees: offsets are 16-bit when every chunk's range fits (chunks are split to
// make it fit), 32-bit otherwise; unpack() returns the dense weight exactly.
struct sparse_conv2d_weights : sparse_input_layout {
    struct segment {
        index_t start = 0;   // into values/offsets
        index_t common = 0;  // interleaved entries per row
        std::array<std::int32_t, detail::sparse_max_block_rows> tail{};  // extra entries per row
        // With tap_shifts: the row's last entries, group i holding group_size[i] entries
        // whose offset is tap_shifts[i] past a multiple of lanes (the rest come first).
        std::array<std::int32_t, detail::sparse_max_tap_groups> group_size{};
    };

    index_t block_rows = 0;
    index_t chunk_channels = 0, chunks = 0, blocks = 0;
    bool wide = false;
    // Aligned tap groups, one row per block only. An entry whose offset is m > 0 floats
    // past a multiple of lanes makes every load of its tile straddle two cache lines
    // (on AVX-512 a load is a whole line). When every chunk starts on a vector and the m
    // lanes a shift pushes out of a tile are discarded grid columns, the entries of one
    // m are accumulated from aligned loads at offset - m into their own registers, which
    // are then shifted by m lanes into the row's accumulators: one shuffle per vector
    // per group instead of one straddling load per vector per entry. tap_shifts lists
    // the usable m (ascending); empty when the layout does not allow it.
    std::vector<index_t> tap_shifts;
    std::vector<float> values;
    std::vector<std::uint16_t> offsets16;
    std::vector<std::uint32_t> offsets32;
    std::vector<index_t> row_order;  // packed row -> output channel, -1 for padding rows
    std::vector<segment> segments;   // [chunk][block]

    index_t nnz() const { return static_cast<index_t>(values.size()); }
    // Bytes of the packed arrays (values, offsets, segments): what the kernel streams.
    index_t bytes() const {
        return nnz() * static_cast<index_t>(sizeof(float) + (wide ? 4 : 2)) +
               static_cast<index_t>(segments.size() * sizeof(segment));
    }
    index_t offset(index_t i) const {
        return wide ? static_cast<index_t>(offsets32[i]) : static_cast<index_t>(offsets16[i]);
    }
    const segment& at(index_t chunk, index_t block) const {
        return segments[chunk * blocks + block];
    }

    // Calls f(value, offset_from_image_start) for every nonzero of packed row `row`.
    template <typename F>
    void for_each_entry(index_t row, F&& f) const {
        const index_t block = row / block_rows, r = row % block_rows;
        for (index_t k = 0; k < chunks; ++k) {
            const segment& s = at(k, block);
            const index_t base = k * chunk_channels * channel_stride;
            for (index_t j = 0; j < s.common; ++j) {
                const index_t i = s.start + j * block_rows + r;
                f(values[i], base + offset(i));
            }
            index_t i = s.start + s.common * block_rows;
            for (index_t q = 0; q < r; ++q)
                i += s.tail[q];
            for (index_t j = 0; j < s.tail[r]; ++j, ++i)
                f(values[i], base + offset(i));
        }
    }

    // Packs a dense OIHW weight; zeros are dropped.
    static sparse_conv2d_weights pack(const conv2d_geometry& g, const float* weight,
                                      const sparse_conv2d_options& options = {}) {
        BPR_REQUIRE(g.groups == 1, "sparse_conv2d_weights::pack: groups must be 1, got ", g.groups,
                    " (use depthwise_conv2d for depthwise layers)");
        sparse_conv2d_weights w;
        static_cast<sparse_input_layout&>(w) =
            sparse_input_layout::make(g, options.lanes, "sparse_conv2d_weights::pack");
        const index_t s = g.stride_h, k_h = g.kernel_h, k_w = g.kernel_w;
        w.block_rows = detail::sparse_block_rows(w.tile_vectors);

        // Nonzeros per (output channel, input channel).
        const index_t taps = k_h * k_w, cin = g.in_channels, cout = g.out_channels;
        std::vector<index_t> row_nnz(static_cast<std::size_t>(cout), 0);
        for (index_t o = 0; o < cout; ++o)
            for (index_t i = 0; i < cin * taps; ++i)
                row_nnz[o] += weight[o * cin * taps + i] != 0.0f;
        const index_t total = std::accumulate(row_nnz.begin(), row_nnz.end(), index_t{0});

        // Chunk size: L1-sized, or larger when rows are so sparse that per-chunk
        // accumulator reloads would dominate; then capped so offsets fit in 16 bits.
        const index_t in_channel_span =
            (s * s - 1) * w.plane + ((k_h - 1) / s) * w.wq + (k_w - 1) / s;
        index_t chunk = options.chunk_channels;
        if (chunk <= 0) {
            const index_t fit = std::max<index_t>(1, options.l1_bytes / 4 / w.channel_stride);
            const double per_channel = total > 0 ? double(total) / double(cout) / double(cin) : 0.0;
            const index_t dense_enough =
                per_channel > 0 ? static_cast<index_t>(options.min_entries_per_chunk / per_channel)
                                : cin;
            chunk = std::max(fit, dense_enough);
        }
        chunk = std::clamp<index_t>(chunk, 1, cin);
        const index_t fits16 = (65535 - in_channel_span) / w.channel_stride + 1;
        w.wide = options.force_wide_offsets || in_channel_span > 65535;
        if (!w.wide) chunk = std::min(chunk, fits16);
        w.chunk_channels = chunk;
        w.chunks = (cin + chunk - 1) / chunk;

        // Rows sorted by nonzero count (stable, so the packing is deterministic).
        std::vector<index_t> order(static_cast<std::size_t>(cout));
        std::iota(order.begin(), order.end(), index_t{0});
        std::stable_sort(order.begin(), order.end(),
                         [&](index_t a, index_t b) { return row_nnz[a] > row_nnz[b]; });
        const index_t rows = w.block_rows;
        if (options.min_group_entries > 0) w.tap_shifts = usable_tap_shifts(w);
        w.blocks = (cout + rows - 1) / rows;
        w.row_order.assign(static_cast<std::size_t>(w.blocks * rows), -1);
        std::copy(order.begin(), order.end(), w.row_order.begin());

        w.values.reserve(static_cast<std::size_t>(total));
        std::vector<index_t> offsets;
        offsets.reserve(static_cast<std::size_t>(total));
        w.segments.resize(static_cast<std::size_t>(w.chunks * w.blocks));
        std::vector<std::vector<std::pair<float, index_t>>> entries(static_cast<std::size_t>(rows));
        for (index_t kc = 0; kc < w.chunks; ++kc) {
            const index_t c0 = kc * chunk, c1 = std::min(cin, c0 + chunk);
            for (index_t b = 0; b < w.blocks; ++b) {
                index_t common = -1;
                for (index_t r = 0; r < rows; ++r) {
                    auto& list = entries[r];
                    list.clear();
                    const index_t o = w.row_order[b * rows + r];
                    if (o >= 0)
                        for (index_t c = c0; c < c1; ++c)
                            for (index_t ky = 0; ky < k_h; ++ky)
                                for (index_t kx = 0; kx < k_w; ++kx) {
                                    const float v = weight[((o * cin + c) * k_h + ky) * k_w + kx];
                                    if (v == 0.0f) continue;
                                    list.emplace_back(
                                        v, (c - c0) * w.channel_stride + w.tap_offset(ky, kx));
                                }
                    // Ascending offsets: consecutive entries touch neighbouring input.
                    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b2) {
                        return a.second < b2.second;
                    });
                    const auto n = static_cast<index_t>(list.size());
                    common = common < 0 ? n : std::min(common, n);
                }
                segment& seg = w.segments[kc * w.blocks + b];
                if (!w.tap_shifts.empty())
                    seg.group_size = w.group_entries(entries[0], options.min_group_entries);
                seg.start = static_cast<index_t>(w.values.size());
                seg.common = common;
                for (index_t j = 0; j < common; ++j)
                    for (index_t r = 0; r < rows; ++r) {
                        w.values.push_back(entries[r][j].first);
                        offsets.push_back(entries[r][j].second);
                    }
                for (index_t r = 0; r < rows; ++r) {
                    seg.tail[r] = static_cast<std::int32_t>(entries[r].size()) -
                                  static_cast<std::int32_t>(common);
                    for (std::size_t j = static_cast<std::size_t>(common); j < entries[r].size();
                         ++j) {
                        w.values.push_back(entries[r][j].first);
                        offsets.push_back(entries[r][j].second);
                    }
                }
            }
        }
        if (w.wide) {
            w.offsets32.assign(offsets.begin(), offsets.end());
        } else {
            w.offsets16.resize(offsets.size());
            for (std::size_t i = 0; i < offsets.size(); ++i) {
                BPR_REQUIRE(offsets[i] >= 0 && offsets[i] <= 65535,
                            "sparse_conv2d_weights::pack: offset ", offsets[i],
                            " does not fit 16 bits (internal error)");
                w.offsets16[i] = static_cast<std::uint16_t>(offsets[i]);
            }
        }
        return w;
    }

    // The shifts m that aligned tap groups can use on this layout (see tap_shifts): a
    // shift pushes the first m lanes of the vector after each tile's end into that
    // tile's last m positions, which must be discarded columns or past the grid.
    static std::vector<index_t> usable_tap_shifts(const sparse_conv2d_weights& w) {
        const conv2d_geometry& g = w.geometry;
        std::vector<index_t> shifts;
        if (w.block_rows != 1 || w.lanes < 2 || w.channel_stride % w.lanes != 0) return shifts;
        const index_t tile_span = w.tile_vectors * w.lanes, out_w = g.out_w();
        std::vector<bool> used(static_cast<std::size_t>(w.lanes), false);
        for (index_t ky = 0; ky < g.kernel_h; ++ky)
            for (index_t kx = 0; kx < g.kernel_w; ++kx)
                used[static_cast<std::size_t>(w.tap_offset(ky, kx) % w.lanes)] = true;
        for (index_t m = 1; m < w.lanes; ++m) {
            if (!used[static_cast<std::size_t>(m)]) continue;
            bool discarded = true;
            for (index_t t = 1; t <= w.tiles && discarded; ++t)
                for (index_t p = t * tile_span - m; p < t * tile_span; ++p)
                    discarded = discarded && (p >= w.positions() || p % w.wq >= out_w);
            if (discarded && static_cast<index_t>(shifts.size()) < detail::sparse_max_tap_groups)
                shifts.push_back(m);
        }
        return shifts;
    }

    // Reorders one row's (value, offset) entries of a chunk, ascending offsets: first
    // those loaded as they are, then one group per tap shift with at least
    // `min_entries` entries. Returns the group sizes.
    std::array<std::int32_t, detail::sparse_max_tap_groups> group_entries(
        std::vector<std::pair<float, index_t>>& list, index_t min_entries) const {
        const auto group_of = [&](index_t offset) -> index_t {
            const auto it = std::find(tap_shifts.begin(), tap_shifts.end(), offset % lanes);
            return it == tap_shifts.end() ? -1 : static_cast<index_t>(it - tap_shifts.begin());
        };
        std::array<index_t, detail::sparse_max_tap_groups> count{};
        for (const auto& entry : list)
            if (const index_t i = group_of(entry.second); i >= 0) ++count[i];
        const auto key = [&](index_t offset) {
            const index_t i = group_of(offset);
            return i >= 0 && count[i] >= min_entries ? i : index_t{-1};
        };
        std::stable_sort(list.begin(), list.end(), [&](const auto& a, const auto& b) {
            return key(a.second) < key(b.second);
        });
        std::array<std::int32_t, detail::sparse_max_tap_groups> sizes{};
        for (std::size_t i = 0; i < sizes.size(); ++i)
            if (count[i] >= min_entries) sizes[i] = static_cast<std::int32_t>(count[i]);
        return sizes;
    }

    // The dense OIHW weight these nonzeros came from (zeros where nothing is stored).
    void unpack(float* weight) const {
        const conv2d_geometry& g = geometry;
        const index_t s = g.stride_h, taps = g.kernel_h * g.kernel_w;
        std::fill(weight, weight + g.out_channels * g.in_channels * taps, 0.0f);
        for (index_t row = 0; row < blocks * block_rows; ++row) {
            const index_t o = row_order[row];
            if (o < 0) continue;
            for_each_entry(row, [&](float v, index_t off) {
                const index_t c = off / channel_stride;
                index_t rest = off % channel_stride;
                const index_t phase = rest / plane;
                rest %= plane;
                const index_t ky = (rest / wq) * s + phase / s, kx = (rest % wq) * s + phase % s;
                weight[((o * g.in_channels + c) * g.kernel_h + ky) * g.kernel_w + kx] = v;
            });
        }
    }
};

namespace detail {

// Channels [c0, c1) of sparse_pack_input, assuming a zero border.
inline void sparse_pack_input_channels(const sparse_input_layout& w, const float* image,
                                       float* packed, index_t c0, index_t c1) {
    const conv2d_geometry& g = w.geometry;
    const index_t s = g.stride_h, h = g.in_h, wd = g.in_w;
    for (index_t c = c0; c < c1; ++c) {
        const float* src = image + c * h * wd;
        for (index_t py = 0; py < s; ++py)
            for (index_t px = 0; px < s; ++px) {
                float* dst = packed + c * w.channel_stride + (py * s + px) * w.plane;
                // Phase (py, px) holds padded pixels (qy * s + py, qx * s + px).
                const index_t qx0 = (g.pad_w - px + s - 1) / s;  // first qx with ix >= 0
                for (index_t qy = 0; qy < w.hq; ++qy) {
                    const index_t iy = qy * s + py - g.pad_h;
                    if (iy < 0 || iy >= h) continue;
                    float* row = dst + qy * w.wq;
                    const float* in = src + iy * wd;
                    if (s == 1) {
                        for (index_t x = 0; x < wd; ++x)
                            row[g.pad_w + x] = in[x];
                    } else {
                        for (index_t qx = qx0, ix = qx0 * s + px - g.pad_w; ix < wd && qx < w.wq;
                             ++qx, ix += s)
                            row[qx] = in[ix];
                    }
                }
            }
    }
}

// Writes image (C x H x W) into the packed input layout of `w`: zero-padded, split into
// stride phases, followed by zeros for the kernel's over-read. The border and the tail
// never change, so when `border_is_zero` (the buffer already holds a packed image of
// the same geometry) only the interior is written.
inline void sparse_pack_input(const sparse_input_layout& w, const float* image, float* packed,
                              bool border_is_zero = false) {
    if (!border_is_zero)
        std::memset(packed, 0, sizeof(float) * static_cast<std::size_t>(w.input_size));
    sparse_pack_input_channels(w, image, packed, 0, w.geometry.in_channels);
}

}  // namespace detail

}  // namespace bpr::kernels
