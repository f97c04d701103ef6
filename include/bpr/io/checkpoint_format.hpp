#pragma once
// The checkpoint file format: sections of named, typed tensors, each CRC-checked,
// parsed with every length checked against the bytes present. What goes into the
// sections (model, optimizer, masks, the pipeline's state) is bpr/io/checkpoint.hpp.

#include <zlib.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"
#include "bpr/core/tensor.hpp"

// File layout (little-endian; docs/reliability.md has every field):
//   magic "BPRCKPT\0", u32 version, u32 section count, then per section:
//   u32 name length, name, u64 payload length, u32 CRC-32 (zlib) of the payload, payload.
// A payload is u32 entry count, then per entry: u32 name length, name, u8 dtype
// (1 f32, 2 f64, 3 i64, 4 u8 [version 2]), u8 rank, rank x i64 extents, the values.
// Sections: "meta" (epoch, step, rng, layer generators), "params", "buffers", "optimizer"
// (optional); version 2 adds "masks" (optional) and sections named by the caller (the pipeline
// writes "w0" and "pipeline"). Version 1 files still load.

namespace bpr {

static_assert(std::endian::native == std::endian::little,
              "bpr checkpoints are written in the machine's byte order, assumed little-endian");

namespace detail::checkpoint {

inline constexpr char magic[8] = {'B', 'P', 'R', 'C', 'K', 'P', 'T', '\0'};
inline constexpr std::uint32_t version = 2;
inline constexpr std::uint32_t oldest_version = 1;

enum class dtype : std::uint8_t { f32 = 1, f64 = 2, i64 = 3, u8 = 4 };

template <typename T>
constexpr dtype dtype_of() {
    if constexpr (std::is_same_v<T, float>)
        return dtype::f32;
    else if constexpr (std::is_same_v<T, double>)
        return dtype::f64;
    else if constexpr (std::is_same_v<T, std::uint8_t>)
        return dtype::u8;
    else {
        static_assert(std::is_same_v<T, std::int64_t>,
                      "checkpoints store float, double, int64 and uint8");
        return dtype::i64;
    }
}

inline const char* dtype_name(dtype d) {
    switch (d) {
        case dtype::f32:
            return "float32";
        case dtype::f64:
            return "float64";
        case dtype::i64:
            return "int64";
        case dtype::u8:
            return "uint8";
    }
    return "unknown";
}

inline std::size_t dtype_size(dtype d) {
    switch (d) {
        case dtype::f32:
            return 4;
        case dtype::u8:
            return 1;
        default:
            return 8;
    }
}

// Serialises the entries of one section.
class section_writer {
  public:
    explicit section_writer(std::string name) : name_(std::move(name)) {}

    template <typename T>
    void add(const std::string& entry, const tensor<T>& t) {
        put_entry_header(entry, dtype_of<T>(), t.shape());
        put_bytes(t.data(), sizeof(T) * static_cast<std::size_t>(t.size()));
    }
    void add(const std::string& entry, std::int64_t value) {
        put_entry_header(entry, dtype::i64, shape{});
        put_bytes(&value, sizeof value);
    }
    void add(const std::string& entry, double value) {
        put_entry_header(entry, dtype::f64, shape{});
        put_bytes(&value, sizeof value);
    }
    // A 1-D array of values (float, double, int64 or uint8).
    template <typename T>
    void add(const std::string& entry, std::span<const T> values) {
        put_entry_header(entry, dtype_of<T>(), shape{static_cast<index_t>(values.size())});
        put_bytes(values.data(), sizeof(T) * values.size());
    }
    template <typename T>
    void add(const std::string& entry, const std::vector<T>& values) {
        add(entry, std::span<const T>(values));
    }
    // Values of any shape (e.g. mask bits with the parameter's shape).
    template <typename T>
    void add(const std::string& entry, std::span<const T> values, const shape& extents) {
        BPR_REQUIRE(static_cast<index_t>(values.size()) == extents.numel(), "checkpoint section '",
                    name_, "' entry '", entry, "': ", values.size(), " values for shape ",
                    extents.str());
        put_entry_header(entry, dtype_of<T>(), extents);
        put_bytes(values.data(), sizeof(T) * values.size());
    }
    // Text, stored as uint8 bytes.
    void add_text(const std::string& entry, std::string_view text) {
        put_entry_header(entry, dtype::u8, shape{static_cast<index_t>(text.size())});
        put_bytes(text.data(), text.size());
    }
    const std::string& name() const { return name_; }

