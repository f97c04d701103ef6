// bpr-infer: run a pruned model with the sparse inference engine (bpr/infer): classify
// image files or a whole test set, print accuracy and latency.
//
//   bpr-infer --sparse lenet.bprs                          # Fashion-MNIST test set
//   bpr-infer --model resnet20 --sparse r.bprs --data cifar10:DIR --json infer.json
//   bpr-infer --sparse lenet.bprs shirt.png boot.jpg       # classify files
//
// The recipe, top to bottom: parse flags; load the data (the training split gives the
// normalization, exactly as bpr-prune / bpr-regrow computed it: same --val and --val-seed,
// or the checkpoint's own record);
// build the model and read the sparse model file (or checkpoint) into it; compile it
// into an engine (batchnorm folded, activations fused, sparse or dense per layer); then
// classify the files, or run the test set twice (the engine, and the masked model's own
// eval forward for comparison) and time batch-1 latency and batched throughput.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/data/image_folder.hpp"
#include "bpr/data/split.hpp"
#include "bpr/data/transforms.hpp"
#include "bpr/infer/builder.hpp"
#include "bpr/infer/crossover.hpp"
#include "bpr/infer/engine.hpp"
#include "bpr/io/atomic_file.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/io/json.hpp"
#include "bpr/io/sparse_model.hpp"
#include "common.hpp"

const char* const bpr_examples::program_name = "bpr-infer";

