#pragma once
// Sparse model files: a pruned model stored in csr16 or bitmap format, and read back.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/io/atomic_file.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/sparse/format.hpp"
#include "bpr/sparse/granularity.hpp"
#include "bpr/sparse/mask.hpp"

namespace bpr {

static_assert(std::endian::native == std::endian::little,
              "bpr sparse model files are little-endian; add byte swapping for this platform");

// The fixed header of a sparse model file, 64 bytes, all integers little-endian:
//   0  char[8] magic "BPRSPRS1"     32 u64 architecture fingerprint
//   8  u32 version (1)              40 u64 alive prunable weights (nonzeros)
//  12  u32 storage format (1 csr16, 48 u64 payload bytes
//      2 bitmap)                    56 u64 FNV-1a 64 checksum of bytes 0..55 and the
//  16  u32 prunable roles code          payload
//  20  u32 parameter count
//  24  u32 prunable parameter count
//  28  u32 buffer count
// The payload follows: every parameter in visit_params order, prunable ones in the
// storage format (see bpr::storage_format), the others as raw fp32, then every buffer
// as raw fp32. Names and shapes are not stored: the fingerprint (FNV-1a 64 over each
// parameter's name, role and extents, then each buffer's name and extents) identifies
// the architecture, and the file is read into a model of that architecture.
// Hence: file size = sparse_header_bytes + model_bytes(model, masks, format), exactly.
static_assert(sparse_header_bytes == 64, "the header layout above is 64 bytes");

namespace detail {

inline constexpr char sparse_magic[8] = {'B', 'P', 'R', 'S', 'P', 'R', 'S', '1'};
inline constexpr std::uint32_t sparse_version = 1;

struct fnv1a {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    void add(const void* data, std::size_t size) {
        const auto* bytes = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < size; ++i) {
            hash ^= bytes[i];
            hash *= 0x100000001b3ULL;
        }
    }
    void add(std::string_view text) {  // with a terminator, so "ab"+"c" != "a"+"bc"
        add(text.data(), text.size());
        add("", 1);
    }
    void add_u64(std::uint64_t value) { add(&value, sizeof value); }
};

template <typename Model>
std::uint64_t architecture_fingerprint(Model& model) {
    fnv1a h;
    auto add_shape = [&](const shape& s) {
        h.add_u64(static_cast<std::uint64_t>(s.rank()));
        for (int axis = 0; axis < s.rank(); ++axis)
            h.add_u64(static_cast<std::uint64_t>(s[axis]));
    };
    visit_params(model, [&](std::size_t, const std::string& name, auto& p) {
        h.add(name);
        h.add_u64(static_cast<std::uint64_t>(p.role));
        add_shape(p.value.shape());
    });
    visit_buffers(model, [&](const std::string& name, auto& t) {
        h.add(name);
        add_shape(t.shape());
    });
    return h.hash;
}

// Appends little-endian values to a byte string.
struct byte_writer {
    std::string bytes;
    template <typename V>
    void put(V value) {
        char raw[sizeof(V)];
        std::memcpy(raw, &value, sizeof(V));
        bytes.append(raw, sizeof(V));
    }
};

// Reads little-endian values from a byte range, failing with the file and field.
struct byte_reader {
    const std::string& path;
    const unsigned char* data;
    std::size_t size;
    std::size_t offset = 0;

