#include "bpr/data/data_file.hpp"

#include <catch2/catch.hpp>

#include "test_files.hpp"

using Catch::Matchers::Contains;
using namespace bpr_test;

TEST_CASE("with_commas groups digits in threes", "[data][data_file]") {
    CHECK(bpr::detail::with_commas(0) == "0");
    CHECK(bpr::detail::with_commas(999) == "999");
    CHECK(bpr::detail::with_commas(1000) == "1,000");
    CHECK(bpr::detail::with_commas(7200016) == "7,200,016");
}

TEST_CASE("data_file reads plain and gzip files alike", "[data][data_file]") {
    temp_dir dir;
    bytes data(3'000'000);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 24);
    write_file(dir / "plain", data);
    write_gz(dir / "packed.gz", data);
    for (const char* name : {"plain", "packed.gz"}) {
        bpr::detail::data_file file(dir / name);
        unsigned char head[10];
        REQUIRE(file.read(head, 10) == 10);
        CHECK(std::equal(head, head + 10, data.begin()));
        // Grows in steps as data arrives and stops at the end of the data.
        const auto rest = file.read_up_to(5'000'000);
        CHECK(rest.size() == data.size() - 10);
        CHECK(std::equal(rest.begin(), rest.end(), data.begin() + 10));
        CHECK(file.bytes_read() == data.size());
        CHECK(file.skip_rest() == 0);
    }
    bpr::detail::data_file file(dir / "packed.gz");
    CHECK(file.read_up_to(100).size() == 100);
    CHECK(file.skip_rest() == data.size() - 100);
    CHECK(std::string(file.size_qualifier()) == " (decompressed)");
}

TEST_CASE("data_file names the file in every failure", "[data][data_file]") {
    temp_dir dir;
    CHECK_THROWS_WITH(bpr::detail::data_file(dir / "none.gz"),
                      Contains("none.gz") && Contains("does not exist"));
    CHECK_THROWS_WITH(bpr::detail::data_file(dir.path), Contains("not a regular file"));
    bytes data(100000, 7);
    write_gz(dir / "whole.gz", data);
    bytes packed = read_file(dir / "whole.gz");
    packed.resize(packed.size() - 12);  // loses the end of the deflate stream
    write_file(dir / "cut.gz", packed);
    bpr::detail::data_file file(dir / "cut.gz");
    CHECK_THROWS_WITH(file.read_up_to(200000), Contains("cut.gz") && Contains("truncated"));
}
