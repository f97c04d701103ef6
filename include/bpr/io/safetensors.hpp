#pragma once
// safetensors files: reading, validating and writing them, and moving a model (and its
// masks) in and out under PyTorch state_dict names.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/io/atomic_file.hpp"
#include "bpr/io/json.hpp"
#include "bpr/io/json_reader.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/sparse/mask.hpp"

// The format (huggingface/safetensors): u64 little-endian header length N, then N
// bytes of UTF-8 JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
// ..., "__metadata__": {"key": "value"}} (possibly padded with spaces), then the data
// region; offsets are relative to its start, tensors are raw little-endian row-major
// values, and together they cover the data region exactly (no gap, no overlap).

namespace bpr {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; add byte swapping for this platform");

namespace detail::safetensors {

// Largest header accepted, as the reference implementation: larger is an attack or a
// corrupt length, not a model.
inline constexpr std::uint64_t max_header_bytes = 100'000'000;

struct dtype_info {
    const char* name;
    std::size_t size;
};

// Every dtype of the format; only the floating ones convert to model values.
inline constexpr dtype_info dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
};

inline const dtype_info* find_dtype(std::string_view name) {
    for (const auto& d : dtypes)
        if (name == d.name) return &d;
    return nullptr;
}

// IEEE binary16 to float, exactly (every half is a float), subnormals, inf and NaN
// included.
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu;
    std::uint32_t mantissa = h & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        // Subnormal half: normalize into a float exponent.
        int e = -1;
        do {
            ++e;
            mantissa <<= 1;
        } while ((mantissa & 0x400u) == 0);
        bits = sign | (std::uint32_t(112 - e) << 23) | ((mantissa & 0x3ffu) << 13);
    }
    return std::bit_cast<float>(bits);
}

// bfloat16 is the upper half of a float.
inline float bfloat16_to_float(std::uint16_t b) {
    return std::bit_cast<float>(std::uint32_t(b) << 16);
}

template <typename T>
constexpr const char* dtype_of() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "safetensors export writes float or double models");
    return std::is_same_v<T, float> ? "F32" : "F64";
}

}  // namespace detail::safetensors

// What it represents: one tensor of a safetensors file: its dtype name, extents and
// raw bytes (a view into the owning safetensors_file).
// Guarantees (after parsing): bytes.size() == element_count() * dtype size.
struct safetensors_tensor {
    std::string dtype;
    std::vector<std::int64_t> extents;
    std::uint64_t begin = 0, end = 0;  // offsets in the data region
    std::string_view bytes;

    // A zero extent makes the count zero even when the other extents' product would
    // overflow (the parser accepts [0, 2^62, 2^62]: it holds no bytes).
    std::int64_t element_count() const {
        for (const auto e : extents)
            if (e == 0) return 0;
        std::int64_t n = 1;
        for (const auto e : extents)
            n *= e;
        return n;
    }
    std::string shape_str() const {
        std::string text = "[";
        for (std::size_t i = 0; i < extents.size(); ++i)
            text += detail::concat(i ? ", " : "", extents[i]);
        return text + "]";
    }
    // Whether the stored extents equal `s` exactly (rank included).
    bool has_shape(const shape& s) const {
        if (static_cast<int>(extents.size()) != s.rank()) return false;
        for (int axis = 0; axis < s.rank(); ++axis)
            if (extents[static_cast<std::size_t>(axis)] != s[axis]) return false;
        return true;
    }
};

// What it represents: a parsed safetensors file held in memory, with its tensors by
// name and its optional string metadata.
// Requires: nothing of the input: any byte string is either accepted or rejected.
// Guarantees: an accepted file has a header length within the file and at most
// 100 MB, valid UTF-8 strict JSON, known dtypes, shapes whose byte size equals their
// offset span, offsets inside the data region, tensors covering the data region
// without gap or overlap, unique names. Every rejection is a bpr::error naming the
// file, the tensor, the field and the value. No allocation is sized by an unchecked
// header field.
class safetensors_file {
  public:
    // Reads and validates the file at `path`.
    static safetensors_file read(const std::filesystem::path& path) {
        std::ifstream file(path, std::ios::binary);
        BPR_REQUIRE(file, path.string(), ": cannot open safetensors file for reading");
        std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        BPR_REQUIRE(!file.bad(), path.string(), ": read error");
        return parse(std::move(bytes), path.string());
    }

