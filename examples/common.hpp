// Plumbing shared by the example programs (bpr-train, bpr-prune, bpr-regrow, bpr-infer):
// the flag table that reads their command lines, and loading the data named by --data. It
// lives here once so that each program's source reads as its own recipe, and so that
// every program words the same mistake the same way.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bpr/data/cifar10.hpp"
#include "bpr/data/dataset.hpp"
#include "bpr/data/idx.hpp"
#include "bpr/data/image_folder.hpp"
#include "bpr/data/split.hpp"
#include "bpr/data/transforms.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/io/data_section.hpp"
#include "bpr/nn/models/catalog.hpp"
#include "zoo.hpp"

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

// The value of `flag` as a whole number of at least `low` (e.g. 1 for --epochs) and at
// most `high` (the range of the field it goes to).
inline std::int64_t parse_integer(const std::string& flag, const std::string& text,
                                  std::int64_t low,
                                  std::int64_t high = std::numeric_limits<std::int64_t>::max()) {
    char* end = nullptr;
    errno = 0;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0') usage_error(flag + ": '" + text + "' is not an integer");
    if (errno == ERANGE || value > high)
        usage_error(flag + ": " + text + " is out of range (at most " + std::to_string(high) + ")");
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

// A program's command line, read against a table of its flags: each flag is bound to a
// field of the program's settings, so that the table is the whole parser. Unknown flags,
// missing values, malformed numbers and values outside `choices` are usage errors;
// --help / -h prints `usage` and exits.
//
//   flag_table(usage).text("--model", s.model, {"lenet5", "resnet20"})
//                    .integer("--epochs", s.epochs, 1)
//                    .toggle("--quiet", s.quiet)
//                    .parse(argc, argv);
class flag_table {
  public:
    explicit flag_table(const char* usage) : usage_(usage) {}

    flag_table& text(std::string name, std::string& field, std::vector<std::string> choices = {}) {
        return with_value(std::move(name), [&field, choices = std::move(choices)](
                                               const std::string& flag, const std::string& value) {
            if (!choices.empty()) require_one_of(flag, value, choices);
            field = value;
        });
    }
    // A finite number, into a double or a std::optional<double> (unset unless given).
    template <typename Field>
    flag_table& number(std::string name, Field& field) {
        return with_value(std::move(name),
                          [&field](const std::string& flag, const std::string& value) {
                              field = parse_number(flag, value);
                          });
    }
    // A whole number of at least `low`, stored in whatever integer type the field has;
    // into a std::optional field it stays unset unless given (its default then comes
    // from elsewhere, e.g. a checkpoint).
    template <typename Integer>
    flag_table& integer(std::string name, Integer& field, std::int64_t low) {
        return with_value(std::move(name),
                          [&field, low](const std::string& flag, const std::string& value) {
                              field = parse_in_range<Integer>(flag, value, low);
                          });
    }
    template <typename Integer>
    flag_table& integer(std::string name, std::optional<Integer>& field, std::int64_t low) {
        return with_value(std::move(name),
                          [&field, low](const std::string& flag, const std::string& value) {
                              field = parse_in_range<Integer>(flag, value, low);
                          });
    }
    // A flag without a value that sets `field` to `value`.
    flag_table& toggle(std::string name, bool& field, bool value = true) {
        entries_.push_back(
            {std::move(name), false,
             [&field, value](const std::string&, const std::string&) { field = value; }});
        return *this;
    }
    // A flag whose value needs more than a field assignment (a list, two fields at once).
    flag_table& custom(std::string name, std::function<void(const std::string& value)> apply) {
        return with_value(std::move(name),
                          [apply = std::move(apply)](const std::string&, const std::string& value) {
                              apply(value);
                          });
    }
    // Arguments that are not flags (e.g. file names); without this they are refused.
    flag_table& positional(std::vector<std::string>& arguments) {
        positional_ = &arguments;
        return *this;
    }

    void parse(int argc, char** argv) const {
        for (int i = 1; i < argc; ++i) {
            const std::string argument = argv[i];
            if (argument == "--help" || argument == "-h") {
                std::fputs(usage_, stdout);
                std::exit(0);
            }
            const entry* match = nullptr;
            for (const entry& e : entries_)
                if (e.name == argument) {
                    match = &e;
                    break;
                }
            if (match == nullptr) {
                if (positional_ != nullptr && !argument.starts_with("-")) {
                    positional_->push_back(argument);
                    continue;
                }
                usage_error("unknown flag '" + argument + "'");
            }
            std::string value;
            if (match->takes_value) {
                if (i + 1 >= argc) usage_error(argument + " needs a value");
                value = argv[++i];
            }
            match->apply(argument, value);
        }
    }

  private:
    template <typename Integer>
    static Integer parse_in_range(const std::string& flag, const std::string& value,
                                  std::int64_t low) {
        constexpr auto high = static_cast<std::int64_t>(std::min<std::uint64_t>(
            std::numeric_limits<Integer>::max(), std::numeric_limits<std::int64_t>::max()));
        return static_cast<Integer>(parse_integer(flag, value, low, high));
    }
    using action = std::function<void(const std::string& flag, const std::string& value)>;
    struct entry {
        std::string name;
        bool takes_value;
        action apply;
    };
    flag_table& with_value(std::string name, action apply) {
        entries_.push_back({std::move(name), true, std::move(apply)});
        return *this;
    }

    const char* usage_;
    std::vector<entry> entries_;
    std::vector<std::string>* positional_ = nullptr;
};

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

// What a model is built for: the data's image channels and (square) size, and the number
// of classes. Checks that the training and test images agree and are square.
struct model_input {
    bpr::index_t channels = 0, size = 0;
    int classes = 0;
};

inline model_input model_input_of(const data_pair& data, const std::string& spec) {
    BPR_REQUIRE(data.train.height() == data.train.width(), spec, ": images are ",
                data.train.height(), "x", data.train.width(), ", the models expect square ones");
    BPR_REQUIRE(data.test.channels() == data.train.channels() &&
                    data.test.height() == data.train.height() &&
                    data.test.width() == data.train.width(),
                spec, ": test images [", data.test.channels(), ", ", data.test.height(), ", ",
                data.test.width(), "] differ from training images [", data.train.channels(), ", ",
                data.train.height(), ", ", data.train.width(), "]");
    return {data.train.channels(), data.train.height(),
            std::max(data.train.num_classes, data.test.num_classes)};
}

// Every zoo model by name (bpr::models::model_names), the choices of each program's --model.
inline std::vector<std::string> zoo_model_names() {
    return {bpr::models::model_names.begin(), bpr::models::model_names.end()};
}

// Builds the zoo model `name` for the data (model_input_of) and returns f(model), with
// the model behind bpr::any_layer (examples/zoo.hpp): f is compiled once, not once
// per model type. Link the program with bpr_example_zoo.
template <typename F>
int with_zoo_model(const std::string& name, const model_input& in, F&& f) {
    zoo::model model = zoo::make_model(name, {in.channels, in.size, in.classes});
    return std::forward<F>(f)(model);
}

// The training augmentation of every example program's --augment: a random crop of the
// image padded by 4 pixels (2 below 32x32, e.g. 28x28 Fashion-MNIST) and a random flip.
inline bpr::data::augmentation standard_augmentation(const bpr::data::dataset& train) {
    return {.pad = train.height() >= 32 ? 4 : 2, .flip = true};
}

// `count` images spread evenly over `data` (all if count is 0 or larger): image
// floor(i * size / count) for i < count, e.g. for quick runs. Data files are often
// sorted by class (CIFAR-10's test batch from the JPEG copy, every image folder), where
// the first N images would be one or two classes; evenly spaced ones keep the file's
// class mix and, unlike a random draw, depend on no seed.
inline bpr::data::dataset spread_images(bpr::data::dataset data, bpr::index_t count) {
    if (count <= 0 || count >= data.size()) return data;
    std::vector<bpr::index_t> indices(static_cast<std::size_t>(count));
    for (bpr::index_t i = 0; i < count; ++i)
        indices[static_cast<std::size_t>(i)] = i * data.size() / count;
    return bpr::data::subset(data, indices);
}

// The validation split and input normalization of a run that starts from a dense
// checkpoint (bpr-prune, bpr-regrow, bpr-infer). The split: --val / --val-seed when
// given, else what the checkpoint's "data" section records (bpr-train writes one), else
// 5000 images and seed 1, the split every committed checkpoint was trained without.
// The normalization: the checkpoint's, else computed from the split's training part.
// Neither depends on the run's own --seed, so seeds compare runs on the same images.
// Prints one line saying which, and a note when the split cannot be the checkpoint's.
// `checkpoint` is null for a run without one; the caller loads its weights from the
// same parsed file.
struct split_choice {
    bpr::index_t validation = 5000;
    std::uint64_t val_seed = 1;
    std::optional<bpr::data::normalization> recorded_norm;  // from the checkpoint

    bpr::data::normalization normalization(const bpr::data::dataset& train_part) const {
        return recorded_norm ? *recorded_norm : bpr::data::compute_normalization(train_part);
    }
};

inline split_choice choose_split(const bpr::checkpoint_file* checkpoint,
                                 bpr::index_t training_images, std::optional<bpr::index_t> val_flag,
                                 std::optional<std::uint64_t> val_seed_flag) {
    split_choice choice;
    const auto record = checkpoint ? bpr::read_data_section(*checkpoint) : std::nullopt;
    const std::string name = checkpoint ? checkpoint->path() : "";
    // Without a validation split the model has seen every image: no unseen split to keep.
    const bool has_unseen_split = record && record->validation > 0;
    if (record) choice.recorded_norm = record->norm;
    if (has_unseen_split)
        choice.validation = record->validation, choice.val_seed = record->val_seed;
    const bpr::index_t validation = val_flag.value_or(choice.validation);
    const std::uint64_t val_seed = val_seed_flag.value_or(choice.val_seed);
    std::printf(
        "validation split: %lld of %lld training images, seed %llu (%s); normalization %s\n",
        static_cast<long long>(validation), static_cast<long long>(training_images),
        static_cast<unsigned long long>(val_seed),
        val_flag || val_seed_flag ? "as the flags ask"
        : has_unseen_split        ? ("as " + name + " records it").c_str()
                                  : "the default split",
        record ? "as the checkpoint records it" : "of the remaining training images");
    if (record && !has_unseen_split)
        std::printf(
            "note: %s was trained on every training image (no --val): validation "
            "figures are of images it has seen\n",
            name.c_str());
    else if (record && (validation != record->validation || val_seed != record->val_seed ||
                        training_images != record->total_images))
        std::printf(
            "note: this split (%lld of %lld images, seed %llu) is not the one %s was "
            "trained without (%lld of %lld, seed %llu): validation figures may include "
            "images it was trained on\n",
            static_cast<long long>(validation), static_cast<long long>(training_images),
            static_cast<unsigned long long>(val_seed), name.c_str(),
            static_cast<long long>(record->validation),
            static_cast<long long>(record->total_images),
            static_cast<unsigned long long>(record->val_seed));
    choice.validation = validation, choice.val_seed = val_seed;
    return choice;
}

}  // namespace bpr_examples
