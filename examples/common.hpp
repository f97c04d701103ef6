// Plumbing shared by the example programs (bpr-train, bpr-prune, bpr-regrow, bpr-infer):
// flag parsing that ends in a usage error, and loading the data named by --data. It
// lives here once so that each program's source reads as its own recipe, and so that
// every program words the same mistake the same way.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bpr/data/cifar10.hpp"
#include "bpr/data/dataset.hpp"
#include "bpr/data/idx.hpp"
#include "bpr/data/image_folder.hpp"

namespace bpr_examples {

// The program's name in its messages. Each program defines it once, next to its
// includes (a missing definition is a link error, not a nameless message):
//   const char* const bpr_examples::program_name = "bpr-train";
extern const char* const program_name;

// A mistake on the command line: say what is wrong and where the flags are listed, and
// exit with code 2 (1 is for failures of the run itself).
[[noreturn]] inline void usage_error(const std::string& message) {
    std::fprintf(stderr, "%s: %s\n(run %s --help for the flags)\n", program_name, message.c_str(),
                 program_name);
    std::exit(2);
}

// The value of `flag` as a finite number; anything else (empty, "1x", "nan") is refused.
inline double parse_number(const std::string& flag, const std::string& text) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(value))
        usage_error(flag + ": '" + text + "' is not a number");
    return value;
}

// The value of `flag` as a whole number of at least `low` (e.g. 1 for --epochs).
inline std::int64_t parse_integer(const std::string& flag, const std::string& text,
                                  std::int64_t low) {
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0') usage_error(flag + ": '" + text + "' is not an integer");
    if (value < low)
        usage_error(flag + ": " + text + " is below the minimum " + std::to_string(low));
    return value;
}

// Refuses a value of `flag` outside `allowed`, listing the choices.
inline void require_one_of(const std::string& flag, const std::string& value,
                           const std::vector<std::string>& allowed) {
    for (const auto& a : allowed)
        if (a == value) return;
    std::string list;
    for (const auto& a : allowed)
        list += (list.empty() ? "" : ", ") + a;
    usage_error(flag + ": unknown value '" + value + "' (expected one of: " + list + ")");
}

// The training and test halves of the data named by --data.
struct data_pair {
    bpr::data::dataset train, test;
};

// --data SPEC: fashion-mnist (Debian's /usr/share/datasets/fashion-mnist),
// fashion-mnist:DIR, cifar10:DIR (the cifar-10-batches-bin folder or its parent) or
// folder:DIR (DIR/train/<class>/* and DIR/test/<class>/*).
inline data_pair load_data(const std::string& spec) {
    using bpr::data::subset_kind;
    const auto colon = spec.find(':');
    const std::string kind = spec.substr(0, colon);
    const std::string dir = colon == std::string::npos ? "" : spec.substr(colon + 1);
    if (kind == "fashion-mnist") {
        const std::string root = dir.empty() ? bpr::data::default_fashion_mnist_dir : dir;
        return {bpr::data::load_fashion_mnist(subset_kind::train, root),
                bpr::data::load_fashion_mnist(subset_kind::test, root)};
    }
    if (kind != "cifar10" && kind != "folder")
        usage_error("--data: unknown kind '" + kind +
                    "' (expected fashion-mnist, fashion-mnist:DIR, cifar10:DIR or folder:DIR)");
    if (dir.empty()) usage_error("--data " + kind + " needs a folder: " + kind + ":DIR");
    std::filesystem::path root = dir;
    if (kind == "cifar10") {
        if (std::filesystem::is_directory(root / "cifar-10-batches-bin"))
            root /= "cifar-10-batches-bin";
        return {bpr::data::load_cifar10(root, subset_kind::train),
                bpr::data::load_cifar10(root, subset_kind::test)};
    }
    return {bpr::data::load_image_folder(root / "train"),
            bpr::data::load_image_folder(root / "test")};
}

// The first `count` images of `data` (all if count is 0 or larger), e.g. for quick runs.
inline bpr::data::dataset first_images(bpr::data::dataset data, bpr::index_t count) {
    if (count == 0 || count >= data.size()) return data;
    std::vector<bpr::index_t> indices(static_cast<std::size_t>(count));
    for (bpr::index_t i = 0; i < count; ++i)
        indices[static_cast<std::size_t>(i)] = i;
    return bpr::data::subset(data, indices);
}

}  // namespace bpr_examples