    // Validates `bytes` as a safetensors file; `where` names it in error messages.
    static safetensors_file parse(std::string bytes, std::string where = "safetensors") {
        safetensors_file file;
        file.where_ = std::move(where);
        file.bytes_ = std::move(bytes);
        file.index();
        return file;
    }

    const std::string& where() const { return where_; }
    const std::map<std::string, safetensors_tensor>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const safetensors_tensor* find(const std::string& name) const {
        const auto it = tensors_.find(name);
        return it == tensors_.end() ? nullptr : &it->second;
    }
    const safetensors_tensor& at(const std::string& name) const {
        const safetensors_tensor* t = find(name);
        BPR_REQUIRE(t != nullptr, where_, ": no tensor named '", name, "'");
        return *t;
    }

    // The values of tensor `name` converted to T (F32, F64, F16 and BF16 convert;
    // other dtypes are an error). F16/BF16 to float is exact.
    template <typename T = float>
    std::vector<T> values(const std::string& name) const {
        const safetensors_tensor& t = at(name);
        const auto count = static_cast<std::size_t>(t.element_count());
        std::vector<T> out(count);
        const char* p = t.bytes.data();
        auto load = [&](auto raw, std::size_t i) {
            std::memcpy(&raw, p + i * sizeof raw, sizeof raw);
            return raw;
        };
        if (t.dtype == "F32") {
            for (std::size_t i = 0; i < count; ++i)
                out[i] = static_cast<T>(load(float{}, i));
        } else if (t.dtype == "F64") {
            for (std::size_t i = 0; i < count; ++i)
                out[i] = static_cast<T>(load(double{}, i));
        } else if (t.dtype == "F16") {
            for (std::size_t i = 0; i < count; ++i)
                out[i] =
                    static_cast<T>(detail::safetensors::half_to_float(load(std::uint16_t{}, i)));
        } else if (t.dtype == "BF16") {
            for (std::size_t i = 0; i < count; ++i)
                out[i] = static_cast<T>(
                    detail::safetensors::bfloat16_to_float(load(std::uint16_t{}, i)));
        } else {
            detail::fail(where_, ": tensor '", name, "': field 'dtype' is ", t.dtype,
                         ", only F32, F64, F16 and BF16 convert to model values");
        }
        return out;
    }

    // Tensor `name` as a bpr::tensor (rank at most 4), converted as values() does.
    template <typename T = float>
    tensor<T> to_tensor(const std::string& name) const {
        const safetensors_tensor& t = at(name);
        BPR_REQUIRE(t.extents.size() <= static_cast<std::size_t>(shape::max_rank), where_,
                    ": tensor '", name, "': field 'shape' is ", t.shape_str(), ", rank ",
                    t.extents.size(), " exceeds bpr's ", shape::max_rank);
        shape s;
        const std::vector<T> v = values<T>(name);
        switch (t.extents.size()) {
            case 0:
                s = shape{};
                break;
            case 1:
                s = shape{t.extents[0]};
                break;
            case 2:
                s = shape{t.extents[0], t.extents[1]};
                break;
            case 3:
                s = shape{t.extents[0], t.extents[1], t.extents[2]};
                break;
            default:
                s = shape{t.extents[0], t.extents[1], t.extents[2], t.extents[3]};
        }
        tensor<T> out(s);
        if (!v.empty()) std::memcpy(out.data(), v.data(), v.size() * sizeof(T));
        return out;
    }

  private:
    template <typename... Parts>
    [[noreturn]] void fail(Parts&&... parts) const {
        detail::fail(where_, ": ", std::forward<Parts>(parts)...);
    }

