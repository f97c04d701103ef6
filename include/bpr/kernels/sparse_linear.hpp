#pragma once
// Sparse fully connected layer as SpMM: CSR weights (16-bit column indices when they
// fit) times a batch of inputs, vectorized over the batch with xsimd; scalar twin.

#include <algorithm>
#include <cstdint>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "bpr/core/error.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/kernels/epilogue.hpp"
#include "bpr/kernels/sparse_conv2d.hpp"

namespace bpr::kernels {

// What it represents: the nonzeros of a dense [out, in] weight in CSR: row o holds
// values/columns [starts[o], starts[o + 1]) in ascending column order.
// Guarantees: columns are 16-bit when in_features <= 65536, 32-bit otherwise or when
// packed with force_wide (unlike the csr16 export format, which splits wider rows into
// 16-bit segments: bytes() is this kernel layout's size, not the budget's accounting);
// unpack() returns the dense weight exactly.
struct sparse_linear_weights {
    index_t in_features = 0, out_features = 0;
    bool wide = false;
    std::vector<float> values;
    std::vector<std::uint16_t> columns16;
    std::vector<std::uint32_t> columns32;
    std::vector<index_t> starts;

    index_t nnz() const { return static_cast<index_t>(values.size()); }
    index_t column(index_t i) const {
        return wide ? static_cast<index_t>(columns32[i]) : static_cast<index_t>(columns16[i]);
    }
    // Bytes of values, column indices and row starts (32-bit row pointers).
    index_t bytes() const { return nnz() * (wide ? 8 : 6) + (out_features + 1) * 4; }

    static sparse_linear_weights pack(index_t out_features, index_t in_features,
                                      const float* weight, bool force_wide = false) {
        BPR_REQUIRE(out_features >= 0 && in_features >= 1,
                    "sparse_linear_weights::pack: bad shape [", out_features, ", ", in_features,
                    "]");
        sparse_linear_weights w;
        w.in_features = in_features, w.out_features = out_features;
        w.wide = force_wide || in_features > 65536;
        w.starts.push_back(0);
        for (index_t o = 0; o < out_features; ++o) {
            for (index_t i = 0; i < in_features; ++i) {
                const float v = weight[o * in_features + i];
                if (v == 0.0f) continue;
                w.values.push_back(v);
                if (w.wide)
                    w.columns32.push_back(static_cast<std::uint32_t>(i));
                else
                    w.columns16.push_back(static_cast<std::uint16_t>(i));
            }
            w.starts.push_back(w.nnz());
        }
        return w;
    }

