#pragma once
// bpr::json_object: a tiny writer for flat JSON summaries (no parser).

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace bpr {

// What it represents: a JSON object built key by key, in insertion order.
// Guarantees: strings are escaped (quotes, backslashes, control characters);
// non-finite numbers are written as null (JSON has no NaN); doubles are written
// with enough digits to read back exactly; setting a key twice replaces it.
class json_object {
  public:
    json_object& set(std::string_view key, std::string_view value) {
        return put(key, quote(value));
    }
    json_object& set(std::string_view key, const char* value) {
        return set(key, std::string_view(value));
    }
    json_object& set(std::string_view key, const std::string& value) {
        return set(key, std::string_view(value));
    }
    json_object& set(std::string_view key, bool value) {
        return put(key, value ? "true" : "false");
    }
    template <typename N>
    requires(std::is_arithmetic_v<N> &&
             !std::is_same_v<N, bool>) json_object& set(std::string_view key, N value) {
        return put(key, number(value));
    }
    json_object& set(std::string_view key, const json_object& value) {
        return put(key, value.str());
    }
    template <typename N>
    requires std::is_arithmetic_v<N> json_object& set(std::string_view key,
                                                      const std::vector<N>& values) {
        std::string text = "[";
        for (std::size_t i = 0; i < values.size(); ++i)
            text.append(i ? ", " : "").append(number(values[i]));
        return put(key, text + "]");
    }
    json_object& set(std::string_view key, const std::vector<json_object>& values) {
        std::string text = "[";
        for (std::size_t i = 0; i < values.size(); ++i)
            text.append(i ? ", " : "").append(values[i].str());
        return put(key, text + "]");
    }

    // The object as text, one key per line.
    std::string str() const {
        if (entries_.empty()) return "{}";
        std::string text = "{";
        for (std::size_t i = 0; i < entries_.size(); ++i)
            text.append(i ? ",\n  " : "\n  ")
                .append(quote(entries_[i].first))
                .append(": ")
                .append(entries_[i].second);
        return text + "\n}";
    }

    static std::string quote(std::string_view text) {
        std::string out = "\"";
        for (const char c : text) {
            switch (c) {
                case '"':
                    out += "\\\"";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                default:
                    if (static_cast<unsigned char>(c) < 0x20) {
                        char code[8];
                        std::snprintf(code, sizeof code, "\\u%04x", c);
                        out += code;
                    } else {
                        out += c;
                    }
            }
        }
        return out + "\"";
    }

  private:
    template <typename N>
    static std::string number(N value) {
        if constexpr (std::is_integral_v<N>) {
            return std::to_string(value);
        } else {
            if (!std::isfinite(value)) return "null";
            // The shortest of 15 or 17 digits that reads back to the same double.
            char text[32];
            std::snprintf(text, sizeof text, "%.15g", static_cast<double>(value));
            if (std::strtod(text, nullptr) != static_cast<double>(value))
                std::snprintf(text, sizeof text, "%.17g", static_cast<double>(value));
            return text;
        }
    }

    json_object& put(std::string_view key, std::string value) {
        for (auto& entry : entries_)
            if (entry.first == key) {
                entry.second = std::move(value);
                return *this;
            }
        entries_.emplace_back(std::string(key), std::move(value));
        return *this;
    }

    std::vector<std::pair<std::string, std::string>> entries_;
};

}  // namespace bpr
