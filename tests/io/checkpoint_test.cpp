#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/io/data_section.hpp"
#include "bpr/nn/dropout.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/sequential.hpp"
#include "bpr/optim/adamw.hpp"
#include "bpr/optim/sgd.hpp"
#include "bpr/sparse/mask.hpp"

namespace {

// Two parameters and one buffer, like a linear layer followed by a batchnorm.
struct toy_model {
    bpr::param<float> weight{{3, 2}, bpr::param_role::weight};
    bpr::param<float> bias{{3}, bpr::param_role::bias};
    bpr::tensor<float> running_mean{bpr::shape{3}};

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "fc.weight"), weight);
        f(bpr::detail::join_name(prefix, "fc.bias"), bias);
    }
    template <typename F>
    void for_each_buffer(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "bn.running_mean"), running_mean);
    }
};

// The same names with a wider weight: a checkpoint of "another model".
struct wide_model {
    bpr::param<float> weight{{3, 4}, bpr::param_role::weight};
    bpr::param<float> bias{{3}, bpr::param_role::bias};
    bpr::tensor<float> running_mean{bpr::shape{3}};

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "fc.weight"), weight);
        f(bpr::detail::join_name(prefix, "fc.bias"), bias);
    }
    template <typename F>
    void for_each_buffer(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "bn.running_mean"), running_mean);
    }
};

// No buffer and no bias: tensors are missing in one direction or the other.
struct weight_only_model {
    bpr::param<float> weight{{3, 2}, bpr::param_role::weight};
    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "fc.weight"), weight);
    }
};

struct double_model {
    bpr::param<double> weight{{3, 2}, bpr::param_role::weight};
    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "fc.weight"), weight);
    }
};

void randomize(bpr::tensor<float>& t, bpr::rng& generator) {
    for (auto& v : t)
        v = static_cast<float>(generator.normal());
}

void randomize(toy_model& model, bpr::rng& generator) {
    randomize(model.weight.value, generator);
    randomize(model.bias.value, generator);
    randomize(model.running_mean, generator);
}

void random_grads(toy_model& model, bpr::rng& generator) {
    randomize(model.weight.grad, generator);
    randomize(model.bias.grad, generator);
}

bool same(const bpr::tensor<float>& a, const bpr::tensor<float>& b) {
    return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

// A unique scratch folder per test case, removed at the end.
struct scratch {
    std::filesystem::path dir;
    scratch() {
        static int counter = 0;
        dir =
            std::filesystem::temp_directory_path() /
            ("bpr_checkpoint_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::create_directories(dir);
    }
    ~scratch() { std::filesystem::remove_all(dir); }
    std::filesystem::path operator/(const std::string& name) const { return dir / name; }
};

std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

}  // namespace

TEST_CASE("checkpoint round trip restores model, sgd state and a continued step",
          "[io][checkpoint]") {
    scratch tmp;
    bpr::rng generator(7);
    toy_model model;
    randomize(model, generator);
    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-3});
    for (int i = 0; i < 3; ++i) {
        random_grads(model, generator);
        opt.step(model);
    }
    bpr::rng data_rng(99);
    data_rng.normal();  // leaves a spare normal in the state
    bpr::save_checkpoint(tmp / "a.ckpt", model, opt,
                         {.epoch = 4, .step = 123, .generator = data_rng.save()});

    toy_model restored;
    bpr::sgd<float> restored_opt(
        {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-3});
    const bpr::checkpoint_info info = bpr::load_checkpoint(tmp / "a.ckpt", restored, restored_opt);
    CHECK(info.epoch == 4);
    CHECK(info.step == 123);
    REQUIRE(info.generator.has_value());
    bpr::rng resumed;
    resumed.restore(*info.generator);
    CHECK(resumed.normal() == data_rng.normal());
    CHECK(resumed() == data_rng());

    CHECK(same(restored.weight.value, model.weight.value));
    CHECK(same(restored.bias.value, model.bias.value));
    CHECK(same(restored.running_mean, model.running_mean));
    REQUIRE(restored_opt.slot_count() == 2);
    for (std::size_t slot = 0; slot < 2; ++slot) {
        std::vector<float> a, b;
        opt.for_each_state(
            slot, [&](std::string_view, bpr::tensor<float>& t) { a.assign(t.begin(), t.end()); });
        restored_opt.for_each_state(
            slot, [&](std::string_view, bpr::tensor<float>& t) { b.assign(t.begin(), t.end()); });
        CHECK(a == b);
    }

    random_grads(model, generator);
    restored.weight.grad = model.weight.grad;
    restored.bias.grad = model.bias.grad;
    opt.step(model);
    restored_opt.step(restored);
    CHECK(same(restored.weight.value, model.weight.value));
    CHECK(same(restored.bias.value, model.bias.value));
}

