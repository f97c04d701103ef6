#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/io/safetensors.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/sequential.hpp"

#include "../support/random_values.hpp"

namespace {

using Catch::Matchers::Contains;

using small_net =
    bpr::sequential<bpr::named<"conv", bpr::conv2d<float>>, bpr::named<"bn", bpr::batchnorm<float>>,
                    bpr::flatten<float>, bpr::named<"fc", bpr::linear<float>>>;

small_net make_net(bpr::index_t hidden = 3) {
    return small_net(bpr::conv2d<float>(2, hidden, 3, 1, 1, 1, true), bpr::batchnorm<float>(hidden),
                     bpr::flatten<float>{}, bpr::linear<float>(hidden * 4 * 4, 5));
}

// Fills every parameter and buffer with distinct random values (running_var positive).
template <typename Model>
void randomize(Model& model, std::uint64_t seed) {
    bpr::rng generator(seed);
    bpr::visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        bpr_test::fill_uniform(p.value, generator);
    });
    bpr::visit_buffers(model, [&](const std::string&, auto& t) {
        for (auto& v : t)
            v = static_cast<float>(generator.uniform(0.5, 1.5));
    });
}

// All parameter and buffer values, concatenated, for bit comparisons.
template <typename Model>
std::vector<float> flatten_state(Model& model) {
    std::vector<float> all;
    bpr::visit_params(model, [&](std::size_t, const std::string&, auto& p) {
        all.insert(all.end(), p.value.begin(), p.value.end());
    });
    bpr::visit_buffers(
        model, [&](const std::string&, auto& t) { all.insert(all.end(), t.begin(), t.end()); });
    return all;
}

// A safetensors file from a header text and a data region, as an attacker would write it.
std::string file_of(const std::string& header, const std::string& data, std::uint64_t length) {
    std::string bytes(8, '\0');
    std::memcpy(bytes.data(), &length, 8);
    return bytes + header + data;
}
std::string file_of(const std::string& header, const std::string& data) {
    return file_of(header, data, header.size());
}

std::filesystem::path safetensors_temp_path(const std::string& name) {
    return std::filesystem::temp_directory_path() / ("bpr_safetensors_test_" + name);
}

bool bits_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("save_safetensors then load_safetensors is bit-identical", "[io][safetensors]") {
    small_net source = make_net();
    randomize(source, 7);
    const auto path = safetensors_temp_path("roundtrip.safetensors");
    bpr::save_safetensors(path, source);

    const auto file = bpr::safetensors_file::read(path);
    CHECK(file.tensors().size() == 9);  // conv w/b, bn w/b/mean/var/num_batches_tracked, fc w/b
    CHECK(file.at("conv.weight").shape_str() == "[3, 2, 3, 3]");
    CHECK(file.at("conv.weight").dtype == "F32");
    CHECK(file.at("bn.num_batches_tracked").dtype == "I64");
    CHECK(file.at("bn.num_batches_tracked").extents.empty());

    small_net target = make_net();
    bpr::load_safetensors(path, target);
    CHECK(bits_equal(flatten_state(source), flatten_state(target)));
    std::filesystem::remove(path);
}

TEST_CASE("safetensors_writer output parses back with metadata and alignment",
          "[io][safetensors]") {
    bpr::safetensors_writer writer;
    bpr::tensor<double> d({2}, 0.0);
    d[0] = 1.0 / 3.0;
    d[1] = -2.0;
    writer.add("d", d);
    writer.add_raw("empty", "F32", {0, 4}, {});
    writer.set_metadata("format", "pt");
    writer.set_metadata("note", "quote \" and \xc3\xa9");
    const std::string bytes = writer.bytes();
    std::uint64_t header = 0;
    std::memcpy(&header, bytes.data(), 8);
    CHECK((8 + header) % 8 == 0);
    const auto file = bpr::safetensors_file::parse(bytes, "w");
    CHECK(file.metadata().at("format") == "pt");
    CHECK(file.metadata().at("note") == "quote \" and \xc3\xa9");
    CHECK(file.values<double>("d") == std::vector<double>{1.0 / 3.0, -2.0});
    CHECK(file.to_tensor<float>("empty").shape() == bpr::shape{0, 4});
    CHECK_THROWS_WITH(writer.add_raw("d", "F32", {}, std::string(4, '\0')),
                      Contains("added twice"));
    CHECK_THROWS_WITH(writer.add_raw("x", "F32", {3}, std::string(4, '\0')),
                      Contains("4 bytes for 3 values"));
}

