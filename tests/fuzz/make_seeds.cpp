// Writes the seed corpora of the fuzz targets: small valid files of every kind, each
// prefixed with the mode byte its target reads first. Usage: bpr_fuzz_seeds <corpus>
// (creates <corpus>/<target>/<seed>). Deterministic, so the committed corpora can be
// regenerated and compared.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "../data/test_files.hpp"
#include "../sparse/tiny_model.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/io/safetensors.hpp"
#include "bpr/io/sparse_model.hpp"
#include "bpr/optim/sgd.hpp"
#include "bpr/prune/pruner.hpp"

namespace fs = std::filesystem;
using bpr_test::bytes;

namespace {

fs::path corpus;

bytes slurp(const fs::path& path) {
    return bpr_test::read_file(path);
}

bytes to_bytes(const std::string& text) {
    return bytes(text.begin(), text.end());
}

void seed(const std::string& target, const std::string& name, std::uint8_t mode,
          const bytes& body) {
    fs::create_directories(corpus / target);
    bytes out{mode};
    out.insert(out.end(), body.begin(), body.end());
    bpr_test::write_file(corpus / target / name, out);
}

bytes gzip(const bytes& data) {
    const fs::path tmp = corpus / "tmp.gz";
    bpr_test::write_gz(tmp, data);
    bytes out = slurp(tmp);
    fs::remove(tmp);
    return out;
}

void write_to_vector(void* context, void* data, int size) {
    auto* out = static_cast<bytes*>(context);
    const auto* p = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), p, p + size);
}

bytes encode(int width, int height, int channels, bool jpeg) {
    bytes pixels;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < channels; ++c)
                pixels.push_back(bpr_test::pixel(c, y, x));
    bytes out;
    if (jpeg)
        stbi_write_jpg_to_func(write_to_vector, &out, width, height, channels, pixels.data(), 80);
    else
        stbi_write_png_to_func(write_to_vector, &out, width, height, channels, pixels.data(),
                               width * channels);
    return out;
}

void idx_seeds() {
    const bytes images = bpr_test::idx_images(3, 4, 5);
    const bytes labels = bpr_test::idx_labels({0, 9, 3});
    seed("idx", "images", 0, images);
    seed("idx", "labels", 1, labels);
    seed("idx", "images_gz", 2, gzip(images));
    seed("idx", "labels_gz", 3, gzip(labels));
}

void cifar_seeds() {
    bytes records;
    bpr_test::append_cifar_record(records, 3, 0);
    seed("cifar10", "one_record", 0, records);
    seed("cifar10", "one_record_gz", 1, gzip(records));
}

void image_seeds() {
    seed("image", "rgb_png", 0, encode(5, 4, 3, false));
    seed("image", "grey_png_as_rgb", 3, encode(3, 2, 1, false));
    seed("image", "rgba_png_folder", 8, encode(4, 4, 4, false));
    seed("image", "rgb_jpg", 0, encode(8, 8, 3, true));
    seed("image", "grey_jpg_folder", 9, encode(9, 7, 1, true));
}

void safetensors_seeds() {
    auto mlp = bpr::test::make_tiny_mlp(3);
    auto masks = bpr::mask_set<>::dense(mlp);
    bpr::pruner<>{}.run(mlp, masks, bpr::budget::sparsity(0.5));
    const fs::path tmp = corpus / "tmp.safetensors";
    bpr::save_safetensors(tmp, mlp, &masks);
    seed("safetensors", "tiny_mlp_masked", 1, slurp(tmp));
    bpr::save_safetensors(tmp, mlp, &masks,
                          {.mask_names = bpr::safetensors_mask_names::torch_prune});
    seed("safetensors", "tiny_mlp_torch_prune", 1, slurp(tmp));
    fs::remove(tmp);

    bpr::safetensors_writer writer;
    const std::uint16_t half[3] = {0x3c00, 0x0001, 0x7c00};  // 1, smallest subnormal, inf
    const std::uint16_t bf16[2] = {0x3f80, 0xc000};          // 1, -2
    const double f64[2] = {0.5, -1e300};
    const std::int64_t i64 = 7;
    writer.add_raw("half", "F16", {3}, {reinterpret_cast<const char*>(half), 6});
    writer.add_raw("bf16", "BF16", {1, 2}, {reinterpret_cast<const char*>(bf16), 4});
    writer.add_raw("f64", "F64", {2, 1}, {reinterpret_cast<const char*>(f64), 16});
    writer.add_raw("count", "I64", {}, {reinterpret_cast<const char*>(&i64), 8});
    writer.add_raw("empty", "F32", {0, 3}, {});
    writer.set_metadata("format", "pt");
    seed("safetensors", "dtypes", 0, to_bytes(writer.bytes()));
}

void json_seeds() {
    const char* texts[] = {
        R"({"a": [1, -2.5e3, 0, true, false, null], "b": {"c": "\u00e9\ud83d\ude00\n"}})",
        R"([[[]], {}, "x", 18446744073709551615])",
        R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})",
    };
    int i = 0;
    for (const char* text : texts) {
        fs::create_directories(corpus / "json");
        bpr_test::write_file(corpus / "json" / ("text" + std::to_string(i++)), to_bytes(text));
    }
}

void sparse_model_seeds() {
    const fs::path tmp = corpus / "tmp.bprs";
    for (const auto format : {bpr::storage_format::csr16, bpr::storage_format::bitmap}) {
        auto net = bpr::test::make_tiny_net(5);
        auto masks = bpr::mask_set<>::dense(net);
        bpr::pruner<>{}.run(net, masks, bpr::budget::sparsity(0.95));
        bpr::write_sparse_model(tmp, net, masks, format);
        const std::string name(bpr::format_name(format));
        seed("sparse_model", name + "_95", 0, slurp(tmp));
        seed("sparse_model", name + "_95_fixed_checksum", 1, slurp(tmp));
    }
    auto net = bpr::test::make_tiny_net(6);
    auto masks = bpr::mask_set<bpr::channel>::dense(net);
    bpr::pruner<bpr::magnitude, bpr::global_allocation, bpr::one_shot, bpr::channel>{}.run(
        net, masks, bpr::budget::sparsity(0.5));
    bpr::write_sparse_model(tmp, net, masks, bpr::storage_format::csr16);
    seed("sparse_model", "channel_csr16_50", 3, slurp(tmp));
    fs::remove(tmp);
}

void checkpoint_seeds() {
    const fs::path tmp = corpus / "tmp.ckpt";
    auto mlp = bpr::test::make_tiny_mlp(4);
    bpr::save_checkpoint(tmp, mlp, {.epoch = 2, .step = 30});
    seed("checkpoint", "tiny_mlp", 0, slurp(tmp));
    bpr::sgd optimizer({.momentum = 0.9});
    optimizer.init_state(mlp);
    bpr::save_checkpoint(tmp, mlp, optimizer, {.epoch = 3, .step = 45});
    seed("checkpoint", "tiny_mlp_sgd", 1, slurp(tmp));
    fs::remove(tmp);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: bpr_fuzz_seeds <corpus folder>\n";
        return 2;
    }
    corpus = argv[1];
    idx_seeds();
    cifar_seeds();
    image_seeds();
    safetensors_seeds();
    json_seeds();
    sparse_model_seeds();
    checkpoint_seeds();
    return 0;
}