TEST_CASE("checkpoint round trip of adamw keeps moments and step counts", "[io][checkpoint]") {
    scratch tmp;
    bpr::rng generator(3);
    toy_model model;
    randomize(model, generator);
    bpr::adamw<float> opt({.lr = 0.01});
    for (int i = 0; i < 5; ++i) {
        random_grads(model, generator);
        opt.step(model);
    }
    bpr::save_checkpoint(tmp / "adam.ckpt", model, opt);
    toy_model restored;
    bpr::adamw<float> restored_opt({.lr = 0.01});
    const auto info = bpr::load_checkpoint(tmp / "adam.ckpt", restored, restored_opt);
    CHECK_FALSE(info.generator.has_value());
    CHECK(restored_opt.step_count(0) == 5);
    CHECK(restored_opt.step_count(1) == 5);
    random_grads(model, generator);
    restored.weight.grad = model.weight.grad;
    restored.bias.grad = model.bias.grad;
    opt.step(model);
    restored_opt.step(restored);
    CHECK(same(restored.weight.value, model.weight.value));
    CHECK(same(restored.bias.value, model.bias.value));

    // Adam state does not fit an SGD-with-momentum optimizer.
    toy_model other;
    bpr::sgd<float> sgd({.lr = 0.1, .momentum = 0.9});
    CHECK_THROWS_WITH(bpr::load_checkpoint(tmp / "adam.ckpt", other, sgd),
                      Catch::Contains("fc.weight.momentum_buffer") && Catch::Contains("missing"));
}

TEST_CASE("checkpoint of another model is rejected with names and shapes", "[io][checkpoint]") {
    scratch tmp;
    bpr::rng generator(11);
    toy_model model;
    randomize(model, generator);
    bpr::save_checkpoint(tmp / "toy.ckpt", model);

    wide_model wide;
    wide.weight.value.fill(5.0f);
    CHECK_THROWS_WITH(bpr::load_checkpoint(tmp / "toy.ckpt", wide),
                      Catch::Contains("toy.ckpt") && Catch::Contains("fc.weight") &&
                          Catch::Contains("[3, 2]") && Catch::Contains("[3, 4]"));
    CHECK(wide.weight.value[0] == 5.0f);  // untouched by the failed load

    weight_only_model small;
    CHECK_THROWS_WITH(bpr::load_checkpoint(tmp / "toy.ckpt", small),
                      Catch::Contains("fc.bias") && Catch::Contains("no counterpart"));

    bpr::save_checkpoint(tmp / "small.ckpt", small);
    toy_model big;
    randomize(big, generator);
    const bpr::tensor<float> before = big.weight.value;
    CHECK_THROWS_WITH(
        bpr::load_checkpoint(tmp / "small.ckpt", big),
        Catch::Contains("fc.bias") && Catch::Contains("missing") && Catch::Contains("[3]"));
    CHECK(same(big.weight.value, before));

    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.9});
    CHECK_THROWS_WITH(bpr::load_checkpoint(tmp / "toy.ckpt", big, opt),
                      Catch::Contains("no 'optimizer' section"));
}

