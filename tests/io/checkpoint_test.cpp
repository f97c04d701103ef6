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
#include "bpr/optim/adamw.hpp"
#include "bpr/optim/sgd.hpp"

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
