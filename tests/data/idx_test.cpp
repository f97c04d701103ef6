#include "bpr/data/idx.hpp"

#include <catch2/catch.hpp>
#include <filesystem>

#include "test_files.hpp"

using Catch::Matchers::Contains;
using namespace bpr_test;

TEST_CASE("idx loads plain and gzip files with the same content", "[data][idx]") {
    temp_dir dir;
    write_file(dir / "images", idx_images(5, 4, 3));
    write_gz(dir / "images.gz", idx_images(5, 4, 3));
    write_gz(dir / "labels.gz", idx_labels({0, 9, 3, 3, 1}));

    for (const char* name : {"images", "images.gz"}) {
        const bpr::data::dataset d = bpr::data::load_idx(dir / name, dir / "labels.gz");
        REQUIRE(d.images.shape() == bpr::shape{5, 1, 4, 3});
        CHECK(d.labels == std::vector<int>{0, 9, 3, 3, 1});
        CHECK(d.num_classes == 10);
        for (int i = 0; i < 5; ++i)
            for (int y = 0; y < 4; ++y)
                for (int x = 0; x < 3; ++x)
                    CHECK(d.images(i, 0, y, x) == pixel(i, y, x));
        CHECK_NOTHROW(d.validate());
    }
}

TEST_CASE("idx rejects bad files with messages naming file and field", "[data][idx]") {
    temp_dir dir;
    const auto images = dir / "imgs-idx3-ubyte";
    const auto labels = dir / "lbls-idx1-ubyte.gz";
    write_gz(labels, idx_labels({1, 2, 3}));

    SECTION("nonexistent file") {
        CHECK_THROWS_WITH(bpr::data::load_idx_images(dir / "missing.gz"),
                          Contains("missing.gz") && Contains("does not exist"));
    }
    SECTION("a directory instead of a file") {
        CHECK_THROWS_WITH(bpr::data::load_idx_images(dir.path), Contains("not a regular file"));
    }
    SECTION("empty file, plain and gzip") {
        write_file(images, {});
        CHECK_THROWS_WITH(bpr::data::load_idx_images(images),
                          Contains("imgs-idx3-ubyte") && Contains("empty"));
        write_gz(dir / "empty.gz", {});
        CHECK_THROWS_WITH(bpr::data::load_idx_images(dir / "empty.gz"),
                          Contains("empty.gz") && Contains("empty"));
    }
    SECTION("truncated header") {
        bytes data = idx_images(3, 2, 2);
        data.resize(10);
        write_file(images, data);
        CHECK_THROWS_WITH(bpr::data::load_idx_images(images), Contains("imgs-idx3-ubyte") &&
                                                                  Contains("truncated") &&
                                                                  Contains("row count"));
    }
    SECTION("wrong magic: a label file read as images") {
        write_file(images, idx_labels({1, 2}));
        CHECK_THROWS_WITH(bpr::data::load_idx_images(images),
                          Contains("imgs-idx3-ubyte") && Contains("magic number") &&
                              Contains("0x00000801") && Contains("0x00000803"));
        CHECK_NOTHROW(bpr::data::load_idx_labels(dir / "lbls-idx1-ubyte.gz", 10));
        write_gz(dir / "wrong.gz", idx_images(1, 1, 1));
        CHECK_THROWS_WITH(bpr::data::load_idx_labels(dir / "wrong.gz"),
                          Contains("wrong.gz") && Contains("magic number is 0x00000803"));
    }
    SECTION("truncated payload: header dims larger than the file") {
        bytes data = idx_images(10, 28, 28);
        data.resize(data.size() - 100);
        write_gz(dir / "short.gz", data);
        CHECK_THROWS_WITH(bpr::data::load_idx_images(dir / "short.gz"),
                          Contains("short.gz") && Contains("10 images of 28x28") &&
                              Contains("7,856 bytes") && Contains("7,756 bytes"));
    }
    SECTION("oversized payload: extra bytes after the images") {
        bytes data = idx_images(2, 3, 3);
        data.push_back(7);
        write_file(images, data);
        CHECK_THROWS_WITH(bpr::data::load_idx_images(images),
                          Contains("2 images of 3x3") && Contains("35 bytes"));
    }
    SECTION("absurd header dims do not allocate") {
        bytes data;
        put_u32(data, 0x00000803);
        put_u32(data, 0xffffffffu);
        put_u32(data, 1u << 15);
        put_u32(data, 1u << 15);
        data.resize(data.size() + 64, 0);
        write_gz(dir / "huge.gz", data);
        CHECK_THROWS_WITH(bpr::data::load_idx_images(dir / "huge.gz"),
                          Contains("huge.gz") && Contains("header says 4294967295 images") &&
                              Contains("holds 80 bytes"));
        bytes wide;
        put_u32(wide, 0x00000803);
        put_u32(wide, 1);
        put_u32(wide, 1);
        put_u32(wide, 1u << 20);
        write_file(images, wide);
        CHECK_THROWS_WITH(bpr::data::load_idx_images(images), Contains("column count is 1048576"));
        bytes none;
        put_u32(none, 0x00000803);
        put_u32(none, 0);
        put_u32(none, 2);
        put_u32(none, 2);
        write_file(images, none);
        CHECK_THROWS_WITH(bpr::data::load_idx_images(images), Contains("image count is 0"));
    }
    SECTION("labels out of range") {
        write_gz(dir / "bad-labels.gz", idx_labels({0, 1, 10}));
        CHECK_THROWS_WITH(
            bpr::data::load_idx_labels(dir / "bad-labels.gz"),
            Contains("bad-labels.gz") && Contains("label 2 is 10") && Contains("[0, 10)"));
        CHECK_THROWS_WITH(bpr::data::load_idx_labels(labels, 3),
                          Contains("label 2 is 3") && Contains("[0, 3)"));
        CHECK(bpr::data::load_idx_labels(labels, 4) == std::vector<int>{1, 2, 3});
    }
    SECTION("count mismatch between images and labels") {
        write_file(images, idx_images(4, 2, 2));
        CHECK_THROWS_WITH(bpr::data::load_idx(images, labels),
                          Contains("lbls-idx1-ubyte.gz") && Contains("label count is 3") &&
                              Contains("imgs-idx3-ubyte") && Contains("4 images"));
    }
    SECTION("corrupt and truncated gzip streams") {
        bytes good;
        {
            write_gz(dir / "good.gz", idx_images(20, 8, 8));
            good = read_file(dir / "good.gz");
        }
        bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
        write_file(dir / "cut.gz", cut);
        CHECK_THROWS_WITH(bpr::data::load_idx_images(dir / "cut.gz"),
                          Contains("cut.gz") && Contains("truncated"));
        bytes flipped = good;
        flipped[flipped.size() - 6] ^= 0xff;  // inside the CRC32 trailer
        write_file(dir / "crc.gz", flipped);
        CHECK_THROWS_WITH(bpr::data::load_idx_images(dir / "crc.gz"), Contains("crc.gz"));
    }
}