TEST_CASE("truncated and corrupt checkpoints name the file and the field", "[io][checkpoint]") {
    scratch tmp;
    bpr::rng generator(5);
    toy_model model;
    randomize(model, generator);
    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.5});
    random_grads(model, generator);
    opt.step(model);
    bpr::save_checkpoint(tmp / "good.ckpt", model, opt, {.generator = generator.save()});
    const std::string bytes = read_bytes(tmp / "good.ckpt");
    REQUIRE(bytes.size() > 100);

    // Every possible truncation is an error naming the file, never a crash.
    for (std::size_t length = 0; length < bytes.size(); ++length) {
        write_bytes(tmp / "cut.ckpt", bytes.substr(0, length));
        toy_model target;
        bpr::sgd<float> target_opt({.lr = 0.1, .momentum = 0.5});
        CHECK_THROWS_WITH(bpr::load_checkpoint(tmp / "cut.ckpt", target, target_opt),
                          Catch::Contains("cut.ckpt"));
    }
    write_bytes(tmp / "cut.ckpt", bytes.substr(0, bytes.size() - 3));
    toy_model target;
    CHECK_THROWS_WITH(
        bpr::load_checkpoint(tmp / "cut.ckpt", target),
        Catch::Contains("truncated") && Catch::Contains("optimizer") && Catch::Contains("payload"));

    // A flipped bit in the last section's values fails its CRC.
    std::string corrupt = bytes;
    corrupt[corrupt.size() - 2] ^= 0x10;
    write_bytes(tmp / "bad.ckpt", corrupt);
    CHECK_THROWS_WITH(
        bpr::load_checkpoint(tmp / "bad.ckpt", target),
        Catch::Contains("bad.ckpt") && Catch::Contains("corrupt") && Catch::Contains("crc32"));

    std::string wrong_magic = bytes;
    wrong_magic[0] = 'X';
    write_bytes(tmp / "magic.ckpt", wrong_magic);
    CHECK_THROWS_WITH(
        bpr::load_checkpoint(tmp / "magic.ckpt", target),
        Catch::Contains("magic.ckpt") && Catch::Contains("'magic'") && Catch::Contains("XPRCKPT"));

    std::string wrong_version = bytes;
    wrong_version[8] = 9;
    write_bytes(tmp / "version.ckpt", wrong_version);
    CHECK_THROWS_WITH(bpr::load_checkpoint(tmp / "version.ckpt", target),
                      Catch::Contains("'version' is 9"));

    write_bytes(tmp / "long.ckpt", bytes + "junk");
    CHECK_THROWS_WITH(bpr::load_checkpoint(tmp / "long.ckpt", target),
                      Catch::Contains("4 unexpected bytes"));

    CHECK_THROWS_WITH(bpr::load_checkpoint(tmp / "absent.ckpt", target),
                      Catch::Contains("absent.ckpt") && Catch::Contains("cannot open"));
}

TEST_CASE("a float checkpoint does not load into a double model", "[io][checkpoint]") {
    scratch tmp;
    toy_model model;
    bpr::save_checkpoint(tmp / "f.ckpt", model);
    double_model target;
    CHECK_THROWS_WITH(
        bpr::load_checkpoint(tmp / "f.ckpt", target),
        Catch::Contains("fc.weight") && Catch::Contains("float32") && Catch::Contains("float64"));
    bpr::save_checkpoint(tmp / "d.ckpt", target);
    double_model back;
    back.weight.value.fill(1.0);
    bpr::load_checkpoint(tmp / "d.ckpt", back);
    CHECK(back.weight.value[0] == 0.0);
}

TEST_CASE("saving into a missing folder names the file", "[io][checkpoint]") {
    toy_model model;
    CHECK_THROWS_WITH(bpr::save_checkpoint("/nonexistent-bpr-dir/x.ckpt", model),
                      Catch::Contains("/nonexistent-bpr-dir/x.ckpt"));
}

