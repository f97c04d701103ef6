#include <catch2/catch.hpp>
#include <string>

#include "bpr/io/json_reader.hpp"

using bpr::json_value;
using bpr::parse_json;

TEST_CASE("parse_json reads objects, arrays, strings, numbers and literals", "[io][json_reader]") {
    const json_value v = parse_json(
        R"( {"a": [1, -2.5e3, 0], "b": {"c": "x\"y\\z\u00e9\ud83d\ude00"}, "t": true, "f": false, "n": null} )");
    REQUIRE(v.is_object());
    REQUIRE(v.find("a")->items().size() == 3);
    CHECK(v.find("a")->items()[1].text() == "-2.5e3");
    CHECK(v.find("b")->find("c")->text() == "x\"y\\z\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(v.find("t")->boolean());
    CHECK(v.find("f")->type() == json_value::kind::boolean);
    CHECK(v.find("n")->type() == json_value::kind::null);
    CHECK(v.find("missing") == nullptr);
}

TEST_CASE("json_value::as_unsigned accepts exact integers only", "[io][json_reader]") {
    std::uint64_t out = 0;
    CHECK(parse_json("18446744073709551615").as_unsigned(~std::uint64_t(0), out));
    CHECK(out == ~std::uint64_t(0));
    CHECK_FALSE(parse_json("18446744073709551616").as_unsigned(~std::uint64_t(0), out));
    CHECK_FALSE(parse_json("11").as_unsigned(10, out));
    CHECK_FALSE(parse_json("-1").as_unsigned(10, out));
    CHECK_FALSE(parse_json("1.0").as_unsigned(10, out));
    CHECK_FALSE(parse_json("1e2").as_unsigned(1000, out));
    CHECK_FALSE(parse_json("\"1\"").as_unsigned(10, out));
}

TEST_CASE("parse_json rejects malformed text with the place and the offset", "[io][json_reader]") {
    using Catch::Matchers::Contains;
    const auto rejects = [](const std::string& text, const std::string& why) {
        INFO(text);
        CHECK_THROWS_WITH(parse_json(text, "f.json"),
                          Contains("f.json: invalid JSON header at byte") && Contains(why));
    };
    rejects("", "expected a value");
    rejects("{", "expected a string key");
    rejects("{\"a\":1,}", "expected a string key");
    rejects("[1,]", "expected a value");
    rejects("{\"a\" 1}", "expected ':'");
    rejects("{\"a\":1 \"b\":2}", "expected ',' or '}'");
    rejects("[1 2]", "expected ',' or ']'");
    rejects("{\"a\":1,\"a\":2}", "duplicate key \"a\"");
    rejects("01", "leading zero");
    rejects("1.", "digit after '.'");
    rejects("1e", "digit in exponent");
    rejects("tru", "expected 'true'");
    rejects("\"abc", "unterminated string");
    rejects("\"a\tb\"", "raw control character");
    rejects("\"\\x\"", "invalid escape");
    rejects("\"\\u12g4\"", "invalid hex digit");
    rejects("\"\\ud800\"", "unpaired high surrogate");
    rejects("\"\\udc00\"", "unpaired low surrogate");
    rejects("{} x", "after the JSON value");
    rejects("// c\n{}", "expected a value");
    rejects("\"\xff\"", "invalid UTF-8 lead byte");
    rejects("\"\xc3", "truncated UTF-8");
    rejects("\"\xc3(\"", "continuation byte");
    rejects("\"\xc0\xaf\"", "overlong");
    rejects("\"\xed\xa0\x80\"", "surrogate");
    rejects("\"\xf4\x90\x80\x80\"", "U+10FFFF");
}

TEST_CASE("parse_json bounds the nesting depth", "[io][json_reader]") {
    std::string deep(10, '[');
    deep += std::string(10, ']');
    CHECK_NOTHROW(parse_json(deep, "d", 10));
    CHECK_THROWS_WITH(parse_json(deep, "d", 9), Catch::Matchers::Contains("deeper than 9"));
    // A hostile depth fails fast instead of exhausting the stack.
    const std::string hostile(1'000'000, '[');
    CHECK_THROWS_WITH(parse_json(hostile, "d"), Catch::Matchers::Contains("deeper than 64"));
}
