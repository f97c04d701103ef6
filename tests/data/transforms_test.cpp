#include "bpr/data/transforms.hpp"

#include <catch2/catch.hpp>
#include <set>

using bpr::index_t;

namespace {
bpr::data::dataset two_channel_data() {
    bpr::data::dataset d;
    d.images.resize({2, 2, 2, 2});
    // channel 0: 0 and 255 alternating -> mean 127.5, std 127.5; channel 1: all 51.
    const std::uint8_t values[] = {0, 255, 0, 255, 51, 51, 51, 51, 255, 0, 255, 0, 51, 51, 51, 51};
    std::copy(std::begin(values), std::end(values), d.images.data());
    d.labels = {0, 1};
    d.num_classes = 2;
    d.source = "two";
    return d;
}
}  // namespace

TEST_CASE("compute_normalization gives per-channel mean and std in [0,1] units",
          "[data][transforms]") {
    auto d = two_channel_data();
    CHECK_THROWS_WITH(
        bpr::data::compute_normalization(d),
        Catch::Matchers::Contains("channel 1") && Catch::Matchers::Contains("stddev 0"));
    d.images(1, 1, 0, 0) = 0;  // channel 1: seven 51s and a 0
    const auto norm = bpr::data::compute_normalization(d);
    REQUIRE(norm.channels() == 2);
    CHECK(norm.mean[0] == Approx(0.5));
    CHECK(norm.stddev[0] == Approx(0.5));
    const double m1 = 51.0 * 7 / 8, s1 = std::sqrt(51.0 * 51 * 7 / 8 - m1 * m1);
    CHECK(norm.mean[1] == Approx(m1 / 255));
    CHECK(norm.stddev[1] == Approx(s1 / 255));
    const auto tables = norm.lookup_tables(2);
    CHECK(tables[0][0] == Approx(-1.0));
    CHECK(tables[0][255] == Approx(1.0));
    CHECK(tables[1][51] == Approx((51 / 255.0 - m1 / 255) / (s1 / 255)));
}

TEST_CASE("normalization check names channel and value", "[data][transforms]") {
    bpr::data::normalization n{{0.5f}, {0.0f}};
    CHECK_THROWS_WITH(n.check(1, "here"),
                      Catch::Matchers::Contains("here") && Catch::Matchers::Contains("stddev 0"));
    n.stddev = {0.2f};
    CHECK_THROWS_WITH(n.check(3, "there"), Catch::Matchers::Contains("1 channels") &&
                                               Catch::Matchers::Contains("have 3"));
    CHECK_NOTHROW(n.check(1, "ok"));
    CHECK_NOTHROW(bpr::data::normalization{}.check(3, "empty is scaling only"));
}

TEST_CASE("convert_image crops with black padding and flips", "[data][transforms]") {
    // 1 channel 3x4: value = 10*y + x + 1.
    std::uint8_t image[12];
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x)
            image[y * 4 + x] = static_cast<std::uint8_t>(10 * y + x + 1);
    bpr::data::normalization identity;
    auto tables = identity.lookup_tables(1);
    for (int p = 0; p < 256; ++p)
        tables[0][static_cast<std::size_t>(p)] = static_cast<float>(p);  // raw bytes
    float out[12];
    auto at = [&](int y, int x) { return out[y * 4 + x]; };

    bpr::data::convert_image(image, 1, 3, 4, tables, {}, out);
    CHECK(at(2, 3) == 24);
    bpr::data::convert_image(image, 1, 3, 4, tables, {.dy = 1, .dx = -1, .flip = false}, out);
    CHECK(at(0, 0) == 0);   // x - 1 < 0
    CHECK(at(0, 1) == 11);  // (1, 0)
    CHECK(at(1, 3) == 23);  // (2, 2)
    CHECK(at(2, 1) == 0);   // y + 1 = 3 is outside
    bpr::data::convert_image(image, 1, 3, 4, tables, {.dy = 0, .dx = 0, .flip = true}, out);
    CHECK(at(0, 0) == 4);
    CHECK(at(2, 3) == 21);
    bpr::data::convert_image(image, 1, 3, 4, tables, {.dy = 0, .dx = 1, .flip = true}, out);
    CHECK(at(0, 0) == 0);  // 4 - 1 - 0 + 1 = 4 is outside
    CHECK(at(0, 1) == 4);
}

TEST_CASE("augmentation draws are deterministic and cover the range", "[data][transforms]") {
    const bpr::data::augmentation settings{.pad = 2, .flip = true};
    bpr::rng a(5), b(5);
    int flips = 0, min_dy = 9, max_dy = -9;
    for (int i = 0; i < 400; ++i) {
        const auto x = bpr::data::draw(settings, a);
        const auto y = bpr::data::draw(settings, b);
        CHECK((x.dy == y.dy && x.dx == y.dx && x.flip == y.flip));
        flips += x.flip;
        min_dy = std::min(min_dy, x.dy);
        max_dy = std::max(max_dy, x.dy);
        REQUIRE(std::abs(x.dx) <= 2);
    }
    CHECK(min_dy == -2);
    CHECK(max_dy == 2);
    CHECK(flips > 150);
    CHECK(flips < 250);
    // Without augmentation, the draw is the identity but consumes the same values.
    bpr::rng c(5), d(5);
    const auto none = bpr::data::draw({}, c);
    CHECK((none.dy == 0 && none.dx == 0 && !none.flip));
    bpr::data::draw(settings, d);
    CHECK(c() == d());
}