    void unpack(float* weight) const {
        std::fill(weight, weight + out_features * in_features, 0.0f);
        for (index_t o = 0; o < out_features; ++o)
            for (index_t j = starts[o]; j < starts[o + 1]; ++j)
                weight[o * in_features + column(j)] = values[j];
    }
};

// Scratch of sparse_linear_forward: the transposed, lane-padded input and one output
// tile per thread.
struct sparse_linear_workspace {
    tensor<float> transposed;
    std::vector<tensor<float>> tiles;
};

namespace detail {

// Row o for the batch columns [n0, n0 + T * lanes) of the transposed input.
template <class Arch, std::size_t T, class Column>
void sparse_linear_row(const sparse_linear_weights& w, const Column* columns, index_t o,
                       const float* xt, index_t stride, index_t n0, float* tile,
                       const epilogue& e) {
    using batch = xsimd::batch<float, Arch>;
    constexpr std::size_t lanes = batch::size;
    batch acc[T];
    static_for<T>([&](auto i) { acc[i] = batch(0.0f); });
    for (index_t j = w.starts[o]; j < w.starts[o + 1]; ++j) {
        const batch weight(w.values[j]);
        const float* src = xt + static_cast<index_t>(columns[j]) * stride + n0;
        static_for<T>([&](auto i) {
            acc[i] = xsimd::fma(weight, batch::load_aligned(src + i * lanes), acc[i]);
        });
    }
    if (!e.is_identity()) {
        const batch scale(e.scale ? e.scale[o] : 1.0f), bias(e.bias ? e.bias[o] : 0.0f);
        static_for<T>(
            [&](auto i) { acc[i] = activate<Arch>(xsimd::fma(acc[i], scale, bias), e.act); });
    }
    static_for<T>([&](auto i) { acc[i].store_aligned(tile + i * lanes); });
}

// sum_j values[j] * x[columns[j]] over [first, last) in four interleaved partial sums:
// one running sum waits for the latency of each multiply-add in turn. Hardware gathers
// were measured 11x slower than this on the Zen 5 machine (docs/sparse_kernels.md). The
// order is fixed, so the result does not depend on the thread count.
template <class Column>
float sparse_dot(const float* values, const Column* columns, index_t first, index_t last,
                 const float* x) {
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    index_t j = first;
    for (; j + 4 <= last; j += 4)
        for (int i = 0; i < 4; ++i)
            sum[i] += values[j + i] * x[columns[j + i]];
    for (int i = 0; j < last; ++j, ++i)
        sum[i] += values[j] * x[columns[j]];
    return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

template <class Column>
void sparse_linear_vector(const sparse_linear_weights& w, const Column* columns, const float* x,
                          float* y, const epilogue& e) {
    auto row = [&](index_t o) {
        y[o] = epilogue_scalar(
            e, o, sparse_dot(w.values.data(), columns, w.starts[o], w.starts[o + 1], x));
    };
    // One multiply-add per nonzero: most layers stay on one thread (see min_parallel_work).
    parallel_for(
        w.out_features, [&](index_t o, int) { row(o); }, w.nnz());
}

template <class Arch, class Column>
void sparse_linear_batched(const sparse_linear_weights& w, const Column* columns,
                           index_t batch_size, const float* xt, index_t stride, float* output,
                           const epilogue& e, sparse_linear_workspace& workspace) {
    constexpr index_t lanes = static_cast<index_t>(xsimd::batch<float, Arch>::size);
    constexpr index_t tile_vectors = 4;
    const long long work = static_cast<long long>(w.nnz()) * ((batch_size + lanes - 1) / lanes);
    parallel_for(
        w.out_features,
        [&](index_t o, int worker) {
            float* tile = workspace.tiles[worker].data();
            for (index_t n0 = 0; n0 < batch_size; n0 += tile_vectors * lanes) {
                const index_t count = std::min(batch_size - n0, tile_vectors * lanes);
                const index_t vectors = (count + lanes - 1) / lanes;
                switch (vectors) {
                    case 1:
                        sparse_linear_row<Arch, 1>(w, columns, o, xt, stride, n0, tile, e);
                        break;
                    case 2:
                        sparse_linear_row<Arch, 2>(w, columns, o, xt, stride, n0, tile, e);
                        break;
                    case 3:
                        sparse_linear_row<Arch, 3>(w, columns, o, xt, stride, n0, tile, e);
                        break;
                    default:
                        sparse_linear_row<Arch, 4>(w, columns, o, xt, stride, n0, tile, e);
                        break;
                }
                for (index_t n = 0; n < count; ++n)
                    output[(n0 + n) * w.out_features + o] = tile[n];
            }
        },
        work);
}

}  // namespace detail

// output[n, o] = epilogue(sum_i W[o, i] * input[n, i]) for n < batch; row-major
// [batch, in] input and [batch, out] output. Batches of at least one vector run as SpMM
// over the transposed input; smaller batches as one dot product per row (SpMV).
template <class Arch = xsimd::default_arch>
void sparse_linear_forward(const sparse_linear_weights& w, index_t batch, const float* input,
                           float* output, const epilogue& e, sparse_linear_workspace& workspace) {
    constexpr index_t lanes = static_cast<index_t>(xsimd::batch<float, Arch>::size);
    BPR_REQUIRE(batch >= 0, "sparse_linear_forward: batch must be >= 0, got ", batch);
    if (batch < lanes) {
        for (index_t n = 0; n < batch; ++n) {
            const float* x = input + n * w.in_features;
            float* y = output + n * w.out_features;
            if (w.wide)
                detail::sparse_linear_vector(w, w.columns32.data(), x, y, e);
            else
                detail::sparse_linear_vector(w, w.columns16.data(), x, y, e);
        }
        return;
    }
    const index_t stride = (batch + lanes - 1) / lanes * lanes;
    workspace.transposed.resize({w.in_features * stride});
    float* xt = workspace.transposed.data();
    for (index_t i = 0; i < w.in_features; ++i) {
        for (index_t n = 0; n < batch; ++n)
            xt[i * stride + n] = input[n * w.in_features + i];
        for (index_t n = batch; n < stride; ++n)
            xt[i * stride + n] = 0.0f;
    }
    const int thread_count = threads();
    if (static_cast<int>(workspace.tiles.size()) < thread_count)
        workspace.tiles.resize(static_cast<std::size_t>(thread_count));
    for (auto& t : workspace.tiles)
        t.resize({4 * lanes});
    if (w.wide)
        detail::sparse_linear_batched<Arch>(w, w.columns32.data(), batch, xt, stride, output, e,
                                            workspace);
    else
        detail::sparse_linear_batched<Arch>(w, w.columns16.data(), batch, xt, stride, output, e,
                                            workspace);
}

// The scalar twin: one dot product per output, in CSR order.
inline void sparse_linear_reference_forward(const sparse_linear_weights& w, index_t batch,
                                            const float* input, float* output, const epilogue& e) {
    for (index_t n = 0; n < batch; ++n)
        for (index_t o = 0; o < w.out_features; ++o) {
            float sum = 0.0f;
            for (index_t j = w.starts[o]; j < w.starts[o + 1]; ++j)
                sum += w.values[j] * input[n * w.in_features + w.column(j)];
            output[n * w.out_features + o] = epilogue_scalar(e, o, sum);
        }
}

}  // namespace bpr::kernels