    template <typename V>
    V get(const char* field) {
        BPR_REQUIRE(size - offset >= sizeof(V), path, ": truncated at byte ", offset,
                    " while reading ", field);
        V value;
        std::memcpy(&value, data + offset, sizeof(V));
        offset += sizeof(V);
        return value;
    }
};

template <typename T>
void write_dense(byte_writer& out, const tensor<T>& t) {
    for (const T v : t)
        out.put(static_cast<float>(v));
}

template <typename T, typename G>
void write_sparse_tensor(byte_writer& out, const tensor<T>& value, const mask<G>& bits,
                         storage_format format) {
    const weight_matrix m = bits.matrix();
    if (format == storage_format::bitmap) {
        std::vector<unsigned char> bitmap(static_cast<std::size_t>((m.size() + 7) / 8), 0);
        for (index_t i = 0; i < m.size(); ++i)
            if (bits.kept(i)) bitmap[static_cast<std::size_t>(i / 8)] |= 1u << (i % 8);
        out.bytes.append(reinterpret_cast<const char*>(bitmap.data()), bitmap.size());
        for (index_t i = 0; i < m.size(); ++i)
            if (bits.kept(i)) out.put(static_cast<float>(value[i]));
        return;
    }
    const index_t segments = csr16_segments(m.cols);
    std::uint64_t count = 0;
    out.put(std::uint32_t{0});
    for (index_t r = 0; r < m.rows; ++r)
        for (index_t s = 0; s < segments; ++s) {
            const index_t begin = s * csr16_segment_columns;
            const index_t end = std::min(m.cols, begin + csr16_segment_columns);
            for (index_t c = begin; c < end; ++c)
                count += bits.kept(r * m.cols + c);
            BPR_REQUIRE(count <= 0xffffffffULL,
                        "sparse model: more than 2^32 - 1 nonzeros in one tensor");
            out.put(static_cast<std::uint32_t>(count));
        }
    for (index_t r = 0; r < m.rows; ++r)
        for (index_t c = 0; c < m.cols; ++c)
            if (bits.kept(r * m.cols + c))
                out.put(static_cast<std::uint16_t>(c % csr16_segment_columns));
    for (index_t i = 0; i < m.size(); ++i)
        if (bits.kept(i)) out.put(static_cast<float>(value[i]));
}

// Decodes one prunable tensor into `value` (pruned positions zero) and `keep`.
template <typename T>
void read_sparse_tensor(byte_reader& in, tensor<T>& value, std::vector<std::uint8_t>& keep,
                        storage_format format, const std::string& name) {
    const weight_matrix m = weight_matrix::of(value.shape());
    keep.assign(static_cast<std::size_t>(m.size()), 0);
    value.zero();
    const std::string field_values = name + " values";
    if (format == storage_format::bitmap) {
        const auto bytes = static_cast<std::size_t>((m.size() + 7) / 8);
        BPR_REQUIRE(in.size - in.offset >= bytes, in.path, ": truncated in the bitmap of ", name);
        const unsigned char* bitmap = in.data + in.offset;
        in.offset += bytes;
        for (index_t i = 0; i < m.size(); ++i)
            keep[static_cast<std::size_t>(i)] = (bitmap[i / 8] >> (i % 8)) & 1u;
        if (m.size() % 8 != 0)
            BPR_REQUIRE((bitmap[bytes - 1] >> (m.size() % 8)) == 0, in.path, ": bitmap of ", name,
                        " has padding bits set in its last byte");
        for (index_t i = 0; i < m.size(); ++i)
            if (keep[static_cast<std::size_t>(i)])
                value[i] = static_cast<T>(in.get<float>(field_values.c_str()));
        return;
    }
    const index_t segments = csr16_segments(m.cols);
    std::vector<std::uint32_t> row_ptr(static_cast<std::size_t>(m.rows * segments + 1));
    const std::string field_ptr = name + " row pointers";
    for (auto& p : row_ptr)
        p = in.get<std::uint32_t>(field_ptr.c_str());
    BPR_REQUIRE(row_ptr[0] == 0, in.path, ": ", name, " row pointer 0 is ", row_ptr[0],
                ", expected 0");
    for (std::size_t i = 1; i < row_ptr.size(); ++i)
        BPR_REQUIRE(row_ptr[i] >= row_ptr[i - 1], in.path, ": ", name, " row pointer ", i, " (",
                    row_ptr[i], ") is below the previous one (", row_ptr[i - 1], ")");
    const std::uint64_t count = row_ptr.back();
    BPR_REQUIRE(count <= static_cast<std::uint64_t>(m.size()) && (in.size - in.offset) / 6 >= count,
                in.path, ": ", name, " claims ", count, " nonzeros, more than its ", m.size(),
                " weights or the bytes left in the file");
    const unsigned char* columns = in.data + in.offset;
    in.offset += 2 * count;
    for (index_t r = 0; r < m.rows; ++r)
        for (index_t s = 0; s < segments; ++s) {
            const auto row = static_cast<std::size_t>(r * segments + s);
            const index_t base = s * csr16_segment_columns;
            const index_t width = std::min(m.cols - base, csr16_segment_columns);
            index_t previous = -1;
            for (std::uint32_t k = row_ptr[row]; k < row_ptr[row + 1]; ++k) {
                std::uint16_t column;
                std::memcpy(&column, columns + 2 * std::size_t{k}, 2);
                BPR_REQUIRE(column < width && column > previous, in.path, ": ", name,
                            " column index ", column, " in row ", r, " is out of range or order");
                previous = column;
                keep[static_cast<std::size_t>(r * m.cols + base + column)] = 1;
            }
        }
    for (index_t i = 0; i < m.size(); ++i)
        if (keep[static_cast<std::size_t>(i)])
            value[i] = static_cast<T>(in.get<float>(field_values.c_str()));
}

}  // namespace detail

