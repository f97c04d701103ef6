#pragma once
// bpr::data::load: one entry point that recognises the three supported folder layouts.

#include <filesystem>
#include <string>

#include "bpr/core/error.hpp"
#include "bpr/data/cifar10.hpp"
#include "bpr/data/dataset.hpp"
#include "bpr/data/idx.hpp"
#include "bpr/data/image_folder.hpp"

namespace bpr::data {

// The folder layouts load() recognises.
enum class format { cifar10_binary, mnist_idx, image_folder };

inline const char* to_string(format f) {
    switch (f) {
        case format::cifar10_binary:
            return "CIFAR-10 binary";
        case format::mnist_idx:
            return "IDX (MNIST layout)";
        case format::image_folder:
            return "image folder";
    }
    return "unknown";
}

// Which layout `dir` holds: CIFAR-10 binary batches (data_batch_1.bin or
// test_batch.bin), MNIST-style IDX files (train-/t10k-images-idx3-ubyte[.gz]), or
// image folders split as dir/train/<class>/ and dir/test/<class>/.
// Throws bpr::error naming the folder and what was looked for otherwise.
inline format detect_format(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code code;
    BPR_REQUIRE(fs::is_directory(dir, code), dir.string(),
                ": dataset folder does not exist or is not a directory");
    auto present = [&](const char* name) { return fs::exists(dir / name, code); };
    if (present("data_batch_1.bin") || present("test_batch.bin")) return format::cifar10_binary;
    for (const char* name : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                             "t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"})
        if (present(name)) return format::mnist_idx;
    if (fs::is_directory(dir / "train", code) && fs::is_directory(dir / "test", code))
        return format::image_folder;
    detail::fail(dir.string(),
                 ": no known dataset layout: expected data_batch_1.bin / test_batch.bin (CIFAR-10 "
                 "binary), train-images-idx3-ubyte[.gz] (IDX), or train/ and test/ image folders");
}

// Loads the train or test part of the dataset in `dir`, whatever its layout (see
// detect_format). Image folders are read from dir/train or dir/test with `options`;
// IDX folders whose path contains "fashion" get the Fashion-MNIST class names.
inline dataset load(const std::filesystem::path& dir, subset_kind which,
                    image_folder_options options = {}) {
    switch (detect_format(dir)) {
        case format::cifar10_binary:
            return load_cifar10(dir, which);
        case format::mnist_idx: {
            dataset result = load_mnist_layout(dir, which, 10);
            if (dir.lexically_normal().string().find("fashion") != std::string::npos)
                result.class_names = fashion_mnist_classes();
            return result;
        }
        case format::image_folder:
            return load_image_folder(dir / (which == subset_kind::train ? "train" : "test"),
                                     options);
    }
    detail::fail(dir.string(), ": unsupported dataset layout");
}

}  // namespace bpr::data