TEST_CASE("F16, BF16 and F64 tensors convert to float exactly", "[io][safetensors]") {
    // Half: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal),
    // 0x0200 = 2^-15 (subnormal), -0, +inf, NaN.
    const std::vector<std::uint16_t> half = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400,
                                             0x0200, 0x8000, 0x7c00, 0x7e00};
    // BF16: 1, -3.140625, 2^-133 (subnormal), -inf.
    const std::vector<std::uint16_t> brain = {0x3f80, 0xc049, 0x0001, 0xff80};
    const std::vector<double> wide = {0.1, -1e300};
    std::string data(reinterpret_cast<const char*>(half.data()), half.size() * 2);
    data.append(reinterpret_cast<const char*>(brain.data()), brain.size() * 2);
    data.append(reinterpret_cast<const char*>(wide.data()), wide.size() * 8);
    const std::string header = R"({"h":{"dtype":"F16","shape":[9],"data_offsets":[0,18]},)"
                               R"("b":{"dtype":"BF16","shape":[2,2],"data_offsets":[18,26]},)"
                               R"("w":{"dtype":"F64","shape":[2],"data_offsets":[26,42]}})";
    const auto file = bpr::safetensors_file::parse(file_of(header, data), "conv");
    const auto h = file.values<float>("h");
    CHECK(h[0] == 1.0f);
    CHECK(h[1] == -2.0f);
    CHECK(h[2] == 65504.0f);
    CHECK(h[3] == std::ldexp(1.0f, -24));
    CHECK(h[4] == std::ldexp(1.0f, -14));
    CHECK(h[5] == std::ldexp(1.0f, -15));
    CHECK((h[6] == 0.0f && std::signbit(h[6])));
    CHECK(h[7] == std::numeric_limits<float>::infinity());
    CHECK(std::isnan(h[8]));
    const auto b = file.to_tensor<float>("b");
    CHECK(b.shape() == bpr::shape{2, 2});
    CHECK(b[0] == 1.0f);
    CHECK(b[1] == -3.140625f);
    CHECK(b[2] == std::ldexp(1.0f, -133));
    CHECK(b[3] == -std::numeric_limits<float>::infinity());
    CHECK(file.values<double>("w") == wide);
    CHECK(file.values<float>("w")[0] == 0.1f);
}