namespace {

// A version-1 file written by the version-1 code (commit d36e42d, before version 2):
// toy_model with weight = 0.5 i - 1, bias = 0.25 i, running_mean = 1 + i, sgd
// momentum buffers 0.125 (i + 1), epoch 3, step 42, and the rng of seed 7 after one
// normal() draw.
const unsigned char version1_file[] = {
    0x42, 0x50, 0x52, 0x43, 0x4b, 0x50, 0x54, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
    0x04, 0x00, 0x00, 0x00, 0x6d, 0x65, 0x74, 0x61, 0xc5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x96, 0xb2, 0xb0, 0x3e, 0x08, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x65, 0x70, 0x6f, 0x63,
    0x68, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x73,
    0x74, 0x65, 0x70, 0x03, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00,
    0x00, 0x72, 0x6e, 0x67, 0x2e, 0x77, 0x6f, 0x72, 0x64, 0x30, 0x03, 0x00, 0xa9, 0xf1, 0x7b, 0x07,
    0xde, 0x59, 0x58, 0x3a, 0x09, 0x00, 0x00, 0x00, 0x72, 0x6e, 0x67, 0x2e, 0x77, 0x6f, 0x72, 0x64,
    0x31, 0x03, 0x00, 0x1c, 0x24, 0x34, 0xf2, 0xec, 0xe2, 0x5e, 0x8f, 0x09, 0x00, 0x00, 0x00, 0x72,
    0x6e, 0x67, 0x2e, 0x77, 0x6f, 0x72, 0x64, 0x32, 0x03, 0x00, 0xd5, 0x65, 0x19, 0x66, 0x21, 0x50,
    0x27, 0x35, 0x09, 0x00, 0x00, 0x00, 0x72, 0x6e, 0x67, 0x2e, 0x77, 0x6f, 0x72, 0x64, 0x33, 0x03,
    0x00, 0xa9, 0xb9, 0xf3, 0xad, 0x1c, 0x39, 0x75, 0x76, 0x10, 0x00, 0x00, 0x00, 0x72, 0x6e, 0x67,
    0x2e, 0x73, 0x70, 0x61, 0x72, 0x65, 0x5f, 0x6e, 0x6f, 0x72, 0x6d, 0x61, 0x6c, 0x02, 0x00, 0x7b,
    0xf4, 0x7b, 0x56, 0x84, 0x8e, 0xea, 0x3f, 0x14, 0x00, 0x00, 0x00, 0x72, 0x6e, 0x67, 0x2e, 0x68,
    0x61, 0x73, 0x5f, 0x73, 0x70, 0x61, 0x72, 0x65, 0x5f, 0x6e, 0x6f, 0x72, 0x6d, 0x61, 0x6c, 0x03,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x70, 0x61, 0x72,
    0x61, 0x6d, 0x73, 0x5c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe3, 0x22, 0xfc, 0x7d, 0x02,
    0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x66, 0x63, 0x2e, 0x77, 0x65, 0x69, 0x67, 0x68, 0x74,
    0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x3f, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0xc0, 0x3f, 0x07, 0x00, 0x00, 0x00, 0x66, 0x63,
    0x2e, 0x62, 0x69, 0x61, 0x73, 0x01, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x00, 0x3f, 0x07, 0x00, 0x00, 0x00, 0x62,
    0x75, 0x66, 0x66, 0x65, 0x72, 0x73, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xbc,
    0x88, 0x70, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x62, 0x6e, 0x2e, 0x72, 0x75, 0x6e,
    0x6e, 0x69, 0x6e, 0x67, 0x5f, 0x6d, 0x65, 0x61, 0x6e, 0x01, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40, 0x09,
    0x00, 0x00, 0x00, 0x6f, 0x70, 0x74, 0x69, 0x6d, 0x69, 0x7a, 0x65, 0x72, 0x7c, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x86, 0x7e, 0x59, 0xbd, 0x02, 0x00, 0x00, 0x00, 0x19, 0x00, 0x00, 0x00,
    0x66, 0x63, 0x2e, 0x77, 0x65, 0x69, 0x67, 0x68, 0x74, 0x2e, 0x6d, 0x6f, 0x6d, 0x65, 0x6e, 0x74,
    0x75, 0x6d, 0x5f, 0x62, 0x75, 0x66, 0x66, 0x65, 0x72, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3e, 0x00,
    0x00, 0x80, 0x3e, 0x00, 0x00, 0xc0, 0x3e, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x20, 0x3f, 0x00,
    0x00, 0x40, 0x3f, 0x17, 0x00, 0x00, 0x00, 0x66, 0x63, 0x2e, 0x62, 0x69, 0x61, 0x73, 0x2e, 0x6d,
    0x6f, 0x6d, 0x65, 0x6e, 0x74, 0x75, 0x6d, 0x5f, 0x62, 0x75, 0x66, 0x66, 0x65, 0x72, 0x01, 0x01,
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3e, 0x00, 0x00, 0x80, 0x3e,
    0x00, 0x00, 0xc0, 0x3e,
};

}  // namespace

