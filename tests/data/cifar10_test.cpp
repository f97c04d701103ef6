#include "bpr/data/cifar10.hpp"

#include <catch2/catch.hpp>

#include "test_files.hpp"

using Catch::Matchers::Contains;
using namespace bpr_test;

TEST_CASE("cifar10 reads records across batch files in order", "[data][cifar10]") {
    temp_dir dir;
    bytes first, second;
    append_cifar_record(first, 3, 0);
    append_cifar_record(first, 9, 1);
    append_cifar_record(second, 0, 2);
    write_file(dir / "a.bin", first);
    write_gz(dir / "b.bin.gz", second);
    const auto d = bpr::data::load_cifar10_files({dir / "a.bin", dir / "b.bin.gz"});
    REQUIRE(d.images.shape() == bpr::shape{3, 3, 32, 32});
    CHECK(d.labels == std::vector<int>{3, 9, 0});
    for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 3; ++c) {
            CHECK(d.images(i, c, 0, 0) == pixel(i + c, 0, 0));
            CHECK(d.images(i, c, 31, 17) == pixel(i + c, 31, 17));
        }
    CHECK_NOTHROW(d.validate());
}

TEST_CASE("cifar10 folder layout: train batches, test batch, class names", "[data][cifar10]") {
    temp_dir dir;
    for (int b = 1; b <= 5; ++b) {
        bytes batch;
        append_cifar_record(batch, b, b);
        append_cifar_record(batch, b + 1, b + 10);
        write_file(dir / ("data_batch_" + std::to_string(b) + ".bin"), batch);
    }
    bytes test;
    append_cifar_record(test, 7, 0);
    write_file(dir / "test_batch.bin", test);
    const auto train = bpr::data::load_cifar10(dir.path, bpr::data::subset_kind::train);
    const auto held_out = bpr::data::load_cifar10(dir.path, bpr::data::subset_kind::test);
    CHECK(train.size() == 10);
    CHECK(train.labels.front() == 1);
    CHECK(train.labels.back() == 6);
    CHECK(held_out.labels == std::vector<int>{7});
    CHECK(train.class_names.at(0) == "airplane");

    std::ofstream(dir / "batches.meta.txt") << "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n";
    CHECK(bpr::data::load_cifar10(dir.path, bpr::data::subset_kind::test).class_names.at(9) == "j");

    std::filesystem::remove(dir / "data_batch_4.bin");
    CHECK_THROWS_WITH(bpr::data::load_cifar10(dir.path, bpr::data::subset_kind::train),
                      Contains("data_batch_4.bin") && Contains("does not exist"));
    CHECK_THROWS_WITH(bpr::data::load_cifar10(dir / "none", bpr::data::subset_kind::train),
                      Contains("none") && Contains("does not exist"));
}

TEST_CASE("cifar10 rejects bad files naming file and field", "[data][cifar10]") {
    temp_dir dir;
    bytes good;
    append_cifar_record(good, 1, 0);
    append_cifar_record(good, 2, 1);

    SECTION("empty file") {
        write_file(dir / "empty.bin", {});
        CHECK_THROWS_WITH(bpr::data::load_cifar10_files({dir / "empty.bin"}),
                          Contains("empty.bin") && Contains("empty"));
    }
    SECTION("size not a multiple of the record") {
        bytes cut = good;
        cut.resize(cut.size() - 5);
        write_file(dir / "cut.bin", cut);
        CHECK_THROWS_WITH(bpr::data::load_cifar10_files({dir / "cut.bin"}),
                          Contains("cut.bin") && Contains("6,141 bytes") &&
                              Contains("not a multiple") && Contains("3073"));
        bytes longer = good;
        longer.push_back(0);
        write_gz(dir / "long.bin.gz", longer);
        CHECK_THROWS_WITH(bpr::data::load_cifar10_files({dir / "long.bin.gz"}),
                          Contains("long.bin.gz") && Contains("(decompressed)") &&
                              Contains("last record has 1 bytes"));
    }
    SECTION("label out of range") {
        bytes bad = good;
        bad[3073] = 10;
        write_file(dir / "bad.bin", bad);
        CHECK_THROWS_WITH(
            bpr::data::load_cifar10_files({dir / "bad.bin"}),
            Contains("bad.bin") && Contains("label of record 1 is 10") && Contains("[0, 10)"));
        write_file(dir / "ok.bin", good);
        CHECK_THROWS_WITH(bpr::data::load_cifar10_files({dir / "ok.bin"}, 2),
                          Contains("label of record 1 is 2"));
    }
    SECTION("no files") {
        CHECK_THROWS_WITH(bpr::data::load_cifar10_files({}), Contains("no batch files"));
    }
}

TEST_CASE("cifar10 parses records in memory with the same checks", "[data][cifar10]") {
    bytes data;
    append_cifar_record(data, 5, 0);
    append_cifar_record(data, 6, 1);
    const auto d = bpr::data::parse_cifar10(data, "buffer");
    CHECK(d.labels == std::vector<int>{5, 6});
    CHECK(d.images(1, 2, 3, 4) == pixel(3, 3, 4));
    data.pop_back();
    CHECK_THROWS_WITH(bpr::data::parse_cifar10(data, "buffer"),
                      Contains("buffer: file size is 6,145 bytes"));
    CHECK_THROWS_WITH(bpr::data::parse_cifar10(bytes{}, "none"),
                      Contains("none: the file is empty"));
}