    void append_to(std::string& file) const {
        std::string payload;
        put(payload, count_);
        payload += body_;
        put(file, static_cast<std::uint32_t>(name_.size()));
        file += name_;
        put(file, static_cast<std::uint64_t>(payload.size()));
        put(file, crc(payload));
        file += payload;
    }

    static std::uint32_t crc(std::string_view bytes) {
        uLong value = crc32(0L, Z_NULL, 0);
        // zlib takes uInt lengths: feed large payloads in pieces.
        while (!bytes.empty()) {
            const std::size_t piece = std::min<std::size_t>(bytes.size(), 1u << 30);
            value = crc32(value, reinterpret_cast<const Bytef*>(bytes.data()),
                          static_cast<uInt>(piece));
            bytes.remove_prefix(piece);
        }
        return static_cast<std::uint32_t>(value);
    }

  private:
    template <typename V>
    static void put(std::string& out, V value) {
        out.append(reinterpret_cast<const char*>(&value), sizeof value);
    }
    void put_bytes(const void* data, std::size_t size) {
        if (size > 0) body_.append(static_cast<const char*>(data), size);
    }
    void put_entry_header(const std::string& entry, dtype type, const shape& extents) {
        ++count_;
        put(body_, static_cast<std::uint32_t>(entry.size()));
        body_ += entry;
        put(body_, static_cast<std::uint8_t>(type));
        put(body_, static_cast<std::uint8_t>(extents.rank()));
        for (int axis = 0; axis < extents.rank(); ++axis)
            put(body_, static_cast<std::int64_t>(extents[axis]));
    }

    std::string name_;
    std::uint32_t count_ = 0;
    std::string body_;
};

// One stored tensor: where its values are in the file buffer.
struct entry {
    dtype type;
    shape extents;
    const char* values;
};

// Bounds-checked reading of bytes held in memory; every failure names the file,
// the section and the field.
class reader {
  public:
    reader(const std::string& path, std::string_view bytes, std::string section = {})
        : path_(path), bytes_(bytes), section_(std::move(section)) {}

    const char* take(std::size_t size, const char* field) {
        if (size > bytes_.size() - offset_) {
            fail(path_, ": truncated or corrupt",
                 section_.empty() ? std::string() : concat(" in section '", section_, "'"),
                 " at field '", field, "': needs ", size, " bytes at offset ", offset_,
                 " but only ", bytes_.size() - offset_, " remain");
        }
        const char* at = bytes_.data() + offset_;
        offset_ += size;
        return at;
    }
    template <typename V>
    V get(const char* field) {
        V value;
        std::memcpy(&value, take(sizeof value, field), sizeof value);
        return value;
    }
    std::string get_string(const char* field) {
        const auto length = get<std::uint32_t>(field);
        return std::string(take(length, field), length);
    }
    std::size_t remaining() const { return bytes_.size() - offset_; }

