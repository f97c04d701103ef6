#pragma once
// CIFAR-10 binary batches: records of one label byte and 3x32x32 pixel bytes.

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/data/data_file.hpp"
#include "bpr/data/dataset.hpp"

namespace bpr::detail {

inline constexpr index_t cifar_side = 32;
inline constexpr index_t cifar_image_bytes = 3 * cifar_side * cifar_side;
inline constexpr index_t cifar_record_bytes = 1 + cifar_image_bytes;

// Appends the records read from `file` (a data_file or memory_source) to `labels` and
// `pixels`.
template <typename Source>
void read_cifar_records(Source& file, int num_classes, std::vector<int>& labels,
                        std::vector<unsigned char>& pixels) {
    // No header: the allocation is bounded by the bytes the file really holds.
    const std::vector<unsigned char> bytes = file.read_up_to(~std::uint64_t{0});
    BPR_REQUIRE(!bytes.empty(), file.name(), ": the file is empty");
    BPR_REQUIRE(bytes.size() % cifar_record_bytes == 0, file.name(), ": file size",
                file.size_qualifier(), " is ", with_commas(bytes.size()),
                " bytes, not a multiple of the record size ", cifar_record_bytes,
                " (1 label byte + 3x32x32 pixel bytes); the last record has ",
                bytes.size() % cifar_record_bytes, " bytes");
    const std::size_t records = bytes.size() / cifar_record_bytes;
    labels.reserve(labels.size() + records);
    pixels.reserve(pixels.size() + records * cifar_image_bytes);
    for (std::size_t r = 0; r < records; ++r) {
        const unsigned char* record = bytes.data() + r * cifar_record_bytes;
        BPR_REQUIRE(record[0] < num_classes, file.name(), ": label of record ", r, " is ",
                    int{record[0]}, ", outside [0, ", num_classes, ")");
        labels.push_back(record[0]);
        pixels.insert(pixels.end(), record + 1, record + cifar_record_bytes);
    }
}

}  // namespace bpr::detail

namespace bpr::data {

// The CIFAR-10 class names, in label order.
inline std::vector<std::string> cifar10_classes() {
    return {"airplane", "automobile", "bird",  "cat",  "deer",
            "dog",      "frog",       "horse", "ship", "truck"};
}

// The records of the given CIFAR-10 binary batch files (plain or gzip), in order, as
// [N, 3, 32, 32] bytes (R, G, B planes as stored).
// Guarantees: bpr::error naming the file for a missing or empty file, a size that is
// not a multiple of 3,073 bytes, or a label >= num_classes.
inline dataset load_cifar10_files(const std::vector<std::filesystem::path>& paths,
                                  int num_classes = 10) {
    BPR_REQUIRE(!paths.empty(), "data::load_cifar10_files: no batch files given");
    BPR_REQUIRE(num_classes > 0 && num_classes <= 256, paths.front().string(), ": num_classes is ",
                num_classes, ", expected 1 to 256 for byte labels");
    dataset result;
    std::vector<unsigned char> pixels;
    for (const auto& path : paths) {
        bpr::detail::data_file file(path);
        detail::read_cifar_records(file, num_classes, result.labels, pixels);
    }
    const index_t count = result.size();
    result.images.resize({count, 3, detail::cifar_side, detail::cifar_side});
    std::memcpy(result.images.data(), pixels.data(), pixels.size());
    result.num_classes = num_classes;
    result.source = paths.front().string();
    return result;
}

// The records of CIFAR-10 binary bytes already in memory (uncompressed); `name` stands
// for the file in messages. Same checks as load_cifar10_files.
inline dataset parse_cifar10(std::span<const unsigned char> bytes, std::string name = "CIFAR bytes",
                             int num_classes = 10) {
    BPR_REQUIRE(num_classes > 0 && num_classes <= 256, name, ": num_classes is ", num_classes,
                ", expected 1 to 256 for byte labels");
    bpr::detail::memory_source source(bytes, name);
    dataset result;
    std::vector<unsigned char> pixels;
    detail::read_cifar_records(source, num_classes, result.labels, pixels);
    result.images.resize({result.size(), 3, detail::cifar_side, detail::cifar_side});
    std::memcpy(result.images.data(), pixels.data(), pixels.size());
    result.num_classes = num_classes;
    result.source = std::move(name);
    return result;
}

// CIFAR-10 from the standard folder "cifar-10-batches-bin": data_batch_1..5.bin for
// train, test_batch.bin for test. Class names come from batches.meta.txt when it lists
// exactly ten names, else the standard ones.
inline dataset load_cifar10(const std::filesystem::path& dir, subset_kind which) {
    std::error_code code;
    BPR_REQUIRE(std::filesystem::is_directory(dir, code), dir.string(),
                ": CIFAR-10 folder does not exist or is not a directory");
    std::vector<std::filesystem::path> paths;
    if (which == subset_kind::train) {
        for (int b = 1; b <= 5; ++b)
            paths.push_back(dir / ("data_batch_" + std::to_string(b) + ".bin"));
    } else {
        paths.push_back(dir / "test_batch.bin");
    }
    dataset result = load_cifar10_files(paths, 10);
    result.source = dir.string();
    result.class_names = cifar10_classes();
    std::ifstream meta(dir / "batches.meta.txt");
    std::vector<std::string> names;
    for (std::string line; std::getline(meta, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
            line.pop_back();
        if (!line.empty()) names.push_back(line);
    }
    if (names.size() == 10) result.class_names = names;
    return result;
}

}  // namespace bpr::data
