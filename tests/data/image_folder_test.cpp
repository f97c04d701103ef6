#include "bpr/data/image_folder.hpp"

#include <catch2/catch.hpp>

#include "bpr/core/parallel.hpp"
#include "test_files.hpp"

using Catch::Matchers::Contains;
using namespace bpr_test;

namespace {
// root/cat/{a,b}.png, root/ant/c.PNG, root/dog/d.png + notes.txt: 3 classes of RGB 5x4.
void make_folder(const temp_dir& root) {
    write_png(root / "cat/b.png", 5, 4, 3, 2);
    write_png(root / "cat/a.png", 5, 4, 3, 1);
    write_png(root / "ant/c.PNG", 5, 4, 3, 3);
    write_png(root / "dog/d.png", 5, 4, 3, 4);
    write_file(root / "dog/notes.txt", {1, 2, 3});
    write_file(root / "readme.md", {1});
}
}  // namespace

TEST_CASE("image folder: sorted classes and files, CHW pixels", "[data][image_folder]") {
    temp_dir root;
    make_folder(root);
    const auto d = bpr::data::load_image_folder(root.path);
    REQUIRE(d.images.shape() == bpr::shape{4, 3, 4, 5});
    CHECK(d.class_names == std::vector<std::string>{"ant", "cat", "dog"});
    CHECK(d.labels == std::vector<int>{0, 1, 1, 2});
    CHECK(d.num_classes == 3);
    const int seeds[] = {3, 1, 2, 4};  // ant/c, cat/a, cat/b, dog/d
    for (int i = 0; i < 4; ++i)
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 4; ++y)
                for (int x = 0; x < 5; ++x)
                    REQUIRE(d.images(i, c, y, x) == pixel(seeds[i] + c, y, x));
    CHECK_NOTHROW(d.validate());
}

TEST_CASE("image folder: jpeg files and requested channel conversion", "[data][image_folder]") {
    temp_dir root;
    bytes flat(8 * 8 * 3, 128);
    std::filesystem::create_directories(root / "x");
    stbi_write_jpg((root / "x/a.jpg").string().c_str(), 8, 8, 3, flat.data(), 95);
    stbi_write_jpg((root / "x/b.jpeg").string().c_str(), 8, 8, 3, flat.data(), 95);
    const auto as_stored = bpr::data::load_image_folder(root.path);
    CHECK(as_stored.images.shape() == bpr::shape{2, 3, 8, 8});
    CHECK(std::abs(int{as_stored.images(1, 2, 3, 3)} - 128) <= 2);
    write_png(root / "y/grey.png", 8, 8, 1, 0);
    CHECK_THROWS_WITH(bpr::data::load_image_folder(root.path),
                      Contains("grey.png") && Contains("has 1 channels, expected 3"));
    const auto rgb = bpr::data::load_image_folder(root.path, {.channels = 3});
    REQUIRE(rgb.images.shape() == bpr::shape{3, 3, 8, 8});
    CHECK(rgb.images(2, 2, 7, 5) == pixel(0, 7, 5));
    CHECK(rgb.images(2, 0, 7, 5) == pixel(0, 7, 5));
    const auto grey = bpr::data::load_image_folder(root.path, {.channels = 1});
    CHECK(grey.images.shape() == bpr::shape{3, 1, 8, 8});
}