TEST_CASE("a version-1 checkpoint written by the old code still loads", "[io][checkpoint]") {
    scratch tmp;
    write_bytes(tmp / "v1.ckpt",
                std::string(reinterpret_cast<const char*>(version1_file), sizeof version1_file));
    toy_model model;
    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.9});
    const auto info = bpr::load_checkpoint(tmp / "v1.ckpt", model, opt);
    CHECK(info.epoch == 3);
    CHECK(info.step == 42);
    for (int i = 0; i < 6; ++i)
        CHECK(model.weight.value[i] == 0.5f * static_cast<float>(i) - 1.0f);
    for (int i = 0; i < 3; ++i) {
        CHECK(model.bias.value[i] == 0.25f * static_cast<float>(i));
        CHECK(model.running_mean[i] == 1.0f + static_cast<float>(i));
    }
    opt.visit_state([](const std::string&, auto& t) {
        for (int i = 0; i < t.size(); ++i)
            CHECK(t[i] == 0.125f * static_cast<float>(i + 1));
    });
    bpr::rng expected(7);
    expected.normal();
    REQUIRE(info.generator);
    bpr::rng restored(0);
    restored.restore(*info.generator);
    CHECK(restored.normal() == expected.normal());

    const bpr::checkpoint_file file(tmp / "v1.ckpt");
    CHECK(file.version() == 1);
    CHECK_FALSE(file.has_section("masks"));
    CHECK_THROWS_WITH(file.masks<bpr::unstructured>(model),
                      Catch::Contains("v1.ckpt") && Catch::Contains("no 'masks' section") &&
                          Catch::Contains("version 1"));
}