    void index() {
        const std::uint64_t size = bytes_.size();
        if (size < 8)
            fail("too short for a safetensors file: ", size,
                 " bytes, the 8-byte header length alone needs 8");
        std::uint64_t header_length = 0;
        std::memcpy(&header_length, bytes_.data(), 8);
        if (header_length > detail::safetensors::max_header_bytes)
            fail("field 'header length' is ", header_length, ", more than the ",
                 detail::safetensors::max_header_bytes, " bytes accepted (corrupt file?)");
        if (header_length > size - 8)
            fail("field 'header length' is ", header_length, " but only ", size - 8,
                 " bytes follow it (truncated file?)");
        if (header_length < 2)
            fail("field 'header length' is ", header_length, ", too short for a JSON object");
        const std::string_view header(bytes_.data() + 8, header_length);
        if (header[0] != '{') fail("header does not start with '{' (not a safetensors file?)");
        const json_value root = parse_json(header, where_, 8);
        if (!root.is_object()) fail("header is not a JSON object");
        const std::uint64_t data_size = size - 8 - header_length;
        const char* data = bytes_.data() + 8 + header_length;

        std::vector<std::pair<std::uint64_t, std::string>> order;  // (begin, name)
        for (const auto& [name, value] : root.members()) {
            if (name == "__metadata__") {
                if (!value.is_object())
                    fail("field '__metadata__' is ", value.describe(), ", expected an object");
                for (const auto& [key, text] : value.members()) {
                    if (!text.is_string())
                        fail("field '__metadata__' key '", key, "' is ", text.describe(),
                             ", expected a string");
                    metadata_.emplace(key, text.text());
                }
                continue;
            }
            safetensors_tensor t = describe_tensor(name, value, data_size);
            t.bytes = std::string_view(data + t.begin, t.end - t.begin);
            order.emplace_back(t.begin, name);
            tensors_.emplace(name, std::move(t));
        }
        // The data region must be covered exactly: sort by offset and walk it.
        std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
            if (a.first != b.first) return a.first < b.first;
            return tensors_.at(a.second).end < tensors_.at(b.second).end;
        });
        std::uint64_t covered = 0;
        const std::string* previous = nullptr;
        for (const auto& [begin, name] : order) {
            const safetensors_tensor& t = tensors_.at(name);
            if (begin < covered)
                fail("tensor '", name, "': field 'data_offsets' is [", t.begin, ", ", t.end,
                     "], overlapping tensor '", *previous, "' which ends at ", covered);
            if (begin > covered)
                fail("tensor '", name, "': field 'data_offsets' is [", t.begin, ", ", t.end,
                     "], leaving a gap of ", begin - covered, " bytes at offset ", covered,
                     previous ? concat(" after tensor '", *previous, "'") : std::string());
            covered = t.end;
            previous = &name;
        }
        if (covered != data_size)
            fail("the tensors cover ", covered, " bytes of the ", data_size,
                 "-byte data region: ", data_size - covered, " trailing bytes belong to no tensor");
    }

    static std::string concat(auto&&... parts) { return detail::concat(parts...); }

    safetensors_tensor describe_tensor(const std::string& name, const json_value& value,
                                       std::uint64_t data_size) const {
        if (!value.is_object())
            fail("tensor '", name, "' is ", value.describe(), ", expected an object");
        for (const auto& [key, member] : value.members())
            if (key != "dtype" && key != "shape" && key != "data_offsets")
                fail("tensor '", name, "' has unknown field '", key, "'");
        auto field = [&](const char* key) -> const json_value& {
            const json_value* f = value.find(key);
            if (f == nullptr) fail("tensor '", name, "' has no field '", key, "'");
            return *f;
        };
        safetensors_tensor t;
        const json_value& dtype = field("dtype");
        if (!dtype.is_string())
            fail("tensor '", name, "': field 'dtype' is ", dtype.describe(), ", expected a string");
        const auto* info = detail::safetensors::find_dtype(dtype.text());
        if (info == nullptr)
            fail("tensor '", name, "': field 'dtype' is ", dtype.describe(), ", not a known dtype");
        t.dtype = dtype.text();

        const json_value& extents = field("shape");
        if (!extents.is_array())
            fail("tensor '", name, "': field 'shape' is ", extents.describe(),
                 ", expected an array");
        // Byte count of the shape; products that overflow 64 bits are flagged, not wrapped.
        std::uint64_t bytes = info->size;
        bool overflow = false;
        for (const auto& e : extents.items()) {
            std::uint64_t extent = 0;
            if (!e.as_unsigned(std::uint64_t(1) << 62, extent))
                fail("tensor '", name, "': field 'shape' has extent ", e.describe(),
                     ", expected a non-negative integer");
            t.extents.push_back(static_cast<std::int64_t>(extent));
            overflow = __builtin_mul_overflow(bytes, extent, &bytes) || overflow;
        }
        for (const auto e : t.extents)
            if (e == 0) bytes = 0, overflow = false;

        const json_value& offsets = field("data_offsets");
        std::uint64_t range[2] = {0, 0};
        if (!offsets.is_array() || offsets.items().size() != 2)
            fail("tensor '", name, "': field 'data_offsets' is ", offsets.describe(),
                 ", expected [begin, end]");
        for (int i = 0; i < 2; ++i)
            if (!offsets.items()[static_cast<std::size_t>(i)].as_unsigned(~std::uint64_t(0),
                                                                          range[i]))
                fail("tensor '", name, "': field 'data_offsets' has ",
                     offsets.items()[static_cast<std::size_t>(i)].describe(),
                     ", expected a non-negative integer");
        t.begin = range[0];
        t.end = range[1];
        if (t.begin > t.end)
            fail("tensor '", name, "': field 'data_offsets' is [", t.begin, ", ", t.end,
                 "], begin after end");
        if (t.end > data_size)
            fail("tensor '", name, "': field 'data_offsets' is [", t.begin, ", ", t.end,
                 "], outside the data region of ", data_size, " bytes (truncated file?)");
        if (overflow || bytes != t.end - t.begin)
            fail("tensor '", name, "': field 'shape' ", t.shape_str(), " of ", t.dtype, " needs ",
                 overflow ? std::string("more than 2^64") : std::to_string(bytes),
                 " bytes but field 'data_offsets' [", t.begin, ", ", t.end, "] spans ",
                 t.end - t.begin);
        return t;
    }

    std::string where_;
    std::string bytes_;
    std::map<std::string, safetensors_tensor> tensors_;
    std::map<std::string, std::string> metadata_;
};

