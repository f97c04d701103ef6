#pragma once
// Checkpoints: model parameters, buffers, optimizer state, epoch and rng state, and
// (version 2) masks and any further named sections a caller adds, e.g. the pipeline's.

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/io/atomic_file.hpp"
#include "bpr/io/checkpoint_format.hpp"
#include "bpr/nn/layer.hpp"
#include "bpr/optim/optimizer.hpp"
#include "bpr/sparse/mask.hpp"

// The file layout is in bpr/io/checkpoint_format.hpp.

namespace bpr {

// What a checkpoint remembers besides tensors: where training was and the state of
// the generator that drives shuffling and augmentation, so a run can resume exactly.
struct checkpoint_info {
    std::int64_t epoch = 0;
    std::int64_t step = 0;
    std::optional<rng::snapshot> generator{};
};

namespace detail::checkpoint {

// A generator's state as meta fields "<key>.word0".."<key>.word3", "<key>.spare_normal"
// and "<key>.has_spare_normal".
inline void add_snapshot(section_writer& meta, const std::string& key, const rng::snapshot& s) {
    for (int i = 0; i < 4; ++i)
        meta.add(concat(key, ".word", i), std::bit_cast<std::int64_t>(s.words[i]));
    meta.add(concat(key, ".spare_normal"), s.spare_normal);
    meta.add(concat(key, ".has_spare_normal"), std::int64_t{s.has_spare_normal});
}

// Typed access to the scalars of a checkpoint's meta section, with errors naming the
// file and the field.
class meta_reader {
  public:
    meta_reader(const std::string& path, const std::map<std::string, section>& sections)
        : path_(path) {
        const auto found = sections.find("meta");
        BPR_REQUIRE(found != sections.end(), path, ": checkpoint has no 'meta' section");
        meta_ = &found->second;
    }

    const entry* scalar(const std::string& name) const {
        const auto it = meta_->find(name);
        if (it == meta_->end()) return nullptr;
        BPR_REQUIRE(it->second.extents.rank() == 0, path_, ": meta field '", name, "' has shape ",
                    it->second.extents.str(), ", expected a scalar");
        return &it->second;
    }
    std::int64_t integer(const std::string& name) const {
        const entry* e = scalar(name);
        BPR_REQUIRE(e != nullptr, path_, ": meta field '", name, "' is missing");
        BPR_REQUIRE(e->type == dtype::i64, path_, ": meta field '", name, "' is ",
                    dtype_name(e->type), ", expected int64");
        std::int64_t value;
        std::memcpy(&value, e->values, sizeof value);
        return value;
    }
    // The snapshot written by add_snapshot under `key`, or nothing if "<key>.word0" is
    // absent; a partial or mistyped snapshot is an error.
    std::optional<rng::snapshot> snapshot(const std::string& key) const {
        if (scalar(concat(key, ".word0")) == nullptr) return std::nullopt;
        rng::snapshot s{};
        for (int i = 0; i < 4; ++i)
            s.words[i] = std::bit_cast<std::uint64_t>(integer(concat(key, ".word", i)));
        const entry* spare = scalar(concat(key, ".spare_normal"));
        BPR_REQUIRE(spare != nullptr && spare->type == dtype::f64, path_, ": meta field '", key,
                    ".spare_normal' is missing or not float64");
        std::memcpy(&s.spare_normal, spare->values, sizeof(double));
        s.has_spare_normal = integer(concat(key, ".has_spare_normal")) != 0;
        return s;
    }