TEST_CASE("version 2 keeps masks and caller sections, each CRC-checked", "[io][checkpoint]") {
    scratch tmp;
    bpr::rng generator(3);
    toy_model model;
    randomize(model, generator);
    bpr::sgd<float> opt({.lr = 0.1, .momentum = 0.9});
    auto masks = bpr::mask_set<bpr::unstructured>::dense(model);
    const std::vector<std::uint8_t> bits{1, 0, 0, 1, 1, 0};
    masks[0].bits.set_bits(bits);
    bpr::checkpoint_section extra("state");
    extra.add("count", std::int64_t{7});
    extra.add("ratio", 0.25);
    extra.add("history", std::vector<double>{0.5, 1.5});
    extra.add_text("note", "flags: --seed 1");
    const std::vector<bpr::checkpoint_section> sections{bpr::masks_section(masks), extra};
    bpr::save_checkpoint(tmp / "v2.ckpt", model, opt, {.epoch = 1},
                         std::span<const bpr::checkpoint_section>(sections));

    const bpr::checkpoint_file file(tmp / "v2.ckpt");
    CHECK(file.version() == 2);
    toy_model loaded;
    bpr::sgd<float> loaded_opt({.lr = 0.1, .momentum = 0.9});
    file.load_model(loaded, loaded_opt);  // saved before any step: no optimizer state
    CHECK(same(loaded.weight.value, model.weight.value));
    const auto back = file.masks<bpr::unstructured>(loaded);
    CHECK(std::vector<std::uint8_t>(back[0].bits.bits().begin(), back[0].bits.bits().end()) ==
          bits);
    CHECK(back.nonzeros() == 3);
    CHECK(file.integer("state", "count") == 7);
    CHECK(file.real("state", "ratio") == 0.25);
    CHECK(file.array<double>("state", "history") == std::vector<double>{0.5, 1.5});
    CHECK(file.text("state", "note") == "flags: --seed 1");

    // Wrong types, missing fields and sections name the section, the field and the value.
    CHECK_THROWS_WITH(file.integer("state", "ratio"),
                      Catch::Contains("v2.ckpt") && Catch::Contains("section 'state'") &&
                          Catch::Contains("field 'ratio'") && Catch::Contains("float64"));
    CHECK_THROWS_WITH(file.array<double>("state", "history", 3),
                      Catch::Contains("field 'history' has 2 values, expected 3"));
    CHECK_THROWS_WITH(file.integer("state", "absent"), Catch::Contains("no field 'absent'"));
    CHECK_THROWS_WITH(file.integer("pipeline", "step"), Catch::Contains("no 'pipeline' section"));

    // Masks of another model name the parameter and both shapes.
    wide_model wide;
    CHECK_THROWS_WITH(file.masks<bpr::unstructured>(wide),
                      Catch::Contains("masks") && Catch::Contains("fc.weight") &&
                          Catch::Contains("[3, 2]") && Catch::Contains("[3, 4]"));

    // A flipped byte in any section fails that section's CRC, named.
    const std::string bytes = read_bytes(tmp / "v2.ckpt");
    for (const std::string section : {"masks", "state"}) {
        std::string corrupt = bytes;
        const auto at = corrupt.find(section == "masks" ? "fc.weight" : "history",
                                     corrupt.find(std::string(section)));
        REQUIRE(at != std::string::npos);
        corrupt[at + 20] = static_cast<char>(corrupt[at + 20] ^ 0x01);
        write_bytes(tmp / "flip.ckpt", corrupt);
        CHECK_THROWS_WITH(bpr::checkpoint_file(tmp / "flip.ckpt"),
                          Catch::Contains("flip.ckpt") &&
                              Catch::Contains("section '" + section + "' is corrupt") &&
                              Catch::Contains("crc32"));
    }
    // Every truncation is an error naming the file.
    for (std::size_t length = 0; length < bytes.size(); length += 7) {
        write_bytes(tmp / "cut.ckpt", bytes.substr(0, length));
        CHECK_THROWS_WITH(bpr::checkpoint_file(tmp / "cut.ckpt"), Catch::Contains("cut.ckpt"));
    }
    // Unknown versions: 0 and 3.
    for (const char version : {char{0}, char{3}}) {
        std::string other = bytes;
        other[8] = version;
        write_bytes(tmp / "version.ckpt", other);
        CHECK_THROWS_WITH(bpr::checkpoint_file(tmp / "version.ckpt"),
                          Catch::Contains("field 'version' is " + std::to_string(version)) &&
                              Catch::Contains("versions 1 to 2"));
    }
    // Reserved section names are refused when writing.
    const std::vector<bpr::checkpoint_section> clash{bpr::checkpoint_section("params")};
    CHECK_THROWS_WITH(bpr::save_checkpoint(tmp / "x.ckpt", model, opt, {},
                                           std::span<const bpr::checkpoint_section>(clash)),
                      Catch::Contains("'params' is reserved"));
}