// What it represents: a safetensors file under construction: tensors in insertion
// order, then written contiguously.
// Guarantees: bytes() is a file safetensors_file accepts; the header is padded with
// spaces to a multiple of 8 bytes so that every tensor starts 8-byte aligned when
// sizes allow; write() replaces the target atomically.
class safetensors_writer {
  public:
    template <typename T>
    void add(const std::string& name, const tensor<T>& t) {
        std::vector<std::int64_t> extents;
        for (int axis = 0; axis < t.shape().rank(); ++axis)
            extents.push_back(t.shape()[axis]);
        add_raw(name, detail::safetensors::dtype_of<T>(), extents,
                std::string_view(reinterpret_cast<const char*>(t.data()),
                                 sizeof(T) * static_cast<std::size_t>(t.size())));
    }

    // Adds raw little-endian bytes of any dtype (checked against the extents).
    void add_raw(const std::string& name, const std::string& dtype,
                 const std::vector<std::int64_t>& extents, std::string_view bytes) {
        BPR_REQUIRE(name != "__metadata__", "safetensors_writer: '__metadata__' is reserved");
        BPR_REQUIRE(!names_.contains(name), "safetensors_writer: tensor '", name, "' added twice");
        const auto* info = detail::safetensors::find_dtype(dtype);
        BPR_REQUIRE(info != nullptr, "safetensors_writer: tensor '", name, "': unknown dtype ",
                    dtype);
        std::uint64_t count = 1;
        for (const auto e : extents) {
            BPR_REQUIRE(e >= 0, "safetensors_writer: tensor '", name, "': negative extent ", e);
            count *= static_cast<std::uint64_t>(e);
        }
        BPR_REQUIRE(count * info->size == bytes.size(), "safetensors_writer: tensor '", name,
                    "': ", bytes.size(), " bytes for ", count, " values of ", dtype);
        names_.emplace(name, true);
        std::string shape_text = "[";
        for (std::size_t i = 0; i < extents.size(); ++i)
            shape_text += detail::concat(i ? "," : "", extents[i]);
        shape_text += "]";
        entries_ +=
            detail::concat(entries_.empty() ? "" : ",", json_object::quote(name), ":{\"dtype\":\"",
                           dtype, "\",\"shape\":", shape_text, ",\"data_offsets\":[", data_.size(),
                           ",", data_.size() + bytes.size(), "]}");
        data_.append(bytes.data(), bytes.size());
    }

    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

    std::string bytes() const {
        std::string header = "{";
        if (!metadata_.empty()) {
            header += "\"__metadata__\":{";
            bool first = true;
            for (const auto& [key, value] : metadata_) {
                header += detail::concat(first ? "" : ",", json_object::quote(key), ":",
                                         json_object::quote(value));
                first = false;
            }
            header += "}";
            if (!entries_.empty()) header += ",";
        }
        header += entries_ + "}";
        while ((8 + header.size()) % 8 != 0)
            header += ' ';
        std::string file(8, '\0');
        const std::uint64_t length = header.size();
        std::memcpy(file.data(), &length, 8);
        file += header;
        file += data_;
        return file;
    }

    void write(const std::filesystem::path& path) const { write_file_atomically(path, bytes()); }

  private:
    std::map<std::string, bool> names_;
    std::map<std::string, std::string> metadata_;
    std::string entries_;
    std::string data_;
};

