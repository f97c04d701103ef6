#pragma once
// The "data" section of a checkpoint: which validation split a model was trained
// without, and the input normalization it was trained with, so that a later run
// (pruning, regrowth, inference) validates on images the model never saw and feeds it
// inputs scaled exactly as in training, whatever its own --seed.

#include <cstdint>
#include <optional>
#include <string>

#include "bpr/core/error.hpp"
#include "bpr/data/transforms.hpp"
#include "bpr/io/checkpoint.hpp"

namespace bpr {

// What it represents: the training data's split and normalization as a checkpoint
// records them. `validation` images were carved out of a training set of
// `total_images` by bpr::data::split(train, validation, val_seed); `norm` was computed
// from the rest. (The same split needs the same data: the count is a cheap check.)
struct training_data_record {
    std::int64_t total_images = 0;
    std::int64_t validation = 0;
    std::uint64_t val_seed = 1;
    data::normalization norm{};
};

inline constexpr const char* data_section_name = "data";

inline checkpoint_section data_section(const training_data_record& record) {
    checkpoint_section section(data_section_name);
    section.add("total_images", record.total_images);
    section.add("validation", record.validation);
    // Stored as int64: the section format has no unsigned scalar; seeds above 2^63
    // round-trip through the two's-complement bit pattern.
    section.add("val_seed", static_cast<std::int64_t>(record.val_seed));
    section.add("mean", record.norm.mean);
    section.add("stddev", record.norm.stddev);
    return section;
}

// The record of `file`, or nullopt for a checkpoint without one (written before the
// section existed, or by a program that does not know its data). Throws bpr::error
// naming the file and the field when the section is present but malformed.
inline std::optional<training_data_record> read_data_section(const checkpoint_file& file) {
    if (!file.has_section(data_section_name)) return std::nullopt;
    training_data_record record;
    record.total_images = file.integer(data_section_name, "total_images");
    record.validation = file.integer(data_section_name, "validation");
    BPR_REQUIRE(record.validation >= 0 && record.validation <= record.total_images, file.path(),
                ": section '", data_section_name, "' field 'validation' is ", record.validation,
                ", outside [0, total_images = ", record.total_images, "]");
    record.val_seed = static_cast<std::uint64_t>(file.integer(data_section_name, "val_seed"));
    record.norm.mean = file.array<float>(data_section_name, "mean");
    record.norm.stddev = file.array<float>(data_section_name, "stddev",
                                           static_cast<std::int64_t>(record.norm.mean.size()));
    record.norm.check(record.norm.channels(),
                      file.path() + ": section '" + data_section_name + "'");
    return record;
}

}  // namespace bpr