TEST_CASE("mask bits other than 0 and 1 are rejected with their position", "[io][checkpoint]") {
    scratch tmp;
    toy_model model;
    bpr::sgd<float> opt({.lr = 0.1});
    bpr::checkpoint_section masks("masks");
    masks.add("@roles", std::int64_t{1});
    const std::vector<std::uint8_t> bits{1, 1, 2, 1, 0, 1};
    masks.add("fc.weight", std::span<const std::uint8_t>(bits), bpr::shape{3, 2});
    const std::vector<bpr::checkpoint_section> sections{masks};
    bpr::save_checkpoint(tmp / "m.ckpt", model, opt, {},
                         std::span<const bpr::checkpoint_section>(sections));
    CHECK_THROWS_WITH(bpr::checkpoint_file(tmp / "m.ckpt").masks<bpr::unstructured>(model),
                      Catch::Contains("m.ckpt") && Catch::Contains("field 'fc.weight'") &&
                          Catch::Contains("value 2 at position 2"));
}

TEST_CASE("an empty optimizer section loads only into an optimizer without state",
          "[io][checkpoint]") {
    scratch tmp;
    bpr::rng generator(4);
    toy_model model;
    bpr::sgd<float> fresh({.lr = 0.1, .momentum = 0.9});
    bpr::save_checkpoint(tmp / "early.ckpt", model, fresh);
    bpr::sgd<float> used({.lr = 0.1, .momentum = 0.9});
    random_grads(model, generator);
    used.step(model);
    CHECK_THROWS_WITH(bpr::load_checkpoint(tmp / "early.ckpt", model, used),
                      Catch::Contains("section 'optimizer' is empty") &&
                          Catch::Contains("holds 2 state tensors"));
}

namespace {

using dropout_net = bpr::sequential<bpr::named<"fc1", bpr::linear<float>>, bpr::dropout<float>,
                                    bpr::named<"fc2", bpr::linear<float>>>;
using plain_net =
    bpr::sequential<bpr::named<"fc1", bpr::linear<float>>, bpr::named<"fc2", bpr::linear<float>>>;

dropout_net make_dropout_net() {
    return dropout_net(bpr::linear<float>(6, 8), bpr::dropout<float>(0.5, 11),
                       bpr::linear<float>(8, 3));
}

bpr::tensor<float> train_forward(dropout_net& net, const bpr::tensor<float>& x) {
    bpr::tensor<float> y;
    net.forward(x, y, bpr::mode::train);
    return y;
}

}  // namespace

TEST_CASE("checkpoints keep the dropout stream, so a resumed run draws the same masks",
          "[io][checkpoint]") {
    scratch tmp;
    bpr::rng generator(3);
    dropout_net net = make_dropout_net();
    bpr::visit_params(
        net, [&](std::size_t, const std::string&, auto& p) { randomize(p.value, generator); });
    bpr::tensor<float> x(bpr::shape{4, 6});
    randomize(x, generator);

    std::vector<std::string> names;
    bpr::visit_generators(net, [&](const std::string& name, bpr::rng&) { names.push_back(name); });
    CHECK(names == std::vector<std::string>{"1"});

    const bpr::tensor<float> first = train_forward(net, x);
    train_forward(net, x);
    bpr::save_checkpoint(tmp / "d.ckpt", net);
    const bpr::tensor<float> next = train_forward(net, x);
    CHECK_FALSE(same(next, first));  // the stream moved on: masks differ

    dropout_net resumed = make_dropout_net();  // its stream starts where `net` started
    bpr::load_checkpoint(tmp / "d.ckpt", resumed);
    CHECK(same(train_forward(resumed, x), next));

    SECTION("a checkpoint without generator fields leaves the stream as it is") {
        plain_net plain(bpr::linear<float>(6, 8), bpr::linear<float>(8, 3));
        std::vector<bpr::tensor<float>> plain_values;
        bpr::visit_params(plain, [&](std::size_t, const std::string&, auto& p) {
            randomize(p.value, generator);
            plain_values.push_back(p.value);
        });
        bpr::save_checkpoint(tmp / "plain.ckpt", plain);
        dropout_net loaded = make_dropout_net(), assigned = make_dropout_net();
        train_forward(loaded, x);
        train_forward(assigned, x);
        bpr::load_checkpoint(tmp / "plain.ckpt", loaded);
        bpr::visit_params(assigned, [&](std::size_t i, const std::string&, auto& p) {
            p.value = plain_values[i];
        });
        CHECK(same(train_forward(loaded, x), train_forward(assigned, x)));
    }
}