// How masks are named in an exported file.
enum class safetensors_mask_names {
    // "<param>" holds the masked values, "<param>_mask" the 0/1 mask (F32).
    suffix,
    // As torch.nn.utils.prune leaves a state_dict: "<param>_orig" and "<param>_mask";
    // load it after prune.identity(module, "<param>") on the PyTorch side.
    torch_prune,
};

// Options of save_safetensors.
struct safetensors_save_options {
    safetensors_mask_names mask_names = safetensors_mask_names::suffix;
    // PyTorch's BatchNorm counter: written as an I64 scalar 0 next to every
    // "<x>.running_mean", so that a strict torch load_state_dict accepts the file.
    bool num_batches_tracked = true;
    std::map<std::string, std::string> metadata{};
};

namespace detail::safetensors {

inline bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace detail::safetensors

// Writes the parameters and buffers of `model` (and the masks in `masks`, if not null)
// to `path` atomically, under the model's visit names (the PyTorch state_dict names
// for the zoo models), in the model's value type (F32 or F64).
template <typename Model, mask_policy G = unstructured>
void save_safetensors(const std::filesystem::path& path, Model& model,
                      const mask_set<G>* masks = nullptr,
                      const safetensors_save_options& options = {}) {
    if (masks != nullptr) masks->check(model, path.string());
    safetensors_writer writer;
    visit_params(model, [&](std::size_t index, const std::string& name, auto& p) {
        const auto* entry = masks != nullptr ? masks->find(index) : nullptr;
        if (entry == nullptr) {
            writer.add(name, p.value);
            return;
        }
        tensor<float> bits(p.value.shape());
        for (index_t i = 0; i < bits.size(); ++i)
            bits[i] = entry->bits.kept(i) ? 1.0f : 0.0f;
        auto value = p.value;
        entry->bits.apply(value, name);
        writer.add(
            options.mask_names == safetensors_mask_names::torch_prune ? name + "_orig" : name,
            value);
        writer.add(name + "_mask", bits);
    });
    visit_buffers(model, [&](const std::string& name, auto& t) {
        writer.add(name, t);
        constexpr std::string_view mean = "running_mean";
        if (options.num_batches_tracked && detail::safetensors::ends_with(name, mean)) {
            const std::int64_t zero = 0;
            writer.add_raw(name.substr(0, name.size() - mean.size()) + "num_batches_tracked", "I64",
                           {}, std::string_view(reinterpret_cast<const char*>(&zero), 8));
        }
    });
    for (const auto& [key, value] : options.metadata)
        writer.set_metadata(key, value);
    writer.write(path);
}

// Loads `file` into `model` by name, checking everything before changing anything:
//  - every parameter "<p>" comes from "<p>", or from "<p>_orig" * "<p>_mask" (a
//    torch.nn.utils.prune state_dict); an optional "<p>_mask" (values 0 or 1) zeroes
//    the pruned positions and, when `masks` is not null, sets that parameter's mask
//    (`masks` is made dense over `model` first if empty);
//  - every buffer (batchnorm running_mean/var) comes from its name;
//  - "*num_batches_tracked" is ignored; any other tensor is unexpected.
// Missing, unexpected or mismatched (shape, non-float dtype) tensors, and NaN or Inf
// values in a parameter or buffer, are a bpr::error
// naming the file and the tensor; on error `model` and `masks` are unchanged.
template <typename Model, mask_policy G = unstructured>
void load_safetensors(const safetensors_file& file, Model& model, mask_set<G>* masks = nullptr) {
    using detail::safetensors::ends_with;
    const std::string& where = file.where();
    std::map<std::string, bool> used;
    auto require = [&](const std::string& name, const shape& expected,
                       const char* what) -> const safetensors_tensor& {
        const safetensors_tensor* t = file.find(name);
        BPR_REQUIRE(t != nullptr, where, ": ", what, " '", name, "' with shape ", expected.str(),
                    " is missing from the file (file of another model?)");
        BPR_REQUIRE(t->has_shape(expected), where, ": tensor '", name, "' has shape ",
                    t->shape_str(), " in the file but ", expected.str(),
                    " in the model (file of another model?)");
        BPR_REQUIRE(
            t->dtype == "F32" || t->dtype == "F64" || t->dtype == "F16" || t->dtype == "BF16",
            where, ": tensor '", name, "': field 'dtype' is ", t->dtype,
            ", expected F32, F64, F16 or BF16");
        used[name] = true;
        return *t;
    };

    // Staged values, copied only once the whole file has been checked.
    struct staged {
        std::string name;
        std::vector<double> values;
        std::vector<std::uint8_t> mask;  // empty: no mask stored
    };
    std::vector<staged> params, buffers;
    visit_params(model, [&](std::size_t, const std::string& name, auto& p) {
        staged s{name, {}, {}};
        const std::string orig = name + "_orig", mask = name + "_mask";
        const bool has_plain = file.find(name) != nullptr;
        const bool has_orig = file.find(orig) != nullptr;
        BPR_REQUIRE(!(has_plain && has_orig), where, ": parameter '", name, "' is stored both as '",
                    name, "' and as '", orig, "'");
        if (has_orig) {
            BPR_REQUIRE(file.find(mask) != nullptr, where, ": tensor '", orig,
                        "' (torch prune) has no '", mask, "' next to it");
            require(orig, p.value.shape(), "parameter");
            s.values = file.values<double>(orig);
        } else {
            require(name, p.value.shape(), "parameter");
            s.values = file.values<double>(name);
        }
        const std::string& stored = has_orig ? orig : name;
        for (std::size_t i = 0; i < s.values.size(); ++i)
            BPR_REQUIRE(std::isfinite(s.values[i]), where, ": tensor '", stored, "' has value ",
                        s.values[i], " at position ", i, " (NaN and Inf weights are not accepted)");
        if (file.find(mask) != nullptr) {
            require(mask, p.value.shape(), "mask");
            const std::vector<double> bits = file.values<double>(mask);
            s.mask.resize(bits.size());
            for (std::size_t i = 0; i < bits.size(); ++i) {
                BPR_REQUIRE(bits[i] == 0.0 || bits[i] == 1.0, where, ": mask '", mask,
                            "' has value ", bits[i], " at position ", i, ", expected 0 or 1");
                s.mask[i] = bits[i] != 0.0;
                if (!s.mask[i]) s.values[i] = 0.0;
            }
        }
        params.push_back(std::move(s));
    });
    visit_buffers(model, [&](const std::string& name, auto& t) {
        require(name, t.shape(), "buffer");
        buffers.push_back({name, file.values<double>(name), {}});
        for (std::size_t i = 0; i < buffers.back().values.size(); ++i)
            BPR_REQUIRE(std::isfinite(buffers.back().values[i]), where, ": tensor '", name,
                        "' has value ", buffers.back().values[i], " at position ", i,
                        " (NaN and Inf statistics are not accepted)");
    });
    for (const auto& [name, t] : file.tensors()) {
        if (used.contains(name)) continue;
        if (ends_with(name, "num_batches_tracked")) continue;
        detail::fail(where, ": tensor '", name, "' with shape ", t.shape_str(),
                     " in the file has no counterpart in the model");
    }

    // Masks: every stored mask must belong to a masked parameter.
    mask_set<G> updated;
    if (masks != nullptr) {
        updated = masks->size() == 0 ? mask_set<G>::dense(model) : *masks;
        updated.check(model, where);
        std::size_t next = 0;
        visit_params(model, [&](std::size_t index, const std::string& name, auto&) {
            const staged& s = params[next++];
            if (s.mask.empty()) return;
            mask_entry<G>* entry = nullptr;
            for (auto& e : updated)
                if (e.index == index) entry = &e;
            BPR_REQUIRE(entry != nullptr, where, ": mask '", name,
                        "_mask' is for a parameter the mask set does not cover");
            entry->bits.set_bits(s.mask, where + ": mask '" + name + "_mask'");
        });
    }

    std::size_t next = 0;
    visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        using T = typename std::remove_cvref_t<decltype(p.value)>::value_type;
        const staged& s = params[next++];
        for (std::size_t i = 0; i < s.values.size(); ++i)
            p.value[static_cast<index_t>(i)] = static_cast<T>(s.values[i]);
    });
    next = 0;
    visit_buffers(model, [&](const std::string&, auto& t) {
        using T = typename std::remove_cvref_t<decltype(t)>::value_type;
        const staged& s = buffers[next++];
        for (std::size_t i = 0; i < s.values.size(); ++i)
            t[static_cast<index_t>(i)] = static_cast<T>(s.values[i]);
    });
    if (masks != nullptr) *masks = std::move(updated);
}

// Reads `path` and loads it into `model` (see above).
template <typename Model, mask_policy G = unstructured>
void load_safetensors(const std::filesystem::path& path, Model& model,
                      mask_set<G>* masks = nullptr) {
    load_safetensors(safetensors_file::read(path), model, masks);
}

}  // namespace bpr
