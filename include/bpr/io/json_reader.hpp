#pragma once
// bpr::json_value and bpr::parse_json: a strict, bounded JSON reader for file headers.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"

namespace bpr {

// What it represents: one JSON value. Numbers keep their source text, so integers of
// any size are read exactly (as_int) and nothing is lost to double rounding.
// Objects keep their members in a std::map (key order is irrelevant in JSON); a
// duplicate key is rejected by the parser, not silently merged.
class json_value {
  public:
    enum class kind { null, boolean, number, string, array, object };

    kind type() const { return kind_; }
    bool is_object() const { return kind_ == kind::object; }
    bool is_array() const { return kind_ == kind::array; }
    bool is_string() const { return kind_ == kind::string; }
    bool is_number() const { return kind_ == kind::number; }

    const std::string& text() const { return text_; }  // string contents or number text
    bool boolean() const { return boolean_; }
    const std::vector<json_value>& items() const { return items_; }
    const std::map<std::string, json_value>& members() const { return members_; }

    // The member named `key`, or nullptr.
    const json_value* find(const std::string& key) const {
        const auto it = members_.find(key);
        return it == members_.end() ? nullptr : &it->second;
    }

    // Stores the number in `out` and returns true if it is a plain non-negative
    // integer no larger than `max`; false otherwise (the caller names the place).
    bool as_unsigned(std::uint64_t max, std::uint64_t& out) const {
        if (kind_ != kind::number || text_.empty()) return false;
        std::uint64_t value = 0;
        for (const char c : text_) {
            if (c < '0' || c > '9') return false;  // fractions, exponents, signs
            const auto digit = static_cast<std::uint64_t>(c - '0');
            if (value > (max - digit) / 10) return false;
            value = value * 10 + digit;
        }
        if (text_.size() > 1 && text_[0] == '0') return false;
        out = value;
        return true;
    }

    // A short description for error messages: the kind, or the value if short.
    std::string describe() const {
        switch (kind_) {
            case kind::null:
                return "null";
            case kind::boolean:
                return boolean_ ? "true" : "false";
            case kind::number:
                return text_.size() <= 40 ? text_ : text_.substr(0, 40) + "...";
            case kind::string:
                return detail::concat('"', text_.size() <= 40 ? text_ : text_.substr(0, 40) + "...",
                                      '"');
            case kind::array:
                return "an array";
            case kind::object:
                return "an object";
        }
        return "?";
    }

  private:
    friend class json_parser;
    kind kind_ = kind::null;
    bool boolean_ = false;
    std::string text_;
    std::vector<json_value> items_;
    std::map<std::string, json_value> members_;
};

// What it does: parses RFC 8259 JSON strictly: no comments, no trailing commas, no
// leading zeros, no raw control characters in strings, valid UTF-8 only (no
// overlong forms, no surrogates), \u escapes with correctly paired surrogates,
// duplicate object keys rejected, nesting at most `max_depth`, nothing but
// whitespace after the value. Errors are bpr::error naming `where` (a file), the
// byte offset and what was expected there.
class json_parser {
  public:
    json_parser(std::string_view text, std::string where, int max_depth)
        : text_(text), where_(std::move(where)), max_depth_(max_depth) {}

    json_value parse() {
        check_utf8();
        skip_space();
        json_value value = parse_value(0);
        skip_space();
        if (pos_ != text_.size()) fail_at("unexpected ", quote_char(), " after the JSON value");
        return value;
    }

  private:
    template <typename... Parts>
    [[noreturn]] void fail_at(Parts&&... parts) const {
        detail::fail(where_, ": invalid JSON header at byte ", pos_, ": ",
                     std::forward<Parts>(parts)...);
    }

    std::string quote_char() const {
        if (pos_ >= text_.size()) return "end of text";
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c >= 0x20 && c < 0x7f) return detail::concat('\'', char(c), '\'');
        return detail::concat("byte 0x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
    }