TEST_CASE("image folder rejects bad input naming the file", "[data][image_folder]") {
    temp_dir root;
    make_folder(root);

    SECTION("nonexistent root and a file as root") {
        CHECK_THROWS_WITH(bpr::data::load_image_folder(root / "nope"),
                          Contains("nope") && Contains("does not exist"));
        CHECK_THROWS_WITH(bpr::data::load_image_folder(root / "readme.md"),
                          Contains("readme.md") && Contains("not a directory"));
    }
    SECTION("no class folders; class folder without images") {
        std::filesystem::create_directories(root / "flat");
        CHECK_THROWS_WITH(bpr::data::load_image_folder(root / "flat"),
                          Contains("flat") && Contains("no class sub-folders"));
        std::filesystem::create_directories(root / "elk");
        CHECK_THROWS_WITH(bpr::data::load_image_folder(root.path),
                          Contains("elk") && Contains("no .png"));
    }
    SECTION("image of the wrong size") {
        write_png(root / "dog/e.png", 6, 4, 3, 0);
        CHECK_THROWS_WITH(bpr::data::load_image_folder(root.path),
                          Contains("e.png") && Contains("image size is 6x4") &&
                              Contains("expected 5x4") && Contains("c.PNG"));
        CHECK_THROWS_WITH(bpr::data::load_image_folder(root.path, {.height = 4, .width = 6}),
                          Contains("c.PNG") && Contains("expected 6x4 (requested)"));
    }
    SECTION("image with the wrong channel count") {
        write_png(root / "cat/c.png", 5, 4, 4, 0);
        CHECK_THROWS_WITH(bpr::data::load_image_folder(root.path),
                          Contains("cat/c.png") && Contains("has 4 channels, expected 3"));
        CHECK(bpr::data::load_image_folder(root.path, {.channels = 3}).size() == 5);
    }
    SECTION("unreadable, empty and corrupt image files") {
        write_file(root / "cat/z.jpg", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'g'});
        CHECK_THROWS_WITH(bpr::data::load_image_folder(root.path),
                          Contains("cat/z.jpg") && Contains("cannot read the image"));
        std::filesystem::remove(root / "cat/z.jpg");
        write_file(root / "dog/e.png", {});
        CHECK_THROWS_WITH(bpr::data::load_image_folder(root.path),
                          Contains("dog/e.png") && Contains("empty"));
        bytes png = read_file(root / "dog/d.png");
        png.resize(png.size() / 2);
        write_file(root / "dog/e.png", png);
        try {
            bpr::data::load_image_folder(root.path);
            FAIL("a truncated PNG was accepted");
        } catch (const bpr::error& e) {
            const std::string message = e.what();
            CHECK_THAT(message, Contains("dog/e.png") && Contains("cannot decode the image"));
            for (char c : message)  // stb's reason can embed raw chunk-type bytes
                CHECK(std::isprint(static_cast<unsigned char>(c)));
        }
    }
    SECTION("the reported error does not depend on the thread count") {
        for (int i = 0; i < 40; ++i)
            write_png(root / ("cat/m" + std::to_string(100 + i) + ".png"), 5, 4, 3, i);
        write_png(root / "cat/m120.png", 3, 3, 3, 0);
        write_png(root / "cat/m130.png", 3, 3, 3, 0);
        const int saved = bpr::threads();
        for (int t : {1, 2}) {
            bpr::set_threads(t);
            CHECK_THROWS_WITH(bpr::data::load_image_folder(root.path),
                              Contains("m120.png") && !Contains("m130.png"));
        }
        bpr::set_threads(saved);
    }
}

TEST_CASE("decode_image decodes bytes in memory and bounds the header", "[data][image_folder]") {
    temp_dir dir;
    write_png(dir / "a.png", 6, 2, 3, 5);
    const bytes png = read_file(dir / "a.png");
    const auto image = bpr::data::decode_image(png, "a.png");
    REQUIRE(image.shape() == bpr::shape{1, 3, 2, 6});
    CHECK(image(0, 1, 1, 5) == pixel(6, 1, 5));
    CHECK(bpr::data::decode_image(png, "a.png", 1).shape() == bpr::shape{1, 1, 2, 6});
    CHECK_THROWS_WITH(bpr::data::decode_image(png, "a.png", 3, 11),
                      Contains("a.png") && Contains("6x2 pixels, more than the limit of 11"));
    CHECK_THROWS_WITH(bpr::data::decode_image(bytes{}, "e.png"),
                      Contains("e.png: the image file is empty"));
    CHECK_THROWS_WITH(bpr::data::decode_image(png, "a.png", 5), Contains("requested channels 5"));
    for (std::size_t length = 1; length < png.size(); length += 7) {
        const bytes prefix(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(length));
        CHECK_THROWS_AS(bpr::data::decode_image(prefix, "cut.png"), bpr::error);
    }
}