// Writes `model` with the alive weights of `masks` in `format` to `path`, atomically.
// Values are stored as fp32. Pruned weights are not stored (they read back as zero),
// whatever the model holds there. Returns the file size in bytes, which equals
// sparse_header_bytes + model_bytes(model, masks, format).
template <typename Model, typename G>
std::size_t write_sparse_model(const std::filesystem::path& path, Model& model,
                               const mask_set<G>& masks, storage_format format) {
    masks.check(model, path.string());
    detail::byte_writer payload;
    std::uint32_t params = 0, buffers = 0;
    std::size_t next = 0;
    visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        ++params;
        if (masks.roles()(p.role))
            detail::write_sparse_tensor(payload, p.value, masks[next++].bits, format);
        else
            detail::write_dense(payload, p.value);
    });
    visit_buffers(model, [&](const std::string&, auto& t) {
        ++buffers;
        detail::write_dense(payload, t);
    });
    const index_t expected = model_bytes(model, masks, format);
    BPR_REQUIRE(static_cast<index_t>(payload.bytes.size()) == expected, path.string(),
                ": internal error: payload of ", payload.bytes.size(), " bytes, accounting says ",
                expected);
    detail::byte_writer header;
    header.bytes.append(detail::sparse_magic, 8);
    header.put(detail::sparse_version);
    header.put(static_cast<std::uint32_t>(format));
    header.put(masks.roles().code());
    header.put(params);
    header.put(static_cast<std::uint32_t>(masks.size()));
    header.put(buffers);
    header.put(detail::architecture_fingerprint(model));
    header.put(static_cast<std::uint64_t>(masks.nonzeros()));
    header.put(static_cast<std::uint64_t>(payload.bytes.size()));
    detail::fnv1a checksum;
    checksum.add(header.bytes.data(), header.bytes.size());
    checksum.add(payload.bytes.data(), payload.bytes.size());
    header.put(checksum.hash);
    write_file_atomically(path, header.bytes + payload.bytes);
    return header.bytes.size() + payload.bytes.size();
}

// What a sparse model file says about itself.
struct sparse_file_info {
    storage_format format = storage_format::csr16;
    std::uint64_t nonzeros = 0;
    std::uint64_t payload_bytes = 0;
};

