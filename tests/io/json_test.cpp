#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "bpr/io/json.hpp"

TEST_CASE("json_object writes escaped, ordered, exact values", "[io][json]") {
    bpr::json_object summary;
    summary.set("model", "lenet5")
        .set("test_accuracy", 0.9071)
        .set("epochs", 30)
        .set("ok", true)
        .set("note", "a \"quoted\"\\path\n")
        .set("nan", std::numeric_limits<double>::quiet_NaN())
        .set("curve", std::vector<double>{0.5, 0.25});
    summary.set("epochs", 31);  // replaces, keeps the position
    CHECK(summary.str() ==
          "{\n  \"model\": \"lenet5\",\n  \"test_accuracy\": 0.9071,\n  \"epochs\": 31,\n"
          "  \"ok\": true,\n  \"note\": \"a \\\"quoted\\\"\\\\path\\n\",\n  \"nan\": null,\n"
          "  \"curve\": [0.5, 0.25]\n}");
    CHECK(bpr::json_object().str() == "{}");
    CHECK(bpr::json_object::quote(std::string_view("\x01", 1)) == "\"\\u0001\"");
}

TEST_CASE("json_object numbers read back exactly", "[io][json]") {
    const double value = 0.1 + 0.2;  // needs 17 digits
    bpr::json_object o;
    o.set("x", value);
    const std::string text = o.str();
    const auto colon = text.find(": ");
    CHECK(std::strtod(text.c_str() + colon + 2, nullptr) == value);
}
