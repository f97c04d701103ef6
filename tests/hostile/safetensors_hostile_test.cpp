// safetensors files against the hostile-input matrix, beyond the header cases of
// tests/io/safetensors_test.cpp: every truncation length, the header length off by
// one both ways, zero-extent shapes whose other extents overflow, wrong dtype, NaN
// weights, the wrong model. The format has no checksum: a flipped data bit is a
// different weight (docs/reliability.md).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "../sparse/tiny_model.hpp"
#include "bpr/io/safetensors.hpp"
#include "hostile.hpp"

namespace {

std::string file_of(const std::string& header, const std::string& data) {
    std::string out(8, '\0');
    const std::uint64_t length = header.size();
    std::memcpy(out.data(), &length, 8);
    return out + header + data;
}

std::string saved_mlp(bpr::test::tiny_mlp& mlp) {
    bpr::safetensors_writer writer;
    bpr::visit_params(
        mlp, [&](std::size_t, const std::string& name, auto& p) { writer.add(name, p.value); });
    return writer.bytes();
}

auto parse_safetensors(const std::string& bytes) {
    return bpr::safetensors_file::parse(bytes, "hostile.st");
}

}  // namespace

TEST_CASE("safetensors: every truncation length names the file", "[hostile][safetensors]") {
    auto mlp = bpr::test::make_tiny_mlp(2);
    const std::string good = saved_mlp(mlp);
    REQUIRE(parse_safetensors(good).tensors().size() == 4);
    std::uint64_t header_length = 0;
    std::memcpy(&header_length, good.data(), 8);
    for (std::size_t length = 0; length < good.size(); ++length) {
        INFO("length " << length);
        const std::string cut = good.substr(0, length);
        if (length < 8)
            BPR_REQUIRE_REJECTS(parse_safetensors(cut),
                                "hostile.st: too short for a safetensors file");
        else if (length < 8 + header_length)
            BPR_REQUIRE_REJECTS(parse_safetensors(cut), "hostile.st: field 'header length' is",
                                "(truncated file?)");
        else
            BPR_REQUIRE_REJECTS(parse_safetensors(cut), "hostile.st: ", "field 'data_offsets'",
                                "outside the data region");
    }
}

TEST_CASE("safetensors: header length off by one and data off by one", "[hostile][safetensors]") {
    const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    const std::string data(8, '\0');
    REQUIRE_NOTHROW(parse_safetensors(file_of(header, data)));
    std::string longer = file_of(header, data);
    const std::uint64_t plus_one = header.size() + 1, minus_one = header.size() - 1;
    std::memcpy(longer.data(), &plus_one, 8);
    // One more header byte swallows the first data byte: not JSON whitespace.
    BPR_REQUIRE_REJECTS(parse_safetensors(longer), "hostile.st: invalid JSON header at byte");
    std::string shorter = file_of(header, data);
    std::memcpy(shorter.data(), &minus_one, 8);
    BPR_REQUIRE_REJECTS(parse_safetensors(shorter), "hostile.st: invalid JSON header at byte");
    BPR_REQUIRE_REJECTS(parse_safetensors(file_of(header, data + "x")),
                        "1 trailing bytes belong to no tensor");
    BPR_REQUIRE_REJECTS(
        parse_safetensors(file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,7]}})",
                                  data.substr(0, 7))),
        "tensor 'w': field 'shape' [2] of F32 needs 8 bytes but field "
        "'data_offsets' [0, 7] spans 7");
    BPR_REQUIRE_REJECTS(
        parse_safetensors(
            file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})", data + "x")),
        "leaving a gap of 1 bytes at offset 0");
}

TEST_CASE("safetensors: a zero extent next to huge ones holds no values, without overflow",
          "[hostile][safetensors]") {
    // Found by reasoning about the fuzz target: element_count() used to multiply
    // 2^62 * 2^62 (signed overflow) before reaching the zero.
    const auto file = parse_safetensors(file_of(
        R"({"z":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904,0],"data_offsets":[0,0]}})",
        ""));
    CHECK(file.at("z").element_count() == 0);
    CHECK(file.values<float>("z").empty());
    BPR_REQUIRE_REJECTS(
        parse_safetensors(file_of(
            R"({"a":{"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,0]}})", "")),
        "field 'shape' has extent 4611686018427387905");
    // 2^40 elements claimed by a file of 8 data bytes.
    BPR_REQUIRE_REJECTS(parse_safetensors(file_of(
                            R"({"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,8]}})",
                            std::string(8, '\0'))),
                        "needs 4398046511104 bytes");
}

TEST_CASE("safetensors into a model: wrong dtype, NaN and Inf weights, wrong model",
          "[hostile][safetensors]") {
    auto mlp = bpr::test::make_tiny_mlp(2);
    auto target = bpr::test::make_tiny_mlp(3);
    const float before = target.get<0>().weight().value[0];
    auto build = [&](float poison, const char* dtype) {
        bpr::safetensors_writer writer;
        bpr::visit_params(mlp, [&](std::size_t, const std::string& name, auto& p) {
            auto value = p.value;
            if (name == "fc2.bias") value[1] = poison;
            if (name == "fc1.weight" && std::string(dtype) != "F32") {
                writer.add_raw(name, dtype, {12, 6},
                               std::string(reinterpret_cast<const char*>(value.data()),
                                           value.size() * sizeof(float)));
                return;
            }
            writer.add(name, value);
        });
        return bpr::safetensors_file::parse(writer.bytes(), "hostile.st");
    };
    REQUIRE_NOTHROW(bpr::load_safetensors(build(0.5f, "F32"), target));
    target = bpr::test::make_tiny_mlp(3);
    BPR_REQUIRE_REJECTS(bpr::load_safetensors(build(std::nanf(""), "F32"), target),
                        "hostile.st: tensor 'fc2.bias' has value nan at position 1",
                        "NaN and Inf weights are not accepted");
    BPR_REQUIRE_REJECTS(
        bpr::load_safetensors(build(std::numeric_limits<float>::infinity(), "F32"), target),
        "tensor 'fc2.bias' has value inf at position 1");
    BPR_REQUIRE_REJECTS(bpr::load_safetensors(build(0.5f, "I32"), target),
                        "hostile.st: tensor 'fc1.weight': field 'dtype' is I32, expected F32");
    CHECK(target.get<0>().weight().value[0] == before);  // nothing changed on error

    auto net = bpr::test::make_tiny_net(1);
    BPR_REQUIRE_REJECTS(bpr::load_safetensors(build(0.5f, "F32"), net),
                        "hostile.st: parameter 'conv1.weight' with shape [8, 3, 3, 3] is missing",
                        "file of another model");
}
