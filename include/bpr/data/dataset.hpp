#pragma once
// bpr::data::dataset: labelled images held as bytes, the value every loader returns.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"

namespace bpr::data {

// What it represents: N labelled images of equal size, as the 8-bit pixels they were
// stored with ([N, C, H, W], RGB channel order), so CIFAR-10's 50,000 training
// images take 150 MB instead of 600 MB as floats. Conversion to normalized floats
// happens per batch (see batch_loader).
// Requires (checked by validate()): images of rank 4, one label per image, every
// label in [0, num_classes), class_names empty or num_classes long.
struct dataset {
    tensor<std::uint8_t> images;
    std::vector<int> labels;
    int num_classes = 0;
    std::vector<std::string> class_names;  // optional; index = label
    std::string source;                    // where it was loaded from, for messages

    index_t size() const { return static_cast<index_t>(labels.size()); }
    bool empty() const { return labels.empty(); }
    index_t channels() const { return images.extent(1); }
    index_t height() const { return images.extent(2); }
    index_t width() const { return images.extent(3); }
    // Bytes of one image: channels * height * width.
    index_t image_size() const { return channels() * height() * width(); }

    // The pixels of image i, [C, H, W].
    std::span<const std::uint8_t> image(index_t i) const {
        return {images.data() + i * image_size(), static_cast<std::size_t>(image_size())};
    }

    // Number of images with each label.
    std::vector<index_t> class_counts() const {
        std::vector<index_t> counts(static_cast<std::size_t>(num_classes > 0 ? num_classes : 0), 0);
        for (int label : labels)
            if (label >= 0 && label < num_classes) ++counts[static_cast<std::size_t>(label)];
        return counts;
    }

    // Throws bpr::error naming `source` unless the documented requirements hold.
    void validate() const {
        const std::string& where = source.empty() ? std::string("dataset") : source;
        BPR_REQUIRE(images.shape().rank() == 4, where, ": images have shape ", images.shape().str(),
                    ", expected rank 4 [N, C, H, W]");
        BPR_REQUIRE(images.extent(0) == size(), where, ": ", images.extent(0), " images but ",
                    size(), " labels");
        BPR_REQUIRE(num_classes > 0, where, ": num_classes is ", num_classes,
                    ", expected at least 1");
        BPR_REQUIRE(class_names.empty() || static_cast<int>(class_names.size()) == num_classes,
                    where, ": ", class_names.size(), " class names for num_classes ", num_classes);
        for (index_t i = 0; i < size(); ++i) {
            const int label = labels[static_cast<std::size_t>(i)];
            BPR_REQUIRE(label >= 0 && label < num_classes, where, ": label of image ", i, " is ",
                        label, ", outside [0, ", num_classes, ")");
        }
    }
};

// Which half of a dataset with a fixed train/test division to load.
enum class subset_kind { train, test };

// The images at `indices` (in that order) with their labels, as a new dataset.
// Requires every index in [0, data.size()).
inline dataset subset(const dataset& data, std::span<const index_t> indices) {
    dataset result;
    result.num_classes = data.num_classes;
    result.class_names = data.class_names;
    result.source = data.source;
    const index_t count = static_cast<index_t>(indices.size());
    const index_t bytes = data.image_size();
    result.images.resize({count, data.channels(), data.height(), data.width()});
    result.labels.resize(indices.size());
    for (index_t k = 0; k < count; ++k) {
        const index_t i = indices[static_cast<std::size_t>(k)];
        BPR_REQUIRE(i >= 0 && i < data.size(), "data::subset: index ", i, " at position ", k,
                    " is outside [0, ", data.size(), ") of ", data.source);
        if (bytes > 0)
            std::memcpy(result.images.data() + k * bytes, data.image(i).data(),
                        static_cast<std::size_t>(bytes));
        result.labels[static_cast<std::size_t>(k)] = data.labels[static_cast<std::size_t>(i)];
    }
    return result;
}

}  // namespace bpr::data