namespace detail {

// What the fixed header of a sparse model file says, checked against a model.
struct sparse_header {
    storage_format format = storage_format::csr16;
    prunable_roles roles{};
    std::uint64_t nonzeros = 0;
    std::uint64_t payload_bytes = 0;
    std::uint64_t checksum = 0;
};

// Checks the 64 `header` bytes of the file `name` (of `file_size` bytes) against
// `model`: magic, version, format, roles, counts, fingerprint, and a payload size
// that both the accounting and the file size confirm. Nothing is sized by the header
// before the architecture is identified.
template <mask_policy G, typename Model>
sparse_header check_sparse_header(const std::string& name, std::string_view header,
                                  std::uint64_t file_size, Model& model) {
    if (file_size == 0) fail(name, ": the file is empty (expected a bpr sparse model file)");
    BPR_REQUIRE(file_size >= sparse_header_bytes, name, ": file of ", file_size,
                " bytes is shorter than the ", sparse_header_bytes, "-byte header (truncated)");
    BPR_REQUIRE(std::memcmp(header.data(), sparse_magic, 8) == 0, name,
                ": field 'magic' is not BPRSPRS1 (not a bpr sparse model file)");
    byte_reader h{name, reinterpret_cast<const unsigned char*>(header.data()), header.size(), 8};
    const auto version = h.get<std::uint32_t>("version");
    BPR_REQUIRE(version == sparse_version, name, ": version ", version,
                " is not supported (field 'version', expected ", sparse_version, ")");
    const auto format_code = h.get<std::uint32_t>("format");
    BPR_REQUIRE(format_code == 1 || format_code == 2, name, ": format ", format_code,
                " is unknown (field 'format': 1 = csr16, 2 = bitmap)");
    sparse_header result;
    result.format = static_cast<storage_format>(format_code);
    const auto roles_code = h.get<std::uint32_t>("roles");
    const auto params = h.get<std::uint32_t>("parameter count");
    const auto prunable = h.get<std::uint32_t>("prunable count");
    const auto buffers = h.get<std::uint32_t>("buffer count");
    const auto fingerprint = h.get<std::uint64_t>("fingerprint");
    result.nonzeros = h.get<std::uint64_t>("nonzeros");
    result.payload_bytes = h.get<std::uint64_t>("payload bytes");
    result.checksum = h.get<std::uint64_t>("checksum");
    BPR_REQUIRE(roles_code >= 1 && roles_code <= 7, name,
                ": field 'roles' (prunable roles code) is ", roles_code,
                ", invalid (expected 1 to 7)");
    result.roles =
        prunable_roles{(roles_code & 1u) != 0, (roles_code & 2u) != 0, (roles_code & 4u) != 0};

    // Identify the architecture before trusting any size in the header.
    std::uint32_t model_params = 0, model_buffers = 0;
    visit_params(model, [&](std::size_t, const std::string&, auto&) { ++model_params; });
    visit_buffers(model, [&](const std::string&, auto&) { ++model_buffers; });
    BPR_REQUIRE(params == model_params && buffers == model_buffers, name,
                ": field 'parameter count' ", params, " and field 'buffer count' ", buffers,
                " do not match the model's ", model_params, " and ", model_buffers,
                " (file of another model)");
    const auto model_fingerprint = architecture_fingerprint(model);
    BPR_REQUIRE(fingerprint == model_fingerprint, name, ": field 'fingerprint' (architecture) ",
                std::hex, fingerprint, " differs from the model's ", model_fingerprint,
                " (parameter names or shapes differ: file of another model)");
    const auto masks = mask_set<G>::dense(model, result.roles);
    BPR_REQUIRE(prunable == masks.size(), name, ": field 'prunable count' is ", prunable,
                ", the model has ", masks.size());
    BPR_REQUIRE(result.nonzeros <= static_cast<std::uint64_t>(masks.total()), name,
                ": field 'nonzeros' is ", result.nonzeros, ", more than the model's ",
                masks.total(), " prunable weights");
    const auto expected_payload =
        static_cast<std::uint64_t>(model_cost(model, result.format, result.roles)
                                       .bytes(static_cast<index_t>(result.nonzeros)));
    BPR_REQUIRE(result.payload_bytes == expected_payload, name, ": field 'payload bytes' is ",
                result.payload_bytes, ", but ", result.nonzeros, " nonzeros in ",
                format_name(result.format), " need ", expected_payload);
    BPR_REQUIRE(file_size == sparse_header_bytes + result.payload_bytes, name, ": file has ",
                file_size, " bytes, header says ", sparse_header_bytes + result.payload_bytes,
                file_size < sparse_header_bytes + result.payload_bytes ? " (truncated)"
                                                                       : " (trailing bytes)");
    return result;
}

// Decodes a payload whose header check_sparse_header accepted into `model` and returns
// its masks. The checksum is verified first; values that are not finite are rejected
// (a pruned model with NaN or Inf weights is corrupt, not a model).
template <mask_policy G, typename Model>
mask_set<G> decode_sparse_payload(const std::string& name, std::string_view header,
                                  std::string_view payload, const sparse_header& head,
                                  Model& model) {
    fnv1a checksum;
    checksum.add(header.data(), sparse_header_bytes - 8);
    checksum.add(payload.data(), payload.size());
    BPR_REQUIRE(checksum.hash == head.checksum, name,
                ": field 'checksum' does not match the contents (file corrupt)");

    auto masks = mask_set<G>::dense(model, head.roles);
    byte_reader in{name, reinterpret_cast<const unsigned char*>(payload.data()), payload.size()};
    auto require_finite = [&](const auto& values, const std::string& param_name) {
        for (index_t i = 0; i < values.size(); ++i)
            BPR_REQUIRE(std::isfinite(static_cast<double>(values[i])), name, ": field '",
                        param_name, " values' has ", static_cast<double>(values[i]),
                        " at position ", i, " (NaN and Inf weights are not accepted)");
    };
    std::size_t next = 0;
    std::vector<std::uint8_t> keep;
    visit_params(model, [&](std::size_t, const std::string& param_name, auto& p) {
        using T = typename std::decay_t<decltype(p.value)>::value_type;
        if (head.roles(p.role)) {
            read_sparse_tensor(in, p.value, keep, head.format, param_name);
            masks[next++].bits.set_bits(keep, name + ": " + param_name);
        } else {
            const std::string field = param_name + " values";
            for (auto& v : p.value)
                v = static_cast<T>(in.get<float>(field.c_str()));
        }
        require_finite(p.value, param_name);
    });
    visit_buffers(model, [&](const std::string& buffer_name, auto& t) {
        using T = typename std::decay_t<decltype(t)>::value_type;
        const std::string field = buffer_name + " values";
        for (auto& v : t)
            v = static_cast<T>(in.get<float>(field.c_str()));
        require_finite(t, buffer_name);
    });
    BPR_REQUIRE(in.offset == payload.size() &&
                    static_cast<std::uint64_t>(masks.nonzeros()) == head.nonzeros,
                name, ": payload holds ", masks.nonzeros(), " nonzeros in ", in.offset,
                " bytes, field 'nonzeros' says ", head.nonzeros, " in ", payload.size());
    return masks;
}

}  // namespace detail