  private:
    std::string path_;
    const section* meta_ = nullptr;
};

// Layer generators (dropout, drop-connect) are saved as meta fields "generator.<name>".
inline std::string generator_key(const std::string& name) {
    return concat("generator.", name);
}

template <typename Model>
std::string serialize(Model& model, const checkpoint_info& info,
                      const std::optional<section_writer>& optimizer_section,
                      std::span<const section_writer> extra = {}) {
    section_writer meta("meta");
    meta.add("epoch", info.epoch);
    meta.add("step", info.step);
    if (info.generator) add_snapshot(meta, "rng", *info.generator);
    visit_generators(model, [&](const std::string& name, const rng& generator) {
        add_snapshot(meta, generator_key(name), generator.save());
    });
    section_writer params("params");
    visit_params(model,
                 [&](std::size_t, const std::string& name, auto& p) { params.add(name, p.value); });
    section_writer buffers("buffers");
    visit_buffers(model, [&](const std::string& name, auto& t) { buffers.add(name, t); });

    std::map<std::string, bool> extra_names;
    for (const auto& s : extra) {
        BPR_REQUIRE(!reserved_section(s.name()), "checkpoint: section name '", s.name(),
                    "' is reserved (meta, params, buffers, optimizer)");
        BPR_REQUIRE(!extra_names.contains(s.name()), "checkpoint: section '", s.name(),
                    "' given twice");
        extra_names[s.name()] = true;
    }

    std::string file(magic, sizeof magic);
    const auto sections = static_cast<std::uint32_t>((optimizer_section ? 4 : 3) + extra.size());
    file.append(reinterpret_cast<const char*>(&version), sizeof version);
    file.append(reinterpret_cast<const char*>(&sections), sizeof sections);
    meta.append_to(file);
    params.append_to(file);
    buffers.append_to(file);
    if (optimizer_section) optimizer_section->append_to(file);
    for (const auto& s : extra)
        s.append_to(file);
    return file;
}

inline checkpoint_info read_info(const std::string& path,
                                 const std::map<std::string, section>& sections) {
    const meta_reader meta(path, sections);
    checkpoint_info info;
    info.epoch = meta.integer("epoch");
    info.step = meta.integer("step");
    info.generator = meta.snapshot("rng");
    return info;
}

// Loads the model's sections, and the optimizer's when `opt` is not null; all
// sections are checked before any value is copied, so a failed load changes nothing.
template <typename Model, typename Optimizer>
void load_parsed(const std::string& path, const std::map<std::string, section>& sections,
                 Model& model, Optimizer* opt) {
    auto params = [&](auto&& f) {
        visit_params(model,
                     [&](std::size_t, const std::string& name, auto& p) { f(name, p.value); });
    };
    auto buffers = [&](auto&& f) {
        visit_buffers(model, [&](const std::string& name, auto& t) { f(name, t); });
    };
    auto state = [&](auto&& f) {
        if constexpr (!std::is_same_v<Optimizer, void>)
            opt->visit_state([&](const std::string& key, auto& value) { f(key, value); });
    };
    check_section(path, sections, "params", params);
    check_section(path, sections, "buffers", buffers);
    // An empty optimizer section was saved before the optimizer's first step: it had no
    // state, and the optimizer being loaded must not have any either.
    bool optimizer_state = false;
    if constexpr (!std::is_same_v<Optimizer, void>) {
        BPR_REQUIRE(sections.contains("optimizer"), path,
                    ": checkpoint has no 'optimizer' section (saved without optimizer state)");
        optimizer_state = !sections.at("optimizer").empty();
        if (optimizer_state) {
            opt->init_state(model);
            check_section(path, sections, "optimizer", state);
        } else {
            std::size_t held = 0;
            state([&](const std::string&, auto&) { ++held; });
            BPR_REQUIRE(held == 0, path,
                        ": section 'optimizer' is empty (saved before the first step) but the "
                        "optimizer to load it into already holds ",
                        held, " state tensors");
        }
    }
    // Layer generators: all read (and checked) before anything is copied. A file
    // without them (written before they were saved) leaves the model's streams as
    // they are.
    const meta_reader meta(path, sections);
    std::vector<std::optional<rng::snapshot>> generators;
    visit_generators(model, [&](const std::string& name, rng&) {
        generators.push_back(meta.snapshot(generator_key(name)));
    });
    copy_section(sections, "params", params);
    copy_section(sections, "buffers", buffers);
    if (optimizer_state) copy_section(sections, "optimizer", state);
    std::size_t next = 0;
    visit_generators(model, [&](const std::string&, rng& generator) {
        if (const auto& saved = generators[next++]) generator.restore(*saved);
    });
}

template <typename Model, typename Optimizer>
checkpoint_info load(const std::filesystem::path& file, Model& model, Optimizer* opt) {
    const std::string path = file.string();
    const std::string bytes = read_file(file);
    const auto sections = parse(path, bytes);
    const checkpoint_info info = read_info(path, sections);
    load_parsed(path, sections, model, opt);
    return info;
}

template <typename Optimizer>
section_writer optimizer_section(Optimizer& opt) {
    section_writer state("optimizer");
    opt.visit_state([&](const std::string& name, auto& value) { state.add(name, value); });
    return state;
}

}  // namespace detail::checkpoint

// A named section a caller adds to a checkpoint (version 2): entries of int64 and
// float64 scalars, 1-D arrays, tensors and text, each file section CRC-checked.
using checkpoint_section = detail::checkpoint::section_writer;

// Writes the model's parameters and buffers (and `info`) to `path` atomically.
// Tensors are stored by their visit names, so a checkpoint loads into any model with
// the same names and shapes.
template <typename Model>
void save_checkpoint(const std::filesystem::path& path, Model& model,
                     const checkpoint_info& info = {}) {
    write_file_atomically(path, detail::checkpoint::serialize(model, info, std::nullopt));
}

// As above, plus the optimizer's state (momentum buffers, Adam moments, step counts).
template <typename Model, optimizer Optimizer>
void save_checkpoint(const std::filesystem::path& path, Model& model, Optimizer& opt,
                     const checkpoint_info& info = {}) {
    write_file_atomically(path, detail::checkpoint::serialize(
                                    model, info, detail::checkpoint::optimizer_section(opt)));
}

// As above, plus caller sections (masks_section(), the pipeline's state, ...), all in
// one file written atomically, so that they can never disagree with each other.
template <typename Model, optimizer Optimizer>
void save_checkpoint(const std::filesystem::path& path, Model& model, Optimizer& opt,
                     const checkpoint_info& info, std::span<const checkpoint_section> extra) {
    write_file_atomically(
        path, detail::checkpoint::serialize(model, info, detail::checkpoint::optimizer_section(opt),
                                            extra));
}

// The "masks" section of a mask set: one uint8 tensor of 0/1 per masked parameter,
// named and shaped like the parameter, and "@roles" (prunable_roles::code()).
template <mask_policy G>
checkpoint_section masks_section(const mask_set<G>& masks) {
    checkpoint_section section("masks");
    section.add("@roles", static_cast<std::int64_t>(masks.roles().code()));
    for (const auto& e : masks)
        section.add(e.name, e.bits.bits(), e.bits.extents());
    return section;
}

// A caller section holding a model's parameters and buffers by their visit names (the
// pipeline's pre-pruning weights "w0", bpr-train's best epoch); read it back with
// checkpoint_file::load_model_tensors.
template <typename Model>
checkpoint_section model_tensors_section(const std::string& name, Model& model) {
    checkpoint_section section(name);
    visit_params(model, [&](std::size_t, const std::string& p_name, auto& p) {
        section.add(p_name, p.value);
    });
    visit_buffers(model, [&](const std::string& t_name, auto& t) { section.add(t_name, t); });
    return section;
}

// Loads parameters and buffers saved by save_checkpoint into `model` and returns the
// stored epoch, step and rng state. Throws bpr::error naming the file and the field
// when the file is truncated or corrupt, and naming the tensor and both shapes when
// the checkpoint belongs to another model; on error the model is unchanged.
// An optimizer section in the file is ignored.
template <typename Model>
checkpoint_info load_checkpoint(const std::filesystem::path& path, Model& model) {
    return detail::checkpoint::load<Model, void>(path, model, nullptr);
}

// As above, and restores the optimizer's state (created first for every slot).
template <typename Model, optimizer Optimizer>
checkpoint_info load_checkpoint(const std::filesystem::path& path, Model& model, Optimizer& opt) {
    return detail::checkpoint::load(path, model, &opt);
}

// What it represents: one checkpoint file read into memory, parsed and CRC-checked
// (every section), for loading the model and reading caller sections from the same
// bytes. Every accessor throws bpr::error naming the file, section, field and value
// when something is missing or has the wrong type or shape.
class checkpoint_file {
  public:
    explicit checkpoint_file(const std::filesystem::path& path)
        : path_(path.string()),
          bytes_(std::make_shared<const std::string>(detail::checkpoint::read_file(path))),
          parsed_(detail::checkpoint::parse_file(path_, *bytes_)) {}