namespace {

using namespace bpr_examples;

const char* const help = R"(usage: bpr-infer [flags] [IMAGE...]
Runs a pruned model with bpr's sparse inference engine. With IMAGE files (PNG/JPEG)
classifies them; otherwise evaluates the whole test set.
  --model NAME         lenet5 (default), resnet20, resnet32, resnet56, resnet20b,
                       vgg16, densenet121, efficientnet_b0 (as the file was written for)
  --sparse FILE        sparse model file (.bprs, from bpr-prune --out / bpr-regrow)
  --checkpoint FILE    or a checkpoint (bpr-train --out); its zero weights are the mask
  --data SPEC          fashion-mnist (default), fashion-mnist:DIR, cifar10:DIR,
                       folder:DIR (DIR/train/<class>/*.png and DIR/test/...)
  --val N              validation images carved from the training set before the
                       normalization is computed, as in training (default: as the
                       --checkpoint records it, else 5000)
  --val-seed N         seed of that split (default: as the --checkpoint records it,
                       else 1); --seed N is the same flag
  --batch N            images per engine call for the throughput run (default 32)
  --threads N          threads (default 1)
  --latency-images N   test images timed one at a time (default 200)
  --limit N            use only N test images, evenly spaced over the file (default: all)
  --policy NAME        kernel choice per layer: auto (default: the stored crossover
                       table), dense, sparse, or measured (time both kernels of every
                       layer on this machine while compiling and keep the faster; the
                       choice is printed and written to the JSON as "paths")
  --paths TEXT         replay a choice: one S (sparse) or D (dense) per convolution and
                       linear layer, e.g. the "paths" of an earlier --policy measured
                       run (overrides --policy) for the --batch engine
  --paths-batch1 TEXT  the same for the batch-1 latency engine ("paths_batch1" of that
                       run; default: --paths)
  --no-compare         skip the masked model's own eval forward
  --json FILE          summary: test_accuracy, latency_ms_batch1, images_per_second,
                       per-layer choice (sparse/dense, density) and more
  --quiet              no per-layer table
)";

struct settings {
    std::string model = "lenet5", sparse, checkpoint, data = "fashion-mnist", json, paths,
                paths_batch1;
    std::string policy_name = "auto";
    bpr::index_t batch = 32, latency_images = 200, limit = -1;
    std::optional<bpr::index_t> validation;  // unset: choose_split decides
    std::optional<std::uint64_t> val_seed;
    int threads = 1;
    bpr::infer::path_policy policy = bpr::infer::path_policy::automatic;
    bool compare = true, quiet = false;
    std::vector<std::string> images;
};

settings parse(int argc, char** argv) {
    settings s;
    flag_table(help)
        .text("--model", s.model, zoo_model_names())
        .text("--sparse", s.sparse)
        .text("--checkpoint", s.checkpoint)
        .text("--data", s.data)
        .integer("--val", s.validation, 0)
        .integer("--val-seed", s.val_seed, 0)
        .integer("--seed", s.val_seed, 0)
        .integer("--batch", s.batch, 1)
        .integer("--threads", s.threads, 1)
        .integer("--latency-images", s.latency_images, 0)
        .integer("--limit", s.limit, 1)
        .custom("--policy",
                [&s](const std::string& value) {
                    require_one_of("--policy", value, {"auto", "dense", "sparse", "measured"});
                    s.policy_name = value;
                    s.policy = value == "dense"      ? bpr::infer::path_policy::always_dense
                               : value == "sparse"   ? bpr::infer::path_policy::always_sparse
                               : value == "measured" ? bpr::infer::path_policy::measured
                                                     : bpr::infer::path_policy::automatic;
                })
        .text("--paths", s.paths)
        .text("--paths-batch1", s.paths_batch1)
        .toggle("--no-compare", s.compare, false)
        .text("--json", s.json)
        .toggle("--quiet", s.quiet)
        .positional(s.images)
        .parse(argc, argv);
    if (s.sparse.empty() == s.checkpoint.empty())
        usage_error("give exactly one of --sparse FILE and --checkpoint FILE");
    return s;
}

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Image i of `data` as normalized floats (the batch loader's formula).
void to_floats(const bpr::data::dataset& data, bpr::index_t i, const bpr::data::normalization& norm,
               float* out) {
    const auto pixels = data.image(i);
    const bpr::index_t plane = data.height() * data.width();
    for (bpr::index_t c = 0; c < data.channels(); ++c)
        for (bpr::index_t p = 0; p < plane; ++p) {
            float v = static_cast<float>(pixels[static_cast<std::size_t>(c * plane + p)]) / 255.0f;
            if (norm.channels() > 0)
                v = (v - norm.mean[static_cast<std::size_t>(c)]) /
                    norm.stddev[static_cast<std::size_t>(c)];
            out[c * plane + p] = v;
        }
}

// An image file decoded to the model's channels and resized (bilinear, pixel centres)
// to its size, as bytes, so that it goes through the dataset's normalization.
std::vector<std::uint8_t> load_image_file(const std::string& path, bpr::index_t channels,
                                          bpr::index_t height, bpr::index_t width) {
    std::vector<unsigned char> bytes = bpr::detail::read_whole_file(path);
    const auto image = bpr::data::decode_image(bytes, path, static_cast<int>(channels));
    const bpr::index_t h = image.extent(2), w = image.extent(3);
    std::vector<std::uint8_t> out(static_cast<std::size_t>(channels * height * width));
    for (bpr::index_t c = 0; c < channels; ++c)
        for (bpr::index_t y = 0; y < height; ++y)
            for (bpr::index_t x = 0; x < width; ++x) {
                const double sy =
                    std::clamp((y + 0.5) * double(h) / double(height) - 0.5, 0.0, double(h - 1));
                const double sx =
                    std::clamp((x + 0.5) * double(w) / double(width) - 0.5, 0.0, double(w - 1));
                const auto y0 = static_cast<bpr::index_t>(sy), x0 = static_cast<bpr::index_t>(sx);
                const bpr::index_t y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
                const double fy = sy - double(y0), fx = sx - double(x0);
                auto at = [&](bpr::index_t yy, bpr::index_t xx) {
                    return double(image.data()[(c * h + yy) * w + xx]);
                };
                const double v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
                                 fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
                out[static_cast<std::size_t>((c * height + y) * width + x)] =
                    static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
            }
    return out;
}

bpr::index_t argmax(const float* row, bpr::index_t n) {
    bpr::index_t best = 0;
    for (bpr::index_t i = 1; i < n; ++i)
        if (row[i] > row[best]) best = i;
    return best;
}

int run(const settings& s, zoo::model& model, const data_pair& data) {
    using clock = std::chrono::steady_clock;
    // A checkpoint is parsed once: its record of the split here, its weights below.
    std::optional<bpr::checkpoint_file> checkpoint;
    if (s.sparse.empty()) checkpoint.emplace(s.checkpoint);
    const split_choice split = choose_split(checkpoint ? &*checkpoint : nullptr, data.train.size(),
                                            s.validation, s.val_seed);
    const auto parts = bpr::data::split(data.train, split.validation, split.val_seed);
    const bpr::data::normalization norm = split.normalization(parts.train);

    if (!s.sparse.empty()) {
        bpr::sparse_file_info info;
        bpr::read_sparse_model(s.sparse, model, &info);
        std::printf("model read from %s (%llu nonzero weights)\n", s.sparse.c_str(),
                    static_cast<unsigned long long>(info.nonzeros));
    } else {
        checkpoint->load_model(model);
        checkpoint.reset();
        std::printf("model read from %s\n", s.checkpoint.c_str());
    }
    const bpr::infer::value_shape input{data.test.channels(), data.test.height(),
                                        data.test.width()};
    bpr::infer::compile_options options;
    options.max_batch = s.batch, options.policy = s.policy, options.paths = s.paths;
    auto engine = zoo::compile_engine(model, input, options);
    const bpr::index_t classes = engine.output_shape().size();
    if (data.test.num_classes > 0 && classes != data.test.num_classes)
        bpr::detail::fail("bpr-infer: the model has ", classes, " outputs but ", data.test.source,
                          " has ", data.test.num_classes, " classes");

    if (!s.quiet) {
        std::printf("%-22s %-7s %-22s %9s %8s %9s  %s\n", "layer", "kind", "shape", "density",
                    "cross", "kernel", "epilogue");
        for (const auto& l : engine.layers()) {
            std::printf("%-22s %-7s %-22s %8.2f%% %7.0f%% %9s  %s%s", l.name.c_str(),
                        l.kind.c_str(), l.shape.c_str(), 100 * l.density(), 100 * l.crossover,
                        bpr::infer::path_name(l.chosen), l.folded_batchnorm ? "bn folded, " : "",
                        l.fused.c_str());
            // --policy measured: the two timings the choice was made on.
            if (l.dense_us >= 0)
                std::printf("  (dense %.1f us, sparse %.1f us)", l.dense_us, l.sparse_us);
            std::printf("\n");
        }
        std::printf("paths %s (batch %lld)\n", engine.paths().c_str(),
                    static_cast<long long>(s.batch));
    }
    const bpr::index_t image_size = input.size();

    if (!s.images.empty()) {
        std::vector<float> x(static_cast<std::size_t>(image_size)),
            logits(static_cast<std::size_t>(classes));
        bpr::data::dataset one;
        for (const auto& path : s.images) {
            one.images.resize({1, input.channels, input.height, input.width});
            const auto bytes = load_image_file(path, input.channels, input.height, input.width);
            std::copy(bytes.begin(), bytes.end(), one.images.data());
            one.labels = {0};
            to_floats(one, 0, norm, x.data());
            engine.forward(x.data(), 1, logits.data());
            const bpr::index_t label = argmax(logits.data(), classes);
            const std::string name = static_cast<std::size_t>(label) < data.test.class_names.size()
                                         ? data.test.class_names[static_cast<std::size_t>(label)]
                                         : std::to_string(label);
            std::printf("%s: %s (class %lld)\n", path.c_str(), name.c_str(),
                        static_cast<long long>(label));
        }
        return 0;
    }

    // The test set as normalized floats, once (its conversion is not what is timed).
    const bpr::index_t count = data.test.size();
    BPR_REQUIRE(count > 0, "bpr-infer: the test set ", data.test.source, " is empty");
    std::vector<float> images(static_cast<std::size_t>(count * image_size));
    for (bpr::index_t i = 0; i < count; ++i)
        to_floats(data.test, i, norm, images.data() + i * image_size);
    std::vector<float> logits(static_cast<std::size_t>(count * classes));

    // Throughput: the whole test set in slices of --batch images.
    engine.forward(images.data(), std::min(count, s.batch), logits.data());  // warm-up
    const auto begin = clock::now();
    const double cpu_begin = cpu_seconds();
    engine.forward(images.data(), count, logits.data());
    const double seconds = std::chrono::duration<double>(clock::now() - begin).count();
    const double cpu = cpu_seconds() - cpu_begin;
    bpr::index_t correct = 0;
    for (bpr::index_t i = 0; i < count; ++i)
        correct += argmax(logits.data() + i * classes, classes) ==
                   data.test.labels[static_cast<std::size_t>(i)];
    const double accuracy = static_cast<double>(correct) / static_cast<double>(count);

    // Latency: one image per call, on an engine sized for one image.
    options.max_batch = 1;
    if (!s.paths_batch1.empty()) options.paths = s.paths_batch1;
    auto single = zoo::compile_engine(model, input, options);
    if (!s.quiet) std::printf("paths %s (batch 1)\n", single.paths().c_str());
    const bpr::index_t timed = std::min(count, s.latency_images);
    double latency_ms = std::nan(""), latency_cpu_ms = std::nan("");
    if (timed > 0) {
        std::vector<float> out(static_cast<std::size_t>(classes));
        single.forward(images.data(), 1, out.data());
        const auto t0 = clock::now();
        const double c0 = cpu_seconds();
        for (bpr::index_t i = 0; i < timed; ++i)
            single.forward(images.data() + i * image_size, 1, out.data());
        latency_ms = 1e3 * std::chrono::duration<double>(clock::now() - t0).count() / double(timed);
        latency_cpu_ms = 1e3 * (cpu_seconds() - c0) / double(timed);
    }

    // The masked model's own eval forward on the same floats: its accuracy, on how many
    // images it predicts what the engine predicts, and the largest logit difference
    // relative to the largest logit (the engine's 1e-4 contract).
    double masked_accuracy = std::nan(""), agreement = std::nan(""), logit_error = std::nan(""),
           largest_logit = std::nan("");
    if (s.compare) {
        bpr::index_t model_correct = 0, same = 0;
        double difference = 0, largest = 0;
        bpr::tensor<float> x, y;
        for (bpr::index_t first = 0; first < count; first += 256) {
            const bpr::index_t n = std::min<bpr::index_t>(256, count - first);
            x.resize({n, input.channels, input.height, input.width});
            std::copy_n(images.data() + first * image_size, n * image_size, x.data());
            model.forward(x, y, bpr::mode::eval);
            for (bpr::index_t i = 0; i < n; ++i) {
                const float* reference = y.data() + i * classes;
                const float* got = logits.data() + (first + i) * classes;
                const bpr::index_t predicted = argmax(reference, classes);
                model_correct += predicted == data.test.labels[static_cast<std::size_t>(first + i)];
                same += predicted == argmax(got, classes);
                for (bpr::index_t k = 0; k < classes; ++k) {
                    difference = std::max(difference, std::abs(double(got[k]) - reference[k]));
                    largest = std::max(largest, std::abs(double(reference[k])));
                }
            }
        }
        masked_accuracy = static_cast<double>(model_correct) / static_cast<double>(count);
        agreement = static_cast<double>(same) / static_cast<double>(count);
        logit_error = largest > 0 ? difference / largest : difference;
        largest_logit = largest;
    }

    std::printf("test accuracy %.2f%% on %lld images", 100 * accuracy,
                static_cast<long long>(count));
    if (s.compare)
        std::printf(
            " (masked model's own eval: %.2f%%; same prediction on %.2f%% of the images, "
            "largest logit difference %.1e of the largest logit)",
            100 * masked_accuracy, 100 * agreement, logit_error);
    std::printf(
        "\nbatch-1 latency %.3f ms (CPU %.3f ms) over %lld images; batch %lld: %.1f "
        "images/s (CPU %.3f ms per image); %d thread(s)\n",
        latency_ms, latency_cpu_ms, static_cast<long long>(timed), static_cast<long long>(s.batch),
        double(count) / seconds, 1e3 * cpu / double(count), s.threads);

    if (!s.json.empty()) {
        std::vector<bpr::json_object> layers;
        for (const auto& l : engine.layers()) {
            bpr::json_object j;
            j.set("name", l.name)
                .set("kind", l.kind)
                .set("shape", l.shape)
                .set("kernel", bpr::infer::path_name(l.chosen))
                .set("density", l.density())
                .set("nonzeros", l.nonzeros)
                .set("weights", l.weights)
                .set("crossover_density", l.crossover)
                .set("dense_us", l.dense_us >= 0 ? l.dense_us : std::nan(""))
                .set("sparse_us", l.sparse_us >= 0 ? l.sparse_us : std::nan(""))
                .set("batchnorm_folded", l.folded_batchnorm)
                .set("epilogue", l.fused);
            layers.push_back(j);
        }
        bpr::json_object j;
        j.set("model", s.model)
            .set("file", s.sparse.empty() ? s.checkpoint : s.sparse)
            .set("data", data.test.source)
            .set("test_images", count)
            .set("test_accuracy", accuracy)
            .set("masked_model_accuracy", masked_accuracy)
            .set("prediction_agreement", agreement)
            .set("max_logit_relative_error", logit_error)
            .set("max_abs_logit", largest_logit)
            .set("latency_ms_batch1", latency_ms)
            .set("latency_cpu_ms_batch1", latency_cpu_ms)
            .set("images_per_second", double(count) / seconds)
            .set("cpu_ms_per_image", 1e3 * cpu / double(count))
            .set("batch", s.batch)
            .set("threads", s.threads)
            .set("policy", s.paths.empty() && s.paths_batch1.empty() ? s.policy_name : "paths")
            .set("paths", engine.paths())
            .set("paths_batch1", single.paths())
            .set("buffer_bytes", engine.buffer_bytes())
            .set("layers", layers);
        bpr::write_file_atomically(s.json, j.str() + "\n");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const settings s = parse(argc, argv);
    bpr::set_threads(s.threads);
    try {
        data_pair data = load_data(s.data);
        data.test = spread_images(std::move(data.test), s.limit);
        // Built for the data as bpr-prune and bpr-regrow build it, so their files fit.
        const model_input in = model_input_of(data, s.data);
        return with_zoo_model(s.model, in, [&](zoo::model& model) { return run(s, model, data); });
    } catch (const bpr::error& e) {
        std::fprintf(stderr, "bpr-infer: %s\n", e.what());
        return 1;
    }
}