// Reads a file written by write_sparse_model into `model` (same architecture):
// every parameter and buffer is overwritten, pruned weights become zero, and the
// masks are returned with granularity G (checked against the file's pattern).
// Throws bpr::error naming the file and the field for an empty or truncated file, a
// wrong magic or version, trailing bytes, a checksum mismatch, a file of another
// architecture or pruned with other roles, inconsistent sparse structure, or NaN/Inf
// values. The payload is read only after the header and the file size agree. On
// error the model may be partly overwritten (the masks are not returned).
template <mask_policy G = unstructured, typename Model>
mask_set<G> read_sparse_model(const std::filesystem::path& path, Model& model,
                              sparse_file_info* info = nullptr) {
    const std::string name = path.string();
    std::ifstream file(path, std::ios::binary);
    BPR_REQUIRE(file, name, ": cannot open sparse model file");
    file.seekg(0, std::ios::end);
    const auto file_size = static_cast<std::uint64_t>(file.tellg());
    file.seekg(0);
    std::string header(
        static_cast<std::size_t>(std::min<std::uint64_t>(file_size, sparse_header_bytes)), '\0');
    file.read(header.data(), static_cast<std::streamsize>(header.size()));
    BPR_REQUIRE(file, name, ": cannot read the header");
    const auto head = detail::check_sparse_header<G>(name, header, file_size, model);
    std::string payload(static_cast<std::size_t>(head.payload_bytes), '\0');
    file.read(payload.data(), static_cast<std::streamsize>(payload.size()));
    BPR_REQUIRE(file, name, ": cannot read the payload");
    auto masks = detail::decode_sparse_payload<G>(name, header, payload, head, model);
    if (info) *info = {head.format, head.nonzeros, head.payload_bytes};
    return masks;
}

// As read_sparse_model, for the bytes of a sparse model file already in memory;
// `name` stands for the file in messages.
template <mask_policy G = unstructured, typename Model>
mask_set<G> parse_sparse_model(std::string_view bytes, Model& model,
                               const std::string& name = "sparse model bytes",
                               sparse_file_info* info = nullptr) {
    const std::string_view header = bytes.substr(0, sparse_header_bytes);
    const auto head = detail::check_sparse_header<G>(name, header, bytes.size(), model);
    auto masks = detail::decode_sparse_payload<G>(name, header, bytes.substr(sparse_header_bytes),
                                                  head, model);
    if (info) *info = {head.format, head.nonzeros, head.payload_bytes};
    return masks;
}

}  // namespace bpr