TEST_CASE("the data section records a model's split and normalization", "[io][checkpoint]") {
    scratch tmp;
    toy_model model;
    bpr::sgd<float> opt({.lr = 0.1});
    const bpr::training_data_record record{.total_images = 60000,
                                           .validation = 5000,
                                           .val_seed = 7,
                                           .norm = {{0.25f, 0.5f}, {0.125f, 2.0f}}};
    const std::vector<bpr::checkpoint_section> sections{bpr::data_section(record)};
    bpr::save_checkpoint(tmp / "with.ckpt", model, opt, {},
                         std::span<const bpr::checkpoint_section>(sections));
    bpr::save_checkpoint(tmp / "without.ckpt", model, opt, {});

    const auto back = bpr::read_data_section(bpr::checkpoint_file(tmp / "with.ckpt"));
    REQUIRE(back.has_value());
    CHECK(back->total_images == 60000);
    CHECK(back->validation == 5000);
    CHECK(back->val_seed == 7);
    CHECK(back->norm.mean == record.norm.mean);
    CHECK(back->norm.stddev == record.norm.stddev);
    CHECK_FALSE(bpr::read_data_section(bpr::checkpoint_file(tmp / "without.ckpt")).has_value());
}

TEST_CASE("a malformed data section names the file and the field", "[io][checkpoint]") {
    scratch tmp;
    toy_model model;
    bpr::sgd<float> opt({.lr = 0.1});
    auto save_with = [&](const std::string& name, const bpr::checkpoint_section& section) {
        const std::vector<bpr::checkpoint_section> sections{section};
        bpr::save_checkpoint(tmp / name, model, opt, {},
                             std::span<const bpr::checkpoint_section>(sections));
        return bpr::checkpoint_file(tmp / name);
    };
    const auto zero_stddev = save_with(
        "zero.ckpt",
        bpr::data_section({.total_images = 20, .validation = 10, .norm = {{0.5f}, {0.0f}}}));
    CHECK_THROWS_WITH(bpr::read_data_section(zero_stddev), Catch::Contains("zero.ckpt") &&
                                                               Catch::Contains("section 'data'") &&
                                                               Catch::Contains("stddev 0"));

    bpr::checkpoint_section uneven("data");
    uneven.add("total_images", std::int64_t{20});
    uneven.add("validation", std::int64_t{10});
    uneven.add("val_seed", std::int64_t{1});
    uneven.add("mean", std::vector<float>{0.5f, 0.5f});
    uneven.add("stddev", std::vector<float>{0.2f});
    CHECK_THROWS_WITH(bpr::read_data_section(save_with("uneven.ckpt", uneven)),
                      Catch::Contains("uneven.ckpt") && Catch::Contains("'stddev'") &&
                          Catch::Contains("1 values, expected 2"));

    bpr::checkpoint_section negative("data");
    negative.add("total_images", std::int64_t{20});
    negative.add("validation", std::int64_t{-3});
    negative.add("val_seed", std::int64_t{1});
    negative.add("mean", std::vector<float>{});
    negative.add("stddev", std::vector<float>{});
    CHECK_THROWS_WITH(bpr::read_data_section(save_with("negative.ckpt", negative)),
                      Catch::Contains("negative.ckpt") &&
                          Catch::Contains("'validation' is -3, outside [0, total_images = 20]"));

    bpr::checkpoint_section missing("data");
    missing.add("total_images", std::int64_t{20});
    missing.add("validation", std::int64_t{10});
    CHECK_THROWS_WITH(bpr::read_data_section(save_with("missing.ckpt", missing)),
                      Catch::Contains("missing.ckpt") && Catch::Contains("val_seed"));
}