  private:
    const std::string& path_;
    std::string_view bytes_;
    std::string section_;
    std::size_t offset_ = 0;
};

inline shape make_shape(const index_t* extents, int rank) {
    switch (rank) {
        case 0:
            return shape{};
        case 1:
            return shape{extents[0]};
        case 2:
            return shape{extents[0], extents[1]};
        case 3:
            return shape{extents[0], extents[1], extents[2]};
        default:
            return shape{extents[0], extents[1], extents[2], extents[3]};
    }
}

using section = std::map<std::string, entry>;

// A parsed file: its version and sections (entries point into the bytes it came from).
struct parsed {
    std::uint32_t version = 0;
    std::map<std::string, section> sections;
};

// Parses a whole file held in `bytes`, checking magic, version, CRCs and every length
// against the bytes actually present (no allocation is driven by an unchecked header
// field). Entries point into `bytes`.
inline parsed parse_file(const std::string& path, const std::string& bytes) {
    reader in(path, bytes);
    const char* head = in.take(sizeof magic, "magic");
    if (std::memcmp(head, magic, sizeof magic) != 0) {
        std::string seen;
        for (std::size_t i = 0; i < sizeof magic; ++i)
            seen += (head[i] >= 0x20 && head[i] < 0x7f) ? head[i] : '?';
        fail(path, ": not a bpr checkpoint (field 'magic' is '", seen, "', expected 'BPRCKPT')");
    }
    const auto file_version = in.get<std::uint32_t>("version");
    BPR_REQUIRE(file_version >= oldest_version && file_version <= version, path,
                ": field 'version' is ", file_version, ", this build reads versions ",
                oldest_version, " to ", version);
    const auto section_count = in.get<std::uint32_t>("section count");
    std::map<std::string, section> sections;
    for (std::uint32_t s = 0; s < section_count; ++s) {
        std::string name = in.get_string("section name");
        const auto payload_size = in.get<std::uint64_t>("payload length");
        const auto stored_crc = in.get<std::uint32_t>("crc32");
        BPR_REQUIRE(payload_size <= in.remaining(), path, ": truncated or corrupt in section '",
                    name, "' at field 'payload': needs ", payload_size, " bytes but only ",
                    in.remaining(), " remain");
        const std::string_view payload(in.take(payload_size, "payload"), payload_size);
        const std::uint32_t actual_crc = section_writer::crc(payload);
        BPR_REQUIRE(actual_crc == stored_crc, path, ": section '", name,
                    "' is corrupt (field 'crc32' is ", stored_crc, " but the payload's is ",
                    actual_crc, ")");
        reader p(path, payload, name);
        section entries;
        const auto count = p.get<std::uint32_t>("entry count");
        for (std::uint32_t e = 0; e < count; ++e) {
            std::string entry_name = p.get_string("entry name");
            const auto type = static_cast<dtype>(p.get<std::uint8_t>("dtype"));
            BPR_REQUIRE(type == dtype::f32 || type == dtype::f64 || type == dtype::i64 ||
                            (type == dtype::u8 && file_version >= 2),
                        path, ": section '", name, "' entry '", entry_name, "': field 'dtype' is ",
                        static_cast<int>(type), " (version ", file_version,
                        " files hold 1 float32, 2 float64, 3 int64",
                        file_version >= 2 ? ", 4 uint8)" : ")");
            const int rank = p.get<std::uint8_t>("rank");
            BPR_REQUIRE(rank <= shape::max_rank, path, ": section '", name, "' entry '", entry_name,
                        "': field 'rank' is ", rank);
            index_t extents[shape::max_rank] = {};
            std::size_t fits = p.remaining() / dtype_size(type);  // values that could follow
            for (int axis = 0; axis < rank; ++axis) {
                const auto extent = p.get<std::int64_t>("extent");
                BPR_REQUIRE(extent >= 0 && static_cast<std::size_t>(extent) <= fits, path,
                            ": section '", name, "' entry '", entry_name, "': field 'extent' is ",
                            extent, " but only ", p.remaining(), " bytes remain");
                fits = extent == 0 ? 0 : fits / static_cast<std::size_t>(extent);
                extents[axis] = extent;
            }
            const shape extents_shape = make_shape(extents, rank);
            const char* values = p.take(
                static_cast<std::size_t>(extents_shape.numel()) * dtype_size(type), "values");
            BPR_REQUIRE(!entries.contains(entry_name), path, ": section '", name, "' has entry '",
                        entry_name, "' twice");
            entries.emplace(std::move(entry_name), entry{type, extents_shape, values});
        }
        BPR_REQUIRE(p.remaining() == 0, path, ": section '", name, "' has ", p.remaining(),
                    " bytes after its last entry");
        BPR_REQUIRE(!sections.contains(name), path, ": section '", name, "' appears twice");
        sections.emplace(std::move(name), std::move(entries));
    }
    BPR_REQUIRE(in.remaining() == 0, path, ": ", in.remaining(),
                " unexpected bytes after the last section");
    return {file_version, std::move(sections)};
}

inline std::map<std::string, section> parse(const std::string& path, const std::string& bytes) {
    return parse_file(path, bytes).sections;
}

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    BPR_REQUIRE(file, path.string(), ": cannot open checkpoint for reading");
    std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    BPR_REQUIRE(!file.bad(), path.string(), ": read error");
    return bytes;
}

// Checks that `stored` can be loaded into a tensor of type T and the given shape.
template <typename T>
void require_match(const std::string& path, const std::string& section_name,
                   const std::string& name, const entry& stored, const shape& expected) {
    BPR_REQUIRE(stored.type == dtype_of<T>(), path, ": ", section_name, " tensor '", name,
                "' is stored as ", dtype_name(stored.type), ", the model uses ",
                dtype_name(dtype_of<T>()));
    BPR_REQUIRE(stored.extents == expected, path, ": ", section_name, " tensor '", name,
                "' has shape ", stored.extents.str(), " in the checkpoint but ", expected.str(),
                " in the model (checkpoint of another model?)");
}

// Checks that a section holds exactly the named values a visitor offers, with the
// same dtypes and shapes. `visit(f)` calls f(name, tensor<T>& or std::int64_t&).
template <typename Visit>
void check_section(const std::string& path, const std::map<std::string, section>& sections,
                   const std::string& section_name, Visit&& visit) {
    const auto found = sections.find(section_name);
    BPR_REQUIRE(found != sections.end(), path, ": checkpoint has no '", section_name, "' section");
    const section& stored = found->second;
    std::size_t matched = 0;
    auto check = [&](const std::string& name, auto& target) {
        using V = std::remove_cvref_t<decltype(target)>;
        const auto it = stored.find(name);
        if constexpr (std::is_same_v<V, std::int64_t>) {
            BPR_REQUIRE(it != stored.end(), path, ": ", section_name, " value '", name,
                        "' is missing from the checkpoint (checkpoint of another model?)");
            require_match<std::int64_t>(path, section_name, name, it->second, shape{});
        } else {
            BPR_REQUIRE(it != stored.end(), path, ": ", section_name, " tensor '", name,
                        "' with shape ", target.shape().str(),
                        " is missing from the checkpoint (checkpoint of another model?)");
            require_match<typename V::value_type>(path, section_name, name, it->second,
                                                  target.shape());
        }
        ++matched;
    };
    visit(check);
    if (matched != stored.size()) {
        std::map<std::string, bool> wanted;
        visit([&](const std::string& name, auto&) { wanted[name] = true; });
        for (const auto& [name, e] : stored)
            BPR_REQUIRE(wanted.contains(name), path, ": ", section_name, " tensor '", name,
                        "' with shape ", e.extents.str(),
                        " in the checkpoint has no counterpart in the model");
    }
}

// Copies a section checked by check_section into the visited targets.
template <typename Visit>
void copy_section(const std::map<std::string, section>& sections, const std::string& section_name,
                  Visit&& visit) {
    const section& stored = sections.at(section_name);
    visit([&](const std::string& name, auto& target) {
        using V = std::remove_cvref_t<decltype(target)>;
        const entry& e = stored.at(name);
        if constexpr (std::is_same_v<V, std::int64_t>)
            std::memcpy(&target, e.values, sizeof target);
        else if (target.size() > 0)
            std::memcpy(target.data(), e.values,
                        sizeof(typename V::value_type) * static_cast<std::size_t>(target.size()));
    });
}

// The names every checkpoint reserves; caller sections must use other names.
inline bool reserved_section(const std::string& name) {
    return name == "meta" || name == "params" || name == "buffers" || name == "optimizer";
}

}  // namespace detail::checkpoint
}  // namespace bpr
