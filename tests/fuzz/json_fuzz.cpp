// The strict JSON reader (safetensors headers and other file headers): any text.
#include <cstdint>
#include <string_view>

#include "bpr/io/json_reader.hpp"
#include "fuzz_support.hpp"

namespace {

// Touches every accessor callers use on parsed values.
void walk(const bpr::json_value& value) {
    std::uint64_t number = 0;
    (void)value.as_unsigned(~std::uint64_t{0}, number);
    (void)value.describe();
    for (const auto& item : value.items())
        walk(item);
    for (const auto& [key, member] : value.members())
        walk(member);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    bpr_fuzz::expect_parse_or_error([&] { walk(bpr::parse_json(text, "fuzz.json", 64)); });
    return 0;
}