    const std::string& path() const { return path_; }
    std::uint32_t version() const { return parsed_.version; }
    bool has_section(const std::string& name) const { return parsed_.sections.contains(name); }
    checkpoint_info info() const { return detail::checkpoint::read_info(path_, parsed_.sections); }

    // Parameters and buffers (and the optimizer's state); all-or-nothing.
    template <typename Model>
    void load_model(Model& model) const {
        detail::checkpoint::load_parsed<Model, void>(path_, parsed_.sections, model, nullptr);
    }
    template <typename Model, optimizer Optimizer>
    void load_model(Model& model, Optimizer& opt) const {
        detail::checkpoint::load_parsed(path_, parsed_.sections, model, &opt);
    }

    // The "masks" section as a mask set for `model` (names, shapes and roles checked,
    // every bit 0 or 1).
    template <mask_policy G, typename Model>
    mask_set<G> masks(Model& model) const {
        const auto roles_code = integer("masks", "@roles");
        BPR_REQUIRE(roles_code >= 1 && roles_code <= 7, path_,
                    ": section 'masks' field '@roles' is ", roles_code, ", expected 1 to 7");
        const prunable_roles roles{.weights = (roles_code & 1) != 0,
                                   .biases = (roles_code & 2) != 0,
                                   .norm = (roles_code & 4) != 0};
        mask_set<G> set = mask_set<G>::dense(model, roles);
        const auto& stored = section("masks");
        for (auto& e : set) {
            const auto it = stored.find(e.name);
            BPR_REQUIRE(it != stored.end(), path_, ": section 'masks' has no mask for parameter '",
                        e.name, "' (checkpoint of another model?)");
            detail::checkpoint::require_match<std::uint8_t>(path_, "masks", e.name, it->second,
                                                            e.bits.extents());
            std::vector<std::uint8_t> bits(static_cast<std::size_t>(e.bits.size()));
            if (!bits.empty()) std::memcpy(bits.data(), it->second.values, bits.size());
            for (std::size_t i = 0; i < bits.size(); ++i)
                BPR_REQUIRE(bits[i] <= 1, path_, ": section 'masks' field '", e.name,
                            "' holds value ", static_cast<int>(bits[i]), " at position ", i,
                            ", expected 0 or 1");
            e.bits.set_bits(bits, path_ + ": section 'masks' field '" + e.name + "'");
        }
        BPR_REQUIRE(stored.size() == set.size() + 1, path_, ": section 'masks' has ",
                    stored.size() - 1, " masks, the model ", set.size(),
                    " prunable parameters (checkpoint of another model?)");
        return set;
    }

