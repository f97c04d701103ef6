#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "bpr/io/atomic_file.hpp"

TEST_CASE("write_file_atomically replaces a file and leaves no temporary", "[io][atomic_file]") {
    const auto dir =
        std::filesystem::temp_directory_path() / ("bpr_atomic_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / "out.bin";
    bpr::write_file_atomically(path, "first");
    bpr::write_file_atomically(path, std::string_view("sec\0nd", 6));
    std::ifstream in(path, std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    CHECK(text == std::string("sec\0nd", 6));
    CHECK(std::distance(std::filesystem::directory_iterator(dir),
                        std::filesystem::directory_iterator()) == 1);
    std::filesystem::remove_all(dir);

    CHECK_THROWS_WITH(bpr::write_file_atomically(dir / "missing" / "x.bin", "data"),
                      Catch::Contains("x.bin") && Catch::Contains("No such file"));
}
