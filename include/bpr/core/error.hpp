#pragma once
// bpr::error: the one exception type the library throws for bad input or misuse.

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace bpr {

// What went wrong, where, and with which value. Every message names the place (a
// file, a layer or a function), the field and the offending value, so that a user
// can act on it without a debugger.
class error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

namespace detail {

template <typename... Parts>
std::string concat(Parts&&... parts) {
    std::ostringstream stream;
    (stream << ... << std::forward<Parts>(parts));
    return stream.str();
}

// Throws bpr::error whose message is the concatenation of `parts`.
template <typename... Parts>
[[noreturn]] void fail(Parts&&... parts) {
    throw error(concat(std::forward<Parts>(parts)...));
}

}  // namespace detail

// Checks a documented requirement at run time; on failure throws bpr::error with
// the concatenated message parts (which are only formatted when the check fails).
#define BPR_REQUIRE(condition, ...)                         \
    do {                                                    \
        if (!(condition)) ::bpr::detail::fail(__VA_ARGS__); \
    } while (false)

}  // namespace bpr
