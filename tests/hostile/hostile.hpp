#pragma once
// Helpers of the hostile-input tests: every rejection must be a bpr::error whose
// message names the file and the field; these helpers check exactly that.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bpr/core/error.hpp"

namespace bpr_hostile {

// The message of the bpr::error `parse` throws; fails the test if it throws nothing
// or anything else.
template <typename Parse>
std::string error_of(Parse&& parse) {
    try {
        parse();
    } catch (const bpr::error& e) {
        return e.what();
    } catch (const std::exception& e) {
        FAIL("not a bpr::error: " << e.what());
    }
    FAIL("accepted");
    return {};
}

// Requires a bpr::error whose message contains every one of `parts`.
#define BPR_REQUIRE_REJECTS(expression, ...)                                                    \
    do {                                                                                        \
        const std::string hostile_message = bpr_hostile::error_of([&] { (void)(expression); }); \
        INFO("message: " << hostile_message);                                                   \
        for (const std::string& part : std::vector<std::string>{__VA_ARGS__})                   \
            CHECK_THAT(hostile_message, Catch::Contains(part));                                 \
    } while (false)

// A fresh private folder, removed at scope exit.
struct temp_folder {
    std::filesystem::path path;
    explicit temp_folder(const std::string& name) {
        path = std::filesystem::temp_directory_path() /
               ("bpr_hostile_" + name + "_" + std::to_string(::getpid()));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~temp_folder() {
        std::error_code code;
        std::filesystem::remove_all(path, code);
    }
    std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

template <typename Bytes>
void write_bytes(const std::filesystem::path& path, const Bytes& bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace bpr_hostile