    // Scalars, 1-D arrays and text of a caller section.
    std::int64_t integer(const std::string& section_name, const std::string& field) const {
        std::int64_t value;
        std::memcpy(&value, scalar(section_name, field, detail::checkpoint::dtype::i64), 8);
        return value;
    }
    double real(const std::string& section_name, const std::string& field) const {
        double value;
        std::memcpy(&value, scalar(section_name, field, detail::checkpoint::dtype::f64), 8);
        return value;
    }
    // A 1-D array; `expected_size` (if >= 0) is checked.
    template <typename T>
    std::vector<T> array(const std::string& section_name, const std::string& field,
                         std::int64_t expected_size = -1) const {
        const auto& e = find(section_name, field);
        check_type<T>(section_name, field, e);
        BPR_REQUIRE(e.extents.rank() == 1, path_, ": section '", section_name, "' field '", field,
                    "' has shape ", e.extents.str(), ", expected a 1-D array");
        BPR_REQUIRE(expected_size < 0 || e.extents[0] == expected_size, path_, ": section '",
                    section_name, "' field '", field, "' has ", e.extents[0], " values, expected ",
                    expected_size);
        std::vector<T> values(static_cast<std::size_t>(e.extents[0]));
        if (!values.empty()) std::memcpy(values.data(), e.values, sizeof(T) * values.size());
        return values;
    }
    std::string text(const std::string& section_name, const std::string& field) const {
        const auto bytes = array<std::uint8_t>(section_name, field);
        return std::string(bytes.begin(), bytes.end());
    }