TEST_CASE("mnist layout picks plain or gz files and names the folder", "[data][idx]") {
    temp_dir dir;
    write_gz(dir / "train-images-idx3-ubyte.gz", idx_images(6, 5, 5));
    write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels({0, 1, 2, 3, 4, 5}));
    write_file(dir / "t10k-images-idx3-ubyte", idx_images(2, 5, 5));
    write_file(dir / "t10k-labels-idx1-ubyte", idx_labels({9, 8}));
    const auto train = bpr::data::load_fashion_mnist(bpr::data::subset_kind::train, dir.path);
    const auto test = bpr::data::load_fashion_mnist(bpr::data::subset_kind::test, dir.path);
    CHECK(train.size() == 6);
    CHECK(test.size() == 2);
    CHECK(train.class_names.at(9) == "Ankle boot");
    CHECK_NOTHROW(train.validate());
    CHECK_THROWS_WITH(bpr::data::load_fashion_mnist(bpr::data::subset_kind::train, dir / "nowhere"),
                      Contains("nowhere") && Contains("does not exist"));
    std::filesystem::remove(dir / "t10k-labels-idx1-ubyte");
    CHECK_THROWS_WITH(bpr::data::load_fashion_mnist(bpr::data::subset_kind::test, dir.path),
                      Contains("t10k-labels-idx1-ubyte.gz") && Contains("does not exist"));
}

TEST_CASE("the real Fashion-MNIST loads with 60000/10000 balanced images",
          "[data][idx][integration]") {
    const std::filesystem::path dir = bpr::data::default_fashion_mnist_dir;
    if (!std::filesystem::exists(dir / "train-images-idx3-ubyte.gz")) {
        WARN("Fashion-MNIST is not installed at " << dir << "; skipped");
        return;
    }
    const auto train = bpr::data::load_fashion_mnist(bpr::data::subset_kind::train);
    const auto test = bpr::data::load_fashion_mnist(bpr::data::subset_kind::test);
    REQUIRE(train.images.shape() == bpr::shape{60000, 1, 28, 28});
    REQUIRE(test.images.shape() == bpr::shape{10000, 1, 28, 28});
    // Fashion-MNIST is exactly balanced: 6,000 and 1,000 images per class.
    for (auto count : train.class_counts())
        CHECK(count == 6000);
    for (auto count : test.class_counts())
        CHECK(count == 1000);
    CHECK_NOTHROW(train.validate());
}

TEST_CASE("idx parses bytes in memory with the same checks", "[data][idx]") {
    const bytes images = idx_images(3, 2, 5);
    const auto parsed = bpr::data::parse_idx_images(images, "buffer");
    REQUIRE(parsed.shape() == bpr::shape{3, 1, 2, 5});
    CHECK(parsed(2, 0, 1, 4) == pixel(2, 1, 4));
    CHECK(bpr::data::parse_idx_labels(idx_labels({4, 0}), 5) == std::vector<int>{4, 0});

    const bytes cut(images.begin(), images.end() - 1);
    CHECK_THROWS_WITH(
        bpr::data::parse_idx_images(cut, "buffer"),
        Contains("buffer: header says 3 images of 2x5 (46 bytes)") && Contains("holds 45 bytes"));
    CHECK_THROWS_WITH(bpr::data::parse_idx_images(bytes{}, "nothing"),
                      Contains("nothing: the file is empty"));
    CHECK_THROWS_WITH(bpr::data::parse_idx_labels(idx_labels({4, 0}), 4, "lab"),
                      Contains("lab: label 0 is 4"));
    // Every truncation of a valid file is an error, never a crash.
    for (std::size_t length = 0; length < images.size(); ++length) {
        const bytes prefix(images.begin(), images.begin() + static_cast<std::ptrdiff_t>(length));
        CHECK_THROWS_AS(bpr::data::parse_idx_images(prefix), bpr::error);
    }
}
