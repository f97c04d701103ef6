#pragma once
// Storage formats of sparse weights and their exact byte accounting.

#include <cstdint>
#include <string>
#include <string_view>

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/sparse/granularity.hpp"
#include "bpr/sparse/mask.hpp"

namespace bpr {

// How the alive weights of one prunable tensor are stored (in sparse model files and
// in byte budgets). The tensor is seen as a weight_matrix: rows = output channels,
// cols = the rest. Values are always fp32, little-endian.
//  - csr16: row pointers, then 16-bit column indices, then values. A row longer than
//    65,536 columns is split into ceil(cols / 65536) segments of 65,536 columns each
//    (the last may be shorter); every segment is a CSR row of its own, and a column
//    index is the offset inside its segment, so it always fits in 16 bits. Row
//    pointers are uint32 (the tensor's nonzero count must be < 2^32), one per segment
//    plus one: bytes = 4 * (rows * segments + 1) + (2 + 4) * nonzeros.
//  - bitmap: one bit per weight in row-major order (bit i of the tensor is bit
//    i % 8 of byte i / 8, the last byte zero-padded), then the values:
//    bytes = ceil(rows * cols / 8) + 4 * nonzeros.
// Parameters that are not prunable (biases, batchnorm) and non-trainable buffers
// (batchnorm running statistics) are stored dense as fp32: 4 bytes per element.
enum class storage_format : std::uint32_t { csr16 = 1, bitmap = 2 };

inline std::string_view format_name(storage_format format) {
    switch (format) {
        case storage_format::csr16:
            return "csr16";
        case storage_format::bitmap:
            return "bitmap";
    }
    return "unknown";
}

// "csr16" or "bitmap"; anything else is a bpr::error naming the text.
inline storage_format parse_format(std::string_view text) {
    if (text == "csr16") return storage_format::csr16;
    if (text == "bitmap") return storage_format::bitmap;
    detail::fail("storage format: unknown format '", text, "' (expected csr16 or bitmap)");
}

// Bytes of a storage layout as an affine function of the nonzero count: the
// structure (row pointers, bitmap, dense parameters) does not depend on which weights
// are alive, each alive weight costs the same. Hence the bytes of a model depend only
// on its total nonzero count, and budgets can be resolved exactly.
struct byte_cost {
    index_t fixed = 0;        // bytes independent of the nonzero count
    index_t per_nonzero = 0;  // bytes per alive weight

    index_t bytes(index_t nonzeros) const { return fixed + per_nonzero * nonzeros; }
};

inline constexpr index_t csr16_segment_columns = 65536;

// Bytes of the fixed header of a sparse model file (bpr/io/sparse_model.hpp). A byte
// budget bounds the whole file: header + model bytes.
inline constexpr std::size_t sparse_header_bytes = 64;

// Segments per row of a csr16 tensor (at least one, also for empty rows).
inline index_t csr16_segments(index_t cols) {
    return cols <= csr16_segment_columns
               ? 1
               : (cols + csr16_segment_columns - 1) / csr16_segment_columns;
}

// The cost of one prunable tensor of shape `extents` in `format`.
inline byte_cost tensor_cost(storage_format format, const shape& extents) {
    const weight_matrix m = weight_matrix::of(extents);
    switch (format) {
        case storage_format::csr16:
            return {4 * (m.rows * csr16_segments(m.cols) + 1), 6};
        case storage_format::bitmap:
            return {(m.size() + 7) / 8, 4};
    }
    detail::fail("tensor_cost: unknown storage format ", static_cast<std::uint32_t>(format));
}

// The cost of a whole model in `format`: prunable parameters (by `roles`) in the
// format, every other parameter and every buffer dense fp32.
template <typename Model>
byte_cost model_cost(Model& model, storage_format format, prunable_roles roles = {}) {
    byte_cost cost{0, tensor_cost(format, shape{1}).per_nonzero};
    visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        if (roles(p.role))
            cost.fixed += tensor_cost(format, p.value.shape()).fixed;
        else
            cost.fixed += 4 * p.value.size();
    });
    visit_buffers(model, [&](const std::string&, auto& t) { cost.fixed += 4 * t.size(); });
    return cost;
}

// Exact bytes of `model` with the alive weights of `masks` in `format`.
template <typename Model, typename G>
index_t model_bytes(Model& model, const mask_set<G>& masks, storage_format format) {
    return model_cost(model, format, masks.roles()).bytes(masks.nonzeros());
}

}  // namespace bpr