    // Whether a section holds a field (for fields newer than some files).
    bool has_field(const std::string& section_name, const std::string& field) const {
        return section(section_name).contains(field);
    }

    // The field names of a section, sorted.
    std::vector<std::string> field_names(const std::string& section_name) const {
        std::vector<std::string> names;
        for (const auto& [name, e] : section(section_name))
            names.push_back(name);
        return names;
    }

    // Checks, then copies, the tensors of a section named like the model's params and
    // buffers (e.g. the pipeline's "w0"): `visit(f)` calls f(name, tensor<T>&).
    template <typename Visit>
    void load_tensors(const std::string& section_name, Visit&& visit) const {
        detail::checkpoint::check_section(path_, parsed_.sections, section_name, visit);
        detail::checkpoint::copy_section(parsed_.sections, section_name, visit);
    }
    // A section written by model_tensors_section, checked against and copied into `model`.
    template <typename Model>
    void load_model_tensors(const std::string& section_name, Model& model) const {
        load_tensors(section_name, [&](auto&& f) {
            visit_params(model,
                         [&](std::size_t, const std::string& name, auto& p) { f(name, p.value); });
            visit_buffers(model, [&](const std::string& name, auto& t) { f(name, t); });
        });
    }

  private:
    const detail::checkpoint::section& section(const std::string& name) const {
        const auto it = parsed_.sections.find(name);
        BPR_REQUIRE(it != parsed_.sections.end(), path_, ": checkpoint has no '", name,
                    "' section (version ", parsed_.version, " file)");
        return it->second;
    }
    const detail::checkpoint::entry& find(const std::string& section_name,
                                          const std::string& field) const {
        const auto& s = section(section_name);
        const auto it = s.find(field);
        BPR_REQUIRE(it != s.end(), path_, ": section '", section_name, "' has no field '", field,
                    "'");
        return it->second;
    }
    template <typename T>
    void check_type(const std::string& section_name, const std::string& field,
                    const detail::checkpoint::entry& e) const {
        BPR_REQUIRE(e.type == detail::checkpoint::dtype_of<T>(), path_, ": section '", section_name,
                    "' field '", field, "' is ", detail::checkpoint::dtype_name(e.type),
                    ", expected ",
                    detail::checkpoint::dtype_name(detail::checkpoint::dtype_of<T>()));
    }
    const char* scalar(const std::string& section_name, const std::string& field,
                       detail::checkpoint::dtype type) const {
        const auto& e = find(section_name, field);
        BPR_REQUIRE(e.type == type && e.extents.rank() == 0, path_, ": section '", section_name,
                    "' field '", field, "' is ", detail::checkpoint::dtype_name(e.type), " ",
                    e.extents.str(), ", expected a ", detail::checkpoint::dtype_name(type),
                    " scalar");
        return e.values;
    }

    std::string path_;
    std::shared_ptr<const std::string> bytes_;  // shared: entries point into it
    detail::checkpoint::parsed parsed_;
};

}  // namespace bpr