TEST_CASE("cutout zeroes a square clipped at the border, after crop and flip",
          "[data][transforms]") {
    // 2 channels 4x5 with raw-byte tables: every converted pixel is >= 1 unless cut out.
    std::uint8_t image[40];
    for (int i = 0; i < 40; ++i)
        image[i] = static_cast<std::uint8_t>(i + 1);
    bpr::data::normalization identity;
    auto tables = identity.lookup_tables(2);
    for (auto& table : tables)
        for (int p = 0; p < 256; ++p)
            table[static_cast<std::size_t>(p)] = static_cast<float>(p);
    float out[40];
    auto zeros_at = [&](int c) {
        std::set<std::pair<int, int>> cells;
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 5; ++x)
                if (out[(c * 4 + y) * 5 + x] == 0.0f) cells.insert({y, x});
        return cells;
    };

    // Inside: rows 1-2, columns 2-3 in both channels; the rest keeps its values.
    bpr::data::convert_image(image, 2, 4, 5, tables, {.cut_top = 1, .cut_left = 2, .cut_size = 2},
                             out);
    const std::set<std::pair<int, int>> inside{{1, 2}, {1, 3}, {2, 2}, {2, 3}};
    CHECK(zeros_at(0) == inside);
    CHECK(zeros_at(1) == inside);
    CHECK(out[0] == 1);
    CHECK(out[20 + 19] == 40);

    // Past the top-left corner: only the part inside the image.
    bpr::data::convert_image(image, 2, 4, 5, tables, {.cut_top = -2, .cut_left = -1, .cut_size = 3},
                             out);
    CHECK(zeros_at(1) == std::set<std::pair<int, int>>{{0, 0}, {0, 1}});
    // Wholly outside: nothing.
    bpr::data::convert_image(image, 2, 4, 5, tables, {.cut_top = 4, .cut_left = 0, .cut_size = 3},
                             out);
    CHECK(zeros_at(0).empty());

    // The square is placed on the output grid, after flip: column 0 of the output is
    // input column 4 (value 5 in row 0), and it is the one zeroed.
    bpr::data::convert_image(image, 2, 4, 5, tables,
                             {.flip = true, .cut_top = 0, .cut_left = 0, .cut_size = 1}, out);
    CHECK(out[0] == 0);
    CHECK(out[1] == 4);
}

TEST_CASE("cutout draws its centre after crop and flip, over the whole image",
          "[data][transforms]") {
    const bpr::data::augmentation plain{.pad = 3, .flip = true};
    const bpr::data::augmentation cut{.pad = 3, .flip = true, .cutout = 4};
    bpr::rng a(9), b(9);
    std::set<bpr::index_t> tops, lefts;
    for (int i = 0; i < 600; ++i) {
        const auto without = bpr::data::draw(plain, a, 6, 7);
        const auto with = bpr::data::draw(cut, b, 6, 7);
        // The crop and flip of a run do not change when cutout is turned on.
        REQUIRE((with.dy == without.dy && with.dx == without.dx && with.flip == without.flip));
        CHECK(without.cut_size == 0);
        CHECK(with.cut_size == 4);
        tops.insert(with.cut_top);
        lefts.insert(with.cut_left);
        a();
        a();  // as many values as the centre took from b, to keep the streams side by side
    }
    // Centre uniform over rows 0-5 and columns 0-6: square from centre - 2.
    CHECK(tops == std::set<bpr::index_t>{-2, -1, 0, 1, 2, 3});
    CHECK(lefts == std::set<bpr::index_t>{-2, -1, 0, 1, 2, 3, 4});
    CHECK(cut.enabled());
    CHECK(bpr::data::augmentation{.cutout = 1}.enabled());
    bpr::rng c(1);
    CHECK_THROWS_WITH(
        bpr::data::draw(cut, c),
        Catch::Matchers::Contains("cutout 4") && Catch::Matchers::Contains("needs the image size"));
}

TEST_CASE("random_crop and random_flip on float batches", "[data][transforms]") {
    bpr::tensor<float> batch({64, 1, 3, 3});
    for (index_t i = 0; i < batch.size(); ++i)
        batch[i] = static_cast<float>(i % 9 + 1);
    const bpr::tensor<float> original = batch;

    bpr::tensor<float> flipped = batch;
    bpr::rng r(3);
    bpr::data::random_flip(flipped, r);
    int mirrored = 0;
    for (index_t n = 0; n < 64; ++n) {
        const bool same = flipped(n, 0, 0, 0) == original(n, 0, 0, 0);
        if (!same) {
            ++mirrored;
            CHECK(flipped(n, 0, 1, 0) == original(n, 0, 1, 2));
        }
    }
    CHECK(mirrored > 15);
    CHECK(mirrored < 49);

    bpr::tensor<float> cropped = batch;
    bpr::rng s(4);
    bpr::data::random_crop(cropped, 1, s);
    int moved = 0;
    for (index_t n = 0; n < 64; ++n) {
        float sum = 0;
        for (int k = 0; k < 9; ++k)
            sum += cropped[n * 9 + k];
        moved += sum != 45.0f;
        CHECK(cropped(n, 0, 1, 1) != 0.0f);  // the centre survives any 1-pixel shift
    }
    CHECK(moved > 40);  // 8 of 9 offsets move the image
    bpr::tensor<float> again = batch;
    bpr::rng s2(4);
    bpr::data::random_crop(again, 1, s2);
    for (index_t i = 0; i < batch.size(); ++i)
        REQUIRE(again[i] == cropped[i]);
}
