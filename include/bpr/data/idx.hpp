#pragma once
// IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed, and the Fashion-MNIST
// folder layout.

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/data/data_file.hpp"
#include "bpr/data/dataset.hpp"

namespace bpr::detail {

// IDX magic: two zero bytes, a type code (0x08: unsigned bytes), the dimension count.
inline constexpr std::uint32_t idx_images_magic = 0x00000803;
inline constexpr std::uint32_t idx_labels_magic = 0x00000801;
// Larger extents are not images; the bound also keeps n * h * w far from overflow.
inline constexpr std::uint32_t idx_max_side = 1u << 15;

template <typename Source>
std::uint32_t read_big_endian(Source& file, const char* field) {
    unsigned char bytes[4];
    const std::size_t got = file.read(bytes, 4);
    if (got == 0 && file.bytes_read() == 0) fail(file.name(), ": the file is empty");
    BPR_REQUIRE(got == 4, file.name(), ": header is truncated: the file ends after ",
                file.bytes_read(), " bytes, inside the ", field, " field");
    return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
           (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

inline std::string hex32(std::uint32_t value) {
    static const char digits[] = "0123456789abcdef";
    std::string text = "0x";
    for (int shift = 28; shift >= 0; shift -= 4)
        text += digits[(value >> shift) & 0xf];
    return text;
}

// Reads exactly `expected` payload bytes after the header, or explains the mismatch in
// terms of the header's `claim` ("10000 images of 28x28").
template <typename Source>
std::vector<unsigned char> read_idx_payload(Source& file, std::uint64_t expected,
                                            const std::string& claim) {
    const std::uint64_t header = file.bytes_read();
    std::vector<unsigned char> payload = file.read_up_to(expected);
    const std::uint64_t extra = payload.size() == expected ? file.skip_rest() : 0;
    if (payload.size() != expected || extra != 0) {
        const std::uint64_t held = header + payload.size() + extra;
        bpr::detail::fail(file.name(), ": header says ", claim, " (",
                          bpr::detail::with_commas(header + expected), " bytes) but the file",
                          file.size_qualifier(), " holds ", bpr::detail::with_commas(held),
                          " bytes");
    }
    return payload;
}

// The images of an IDX image file read from `file` (a data_file or memory_source).
template <typename Source>
tensor<std::uint8_t> parse_idx_images(Source& file) {
    const std::uint32_t magic = read_big_endian(file, "magic number");
    BPR_REQUIRE(magic == idx_images_magic, file.name(), ": magic number is ", hex32(magic),
                ", expected ", hex32(idx_images_magic),
                " (an IDX file of unsigned bytes with 3 dimensions: images)");
    const std::uint32_t count = read_big_endian(file, "image count");
    const std::uint32_t rows = read_big_endian(file, "row count");
    const std::uint32_t cols = read_big_endian(file, "column count");
    BPR_REQUIRE(count > 0, file.name(), ": header field image count is 0");
    BPR_REQUIRE(rows > 0 && rows <= idx_max_side, file.name(), ": header field row count is ", rows,
                ", expected 1 to ", idx_max_side);
    BPR_REQUIRE(cols > 0 && cols <= idx_max_side, file.name(), ": header field column count is ",
                cols, ", expected 1 to ", idx_max_side);
    const std::uint64_t expected = std::uint64_t{count} * rows * cols;
    const std::vector<unsigned char> payload =
        read_idx_payload(file, expected, concat(count, " images of ", rows, "x", cols));
    tensor<std::uint8_t> images({index_t{count}, 1, index_t{rows}, index_t{cols}});
    std::memcpy(images.data(), payload.data(), payload.size());
    return images;
}

// The labels of an IDX label file read from `file`, each checked against num_classes.
template <typename Source>
std::vector<int> parse_idx_labels(Source& file, int num_classes) {
    BPR_REQUIRE(num_classes > 0 && num_classes <= 256, file.name(), ": num_classes is ",
                num_classes, ", expected 1 to 256 for byte labels");
    const std::uint32_t magic = read_big_endian(file, "magic number");
    BPR_REQUIRE(magic == idx_labels_magic, file.name(), ": magic number is ", hex32(magic),
                ", expected ", hex32(idx_labels_magic),
                " (an IDX file of unsigned bytes with 1 dimension: labels)");
    const std::uint32_t count = read_big_endian(file, "label count");
    BPR_REQUIRE(count > 0, file.name(), ": header field label count is 0");
    const std::vector<unsigned char> payload =
        read_idx_payload(file, count, concat(count, " labels"));
    std::vector<int> labels(payload.size());
    for (std::size_t i = 0; i < payload.size(); ++i) {
        BPR_REQUIRE(payload[i] < num_classes, file.name(), ": label ", i, " is ", int{payload[i]},
                    ", outside [0, ", num_classes, ")");
        labels[i] = payload[i];
    }
    return labels;
}

}  // namespace bpr::detail

namespace bpr::data {

// Images of an IDX file ("...-images-idx3-ubyte[.gz]") as [N, 1, H, W] bytes.
// Guarantees: bpr::error naming the file and field for a missing or empty file, a
// magic number other than 0x00000803, zero or absurd extents, or a payload size that
// differs from the header's (checked while reading, before any large allocation).
inline tensor<std::uint8_t> load_idx_images(const std::filesystem::path& path) {
    bpr::detail::data_file file(path);
    return detail::parse_idx_images(file);
}

// Labels of an IDX file ("...-labels-idx1-ubyte[.gz]").
// Guarantees: as load_idx_images (magic 0x00000801), and every label < num_classes.
inline std::vector<int> load_idx_labels(const std::filesystem::path& path, int num_classes = 10) {
    bpr::detail::data_file file(path);
    return detail::parse_idx_labels(file, num_classes);
}

// load_idx_images and load_idx_labels for uncompressed IDX bytes already in memory;
// `name` stands for the file in messages.
inline tensor<std::uint8_t> parse_idx_images(std::span<const unsigned char> bytes,
                                             std::string name = "IDX bytes") {
    bpr::detail::memory_source source(bytes, std::move(name));
    return detail::parse_idx_images(source);
}
inline std::vector<int> parse_idx_labels(std::span<const unsigned char> bytes, int num_classes = 10,
                                         std::string name = "IDX bytes") {
    bpr::detail::memory_source source(bytes, std::move(name));
    return detail::parse_idx_labels(source, num_classes);
}

// An IDX image file and its label file as one dataset; the counts must agree.
inline dataset load_idx(const std::filesystem::path& images_path,
                        const std::filesystem::path& labels_path, int num_classes = 10) {
    dataset result;
    result.images = load_idx_images(images_path);
    result.labels = load_idx_labels(labels_path, num_classes);
    BPR_REQUIRE(static_cast<index_t>(result.labels.size()) == result.images.extent(0),
                labels_path.string(), ": label count is ", result.labels.size(), " but ",
                images_path.string(), " holds ", result.images.extent(0), " images");
    result.num_classes = num_classes;
    result.source = images_path.string();
    return result;
}

// The Fashion-MNIST class names, in label order.
inline std::vector<std::string> fashion_mnist_classes() {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

// Where Debian's dataset-fashion-mnist package installs the data.
inline constexpr const char* default_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

// MNIST-layout folder: "train-images-idx3-ubyte" / "t10k-images-idx3-ubyte" and the
// matching label files, each plain or with ".gz" (the plain file wins if both exist).
inline dataset load_mnist_layout(const std::filesystem::path& dir, subset_kind which,
                                 int num_classes = 10) {
    std::error_code code;
    BPR_REQUIRE(std::filesystem::is_directory(dir, code), dir.string(),
                ": dataset folder does not exist or is not a directory");
    const std::string prefix = which == subset_kind::train ? "train" : "t10k";
    auto pick = [&](const std::string& stem) {
        const std::filesystem::path plain = dir / stem;
        if (std::filesystem::is_regular_file(plain, code)) return plain;
        return dir / (stem + ".gz");  // data_file names it if it is missing too
    };
    return load_idx(pick(prefix + "-images-idx3-ubyte"), pick(prefix + "-labels-idx1-ubyte"),
                    num_classes);
}

// Fashion-MNIST (60,000 train / 10,000 test grey 28x28 images, 10 classes) with its
// class names, from `dir` (default: Debian's package location).
inline dataset load_fashion_mnist(subset_kind which,
                                  const std::filesystem::path& dir = default_fashion_mnist_dir) {
    dataset result = load_mnist_layout(dir, which, 10);
    result.class_names = fashion_mnist_classes();
    return result;
}

}  // namespace bpr::data