TEST_CASE("safetensors_file rejects every malformed header with a clear message",
          "[io][safetensors]") {
    const std::string f32x2(8, '\0');
    const auto rejects = [](const std::string& bytes, const std::string& why) {
        INFO(why);
        CHECK_THROWS_WITH(bpr::safetensors_file::parse(bytes, "bad.safetensors"),
                          Contains("bad.safetensors: ") && Contains(why));
    };
    const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    CHECK_NOTHROW(bpr::safetensors_file::parse(file_of(ok, f32x2), "good"));
    // Trailing spaces pad the header, as the reference writer does.
    CHECK_NOTHROW(bpr::safetensors_file::parse(file_of(ok + "   ", f32x2), "good"));

    rejects("", "too short for a safetensors file: 0 bytes");
    rejects(std::string(5, '\0'), "5 bytes");
    rejects(file_of(ok, f32x2, ok.size() + 9),
            "field 'header length' is " + std::to_string(ok.size() + 9) + " but only");
    rejects(file_of(ok, f32x2, std::uint64_t(1) << 40), "more than the 100000000 bytes accepted");
    rejects(file_of(ok, f32x2, ~std::uint64_t(0)), "more than the 100000000 bytes accepted");
    rejects(file_of("[1,2]", ""), "does not start with '{'");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", f32x2),
            "invalid JSON header at byte");
    rejects(file_of("{\"\xff\":{}}", ""), "invalid UTF-8");
    rejects(file_of(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", f32x2),
            "tensor 'a': field 'dtype' is \"F31\", not a known dtype");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2),
            "tensor 'a': field 'shape' [3] of F32 needs 12 bytes but field 'data_offsets' [0, 8] "
            "spans 8");
    rejects(
        file_of(
            R"({"a":{"dtype":"F32","shape":[1099511627776, 1099511627776],"data_offsets":[0,8]}})",
            f32x2),
        "needs more than 2^64 bytes");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,8]}})", f32x2),
            "field 'shape' [1099511627776] of F32 needs 4398046511104 bytes");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2),
            "field 'shape' has extent -2");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", f32x2),
            "tensor 'a': field 'data_offsets' is [8, 16], outside the data region of 8 bytes");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32x2),
            "begin after end");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f32x2),
            "expected [begin, end]");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    f32x2),
            "overlapping tensor 'a' which ends at 8");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32x2),
            "leaving a gap of 4 bytes at offset 0");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32x2),
            "4 trailing bytes belong to no tensor");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                    f32x2),
            "duplicate key \"a\"");
    rejects(file_of(ok, f32x2.substr(0, 5)),
            "outside the data region of 5 bytes (truncated file?)");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", f32x2),
            "tensor 'a' has unknown field 'x'");
    rejects(file_of(R"({"a":{"dtype":"F32","shape":[2]}})", f32x2),
            "tensor 'a' has no field 'data_offsets'");
    rejects(file_of(R"({"__metadata__":{"k":1}})", ""), "field '__metadata__' key 'k' is 1");
}

TEST_CASE("load_safetensors names the tensor when the file belongs to another model",
          "[io][safetensors]") {
    small_net wide = make_net(4);
    const auto path = safetensors_temp_path("wide.safetensors");
    bpr::save_safetensors(path, wide);
    small_net narrow = make_net(3);
    randomize(narrow, 3);
    const auto before = flatten_state(narrow);
    CHECK_THROWS_WITH(bpr::load_safetensors(path, narrow),
                      Contains("tensor 'conv.weight' has shape [4, 2, 3, 3] in the file but [3, 2, "
                               "3, 3] in the model"));
    CHECK(bits_equal(before, flatten_state(narrow)));  // unchanged on error

    // Missing and unexpected tensors.
    const auto file = bpr::safetensors_file::read(path);
    bpr::safetensors_writer partial, extra;
    small_net same = make_net(4);
    bpr::visit_params(same, [&](std::size_t, const std::string& name, auto& p) {
        if (name != "fc.bias") partial.add(name, p.value);
        extra.add(name, p.value);
    });
    bpr::visit_buffers(same, [&](const std::string& name, auto& t) {
        partial.add(name, t);
        extra.add(name, t);
    });
    extra.add("fc.scale", bpr::tensor<float>({5}));
    CHECK_THROWS_WITH(
        bpr::load_safetensors(bpr::safetensors_file::parse(partial.bytes(), "p"), same),
        Contains("p: parameter 'fc.bias' with shape [5] is missing from the file"));
    CHECK_THROWS_WITH(
        bpr::load_safetensors(bpr::safetensors_file::parse(extra.bytes(), "e"), same),
        Contains("e: tensor 'fc.scale' with shape [5] in the file has no counterpart"));

    // A non-float dtype under a parameter name.
    bpr::safetensors_writer ints;
    bpr::visit_params(same, [&](std::size_t, const std::string& name, auto& p) {
        if (name == "fc.bias")
            ints.add_raw(name, "I32", {5}, std::string(20, '\0'));
        else
            ints.add(name, p.value);
    });
    bpr::visit_buffers(same, [&](const std::string& name, auto& t) { ints.add(name, t); });
    CHECK_THROWS_WITH(bpr::load_safetensors(bpr::safetensors_file::parse(ints.bytes(), "i"), same),
                      Contains("i: tensor 'fc.bias': field 'dtype' is I32"));
    std::filesystem::remove(path);
}

