// The JSON reader (safetensors headers) against the hostile-input matrix, beyond
// tests/io/json_reader_test.cpp: every truncation length of a real header, nesting at
// and past the limit, and every single-byte flip to an invalid UTF-8 byte.
#include <string>

#include "bpr/io/json_reader.hpp"
#include "hostile.hpp"

namespace {

const std::string header = R"({"__metadata__":{"format":"pt","note":"caf\u00e9 \ud83d\ude00"},)"
                           R"("fc.weight":{"dtype":"F32","shape":[10,16],"data_offsets":[0,640]},)"
                           R"("fc.bias":{"dtype":"BF16","shape":[10],"data_offsets":[640,660]}})";

}  // namespace

TEST_CASE("json: every truncation length names the source and the byte", "[hostile][json]") {
    REQUIRE(bpr::parse_json(header, "h.json").members().size() == 3);
    for (std::size_t length = 0; length < header.size(); ++length) {
        INFO("length " << length);
        BPR_REQUIRE_REJECTS(bpr::parse_json(header.substr(0, length), "h.json"),
                            "h.json: invalid JSON header at byte");
    }
}

TEST_CASE("json: nesting limit off by one, absurd nesting, bad bytes", "[hostile][json]") {
    const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    CHECK_NOTHROW(bpr::parse_json(nested(64), "n.json", 64));
    BPR_REQUIRE_REJECTS(bpr::parse_json(nested(65), "n.json", 64),
                        "n.json: invalid JSON header at byte 64: nesting deeper than 64 levels");
    // A million levels: rejected at the limit, no stack exhaustion.
    BPR_REQUIRE_REJECTS(bpr::parse_json(std::string(1'000'000, '['), "deep.json"),
                        "nesting deeper than 64 levels");
    for (std::size_t at = 0; at < header.size(); ++at) {
        std::string flipped = header;
        flipped[at] = '\xff';  // never valid in UTF-8
        BPR_REQUIRE_REJECTS(bpr::parse_json(flipped, "f.json"),
                            "f.json: invalid JSON header at byte " + std::to_string(at),
                            "invalid UTF-8 lead byte");
    }
    BPR_REQUIRE_REJECTS(bpr::parse_json("", "e.json"),
                        "e.json: invalid JSON header at byte 0: unexpected end of text");
    BPR_REQUIRE_REJECTS(bpr::parse_json(std::string("{\"a\":1}\0", 8), "z.json"),
                        "unexpected byte 0x00 after the JSON value");
}