    // Whole-text UTF-8 validation first, so later code may treat bytes >= 0x80 as
    // parts of valid characters.
    void check_utf8() {
        const auto* s = reinterpret_cast<const unsigned char*>(text_.data());
        const std::size_t n = text_.size();
        for (std::size_t i = 0; i < n;) {
            const unsigned char c = s[i];
            std::size_t length = 0;
            std::uint32_t code = 0, min = 0;
            if (c < 0x80) {
                ++i;
                continue;
            } else if ((c & 0xe0) == 0xc0) {
                length = 2, code = c & 0x1f, min = 0x80;
            } else if ((c & 0xf0) == 0xe0) {
                length = 3, code = c & 0x0f, min = 0x800;
            } else if ((c & 0xf8) == 0xf0) {
                length = 4, code = c & 0x07, min = 0x10000;
            } else {
                pos_ = i;
                fail_at("invalid UTF-8 lead byte");
            }
            if (n - i < length) {
                pos_ = i;
                fail_at("truncated UTF-8 sequence");
            }
            for (std::size_t k = 1; k < length; ++k) {
                if ((s[i + k] & 0xc0) != 0x80) {
                    pos_ = i + k;
                    fail_at("invalid UTF-8 continuation byte");
                }
                code = (code << 6) | (s[i + k] & 0x3f);
            }
            if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
                pos_ = i;
                fail_at("invalid UTF-8 sequence (overlong, surrogate or beyond U+10FFFF)");
            }
            i += length;
        }
    }

    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }

    void expect_word(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) fail_at("expected '", word, "'");
        pos_ += word.size();
    }

    json_value parse_value(int depth) {
        if (pos_ >= text_.size()) fail_at("unexpected end of text, expected a value");
        json_value value;
        switch (text_[pos_]) {
            case '{':
                parse_object(value, depth + 1);
                break;
            case '[':
                parse_array(value, depth + 1);
                break;
            case '"':
                value.kind_ = json_value::kind::string;
                value.text_ = parse_string();
                break;
            case 't':
                expect_word("true");
                value.kind_ = json_value::kind::boolean;
                value.boolean_ = true;
                break;
            case 'f':
                expect_word("false");
                value.kind_ = json_value::kind::boolean;
                break;
            case 'n':
                expect_word("null");
                break;
            default:
                value.kind_ = json_value::kind::number;
                value.text_ = parse_number();
        }
        return value;
    }

    void enter(int depth) {
        if (depth > max_depth_) fail_at("nesting deeper than ", max_depth_, " levels");
    }

    void parse_object(json_value& value, int depth) {
        enter(depth);
        value.kind_ = json_value::kind::object;
        ++pos_;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == '}') {
            ++pos_;
            return;
        }
        while (true) {
            skip_space();
            if (pos_ >= text_.size() || text_[pos_] != '"')
                fail_at("expected a string key, found ", quote_char());
            const std::size_t key_at = pos_;
            std::string key = parse_string();
            skip_space();
            if (pos_ >= text_.size() || text_[pos_] != ':')
                fail_at("expected ':' after key \"", key, "\", found ", quote_char());
            ++pos_;
            skip_space();
            json_value member = parse_value(depth);
            if (value.members_.contains(key)) {
                pos_ = key_at;
                fail_at("duplicate key \"", key, "\"");
            }
            value.members_.emplace(std::move(key), std::move(member));
            skip_space();
            if (pos_ < text_.size() && text_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < text_.size() && text_[pos_] == '}') {
                ++pos_;
                return;
            }
            fail_at("expected ',' or '}' in object, found ", quote_char());
        }
    }

    void parse_array(json_value& value, int depth) {
        enter(depth);
        value.kind_ = json_value::kind::array;
        ++pos_;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ']') {
            ++pos_;
            return;
        }
        while (true) {
            skip_space();
            value.items_.push_back(parse_value(depth));
            skip_space();
            if (pos_ < text_.size() && text_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < text_.size() && text_[pos_] == ']') {
                ++pos_;
                return;
            }
            fail_at("expected ',' or ']' in array, found ", quote_char());
        }
    }

    unsigned hex4() {
        if (text_.size() - pos_ < 4) fail_at("truncated \\u escape");
        unsigned code = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = text_[pos_++];
            code <<= 4;
            if (c >= '0' && c <= '9')
                code |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f')
                code |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                code |= unsigned(c - 'A' + 10);
            else {
                --pos_;
                fail_at("invalid hex digit in \\u escape");
            }
        }
        return code;
    }

    static void append_utf8(std::string& out, std::uint32_t code) {
        if (code < 0x80) {
            out += char(code);
        } else if (code < 0x800) {
            out += char(0xc0 | (code >> 6));
            out += char(0x80 | (code & 0x3f));
        } else if (code < 0x10000) {
            out += char(0xe0 | (code >> 12));
            out += char(0x80 | ((code >> 6) & 0x3f));
            out += char(0x80 | (code & 0x3f));
        } else {
            out += char(0xf0 | (code >> 18));
            out += char(0x80 | ((code >> 12) & 0x3f));
            out += char(0x80 | ((code >> 6) & 0x3f));
            out += char(0x80 | (code & 0x3f));
        }
    }

    std::string parse_string() {
        ++pos_;  // opening quote
        std::string out;
        while (true) {
            if (pos_ >= text_.size()) fail_at("unterminated string");
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20) fail_at("raw control character in string");
            if (c != '\\') {
                out += char(c);
                ++pos_;
                continue;
            }
            ++pos_;
            if (pos_ >= text_.size()) fail_at("unterminated escape");
            const char e = text_[pos_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out += e;
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    std::uint32_t code = hex4();
                    if (code >= 0xdc00 && code <= 0xdfff) fail_at("unpaired low surrogate");
                    if (code >= 0xd800 && code <= 0xdbff) {
                        if (text_.substr(pos_, 2) != "\\u") fail_at("unpaired high surrogate");
                        pos_ += 2;
                        const std::uint32_t low = hex4();
                        if (low < 0xdc00 || low > 0xdfff) fail_at("unpaired high surrogate");
                        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                    }
                    append_utf8(out, code);
                    break;
                }
                default:
                    --pos_;
                    fail_at("invalid escape '\\", e, "'");
            }
        }
    }

    std::string parse_number() {
        const std::size_t start = pos_;
        auto digit = [&] {
            return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9';
        };
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        if (!digit()) fail_at("expected a value, found ", quote_char());
        if (text_[pos_] == '0') {
            ++pos_;
            if (digit()) fail_at("leading zero in number");
        } else {
            while (digit())
                ++pos_;
        }
        if (pos_ < text_.size() && text_[pos_] == '.') {
            ++pos_;
            if (!digit()) fail_at("expected a digit after '.'");
            while (digit())
                ++pos_;
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            if (!digit()) fail_at("expected a digit in exponent");
            while (digit())
                ++pos_;
        }
        return std::string(text_.substr(start, pos_ - start));
    }

    std::string_view text_;
    std::string where_;
    int max_depth_;
    std::size_t pos_ = 0;
};

// Parses `text` as one JSON value (see json_parser for the rules); `where` names the
// source in error messages.
inline json_value parse_json(std::string_view text, const std::string& where = "json",
                             int max_depth = 64) {
    return json_parser(text, where, max_depth).parse();
}

}  // namespace bpr