TEST_CASE("masks round trip and torch.nn.utils.prune state_dicts load", "[io][safetensors]") {
    small_net source = make_net();
    randomize(source, 11);
    auto masks = bpr::mask_set<>::dense(source);
    bpr::rng generator(5);
    for (auto& entry : masks) {
        std::vector<std::uint8_t> bits(static_cast<std::size_t>(entry.bits.size()));
        for (auto& b : bits)
            b = generator.uniform(0.0, 1.0) < 0.3;
        entry.bits.set_bits(bits);
    }
    for (const auto naming :
         {bpr::safetensors_mask_names::suffix, bpr::safetensors_mask_names::torch_prune}) {
        const auto path = safetensors_temp_path("masked.safetensors");
        bpr::save_safetensors(path, source, &masks, {.mask_names = naming});
        const auto file = bpr::safetensors_file::read(path);
        CHECK(file.find("conv.weight_mask") != nullptr);
        CHECK((file.find("conv.weight_orig") != nullptr) ==
              (naming == bpr::safetensors_mask_names::torch_prune));

        small_net target = make_net();
        bpr::mask_set<> loaded;
        bpr::load_safetensors(path, target, &loaded);
        REQUIRE(loaded.size() == masks.size());
        for (std::size_t i = 0; i < masks.size(); ++i) {
            CHECK(loaded[i].name == masks[i].name);
            CHECK(std::equal(loaded[i].bits.bits().begin(), loaded[i].bits.bits().end(),
                             masks[i].bits.bits().begin()));
        }
        small_net expected = source;
        masks.apply(expected);
        CHECK(bits_equal(flatten_state(expected), flatten_state(target)));
        std::filesystem::remove(path);
    }

    // weight = weight_orig * weight_mask, and masks must hold 0 or 1.
    bpr::safetensors_writer torch_style;
    small_net plain = make_net();
    randomize(plain, 2);
    bpr::visit_params(plain, [&](std::size_t, const std::string& name, auto& p) {
        if (name != "conv.weight") return torch_style.add(name, p.value);
        torch_style.add(name + "_orig", p.value);
        bpr::tensor<float> mask(p.value.shape(), 1.0f);
        mask[0] = 0.0f;
        torch_style.add(name + "_mask", mask);
    });
    bpr::visit_buffers(plain, [&](const std::string& name, auto& t) { torch_style.add(name, t); });
    small_net target = make_net();
    bpr::load_safetensors(bpr::safetensors_file::parse(torch_style.bytes(), "t"), target);
    CHECK(target.get<0>().weight().value[0] == 0.0f);
    CHECK(target.get<0>().weight().value[1] == plain.get<0>().weight().value[1]);

    bpr::safetensors_writer half_mask;
    bpr::visit_params(plain, [&](std::size_t, const std::string& name, auto& p) {
        half_mask.add(name, p.value);
        if (name == "fc.weight")
            half_mask.add(name + "_mask", bpr::tensor<float>(p.value.shape(), 0.5f));
    });
    bpr::visit_buffers(plain, [&](const std::string& name, auto& t) { half_mask.add(name, t); });
    CHECK_THROWS_WITH(
        bpr::load_safetensors(bpr::safetensors_file::parse(half_mask.bytes(), "h"), target),
        Contains("h: mask 'fc.weight_mask' has value 0.5 at position 0, expected 0 or 1"));
}
