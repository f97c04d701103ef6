#include "bpr/data/batch_loader.hpp"

#include <catch2/catch.hpp>
#include <set>

#include "bpr/core/parallel.hpp"

using bpr::index_t;

namespace {
// n images 3 x side x side whose pixels encode the image index; label = index % 4.
bpr::data::dataset numbered(index_t n, index_t side = 8) {
    bpr::data::dataset d;
    d.images.resize({n, 3, side, side});
    const index_t size = 3 * side * side;
    for (index_t i = 0; i < n; ++i)
        for (index_t k = 0; k < size; ++k)
            d.images[i * size + k] = static_cast<std::uint8_t>((i * 7 + k) % 256);
    for (index_t i = 0; i < n; ++i)
        d.labels.push_back(static_cast<int>(i % 4));
    d.num_classes = 4;
    d.source = "numbered";
    return d;
}

std::vector<float> epoch_values(bpr::data::batch_loader& loader, std::int64_t epoch) {
    std::vector<float> all;
    for (const auto& b : loader.epoch(epoch))
        all.insert(all.end(), b.images.begin(), b.images.end());
    return all;
}
}  // namespace

TEST_CASE("batch loader covers each image once per epoch", "[data][batch_loader]") {
    const auto d = numbered(10);
    bpr::data::batch_loader loader(d, {.batch_size = 4, .seed = 1});
    CHECK(loader.batches_per_epoch() == 3);
    std::multiset<index_t> seen;
    std::vector<index_t> sizes;
    for (const auto& b : loader.epoch(0)) {
        sizes.push_back(b.images.extent(0));
        CHECK(b.images.shape() == bpr::shape{b.images.extent(0), 3, 8, 8});
        for (std::size_t k = 0; k < b.indices.size(); ++k) {
            seen.insert(b.indices[k]);
            CHECK(b.labels[k] == d.labels[static_cast<std::size_t>(b.indices[k])]);
            // Without normalization or augmentation pixels are bytes / 255.
            CHECK(b.images(static_cast<index_t>(k), 2, 7, 7) ==
                  Approx(d.images(b.indices[k], 2, 7, 7) / 255.0));
        }
    }
    CHECK(sizes == std::vector<index_t>{4, 4, 2});
    CHECK(seen.size() == 10);
    CHECK(std::set<index_t>(seen.begin(), seen.end()).size() == 10);

    bpr::data::batch_loader dropping(d, {.batch_size = 4, .drop_last = true});
    CHECK(dropping.batches_per_epoch() == 2);
    CHECK(dropping.images_per_epoch() == 8);
    index_t batches = 0;
    for (const auto& b : dropping.epoch(0)) {
        CHECK(b.images.extent(0) == 4);
        ++batches;
    }
    CHECK(batches == 2);
}

TEST_CASE("batch loader order: seeded per epoch, identity without shuffle",
          "[data][batch_loader]") {
    const auto d = numbered(50);
    bpr::data::batch_loader a(d, {.batch_size = 8, .seed = 7});
    bpr::data::batch_loader b(d, {.batch_size = 8, .seed = 7});
    bpr::data::batch_loader c(d, {.batch_size = 8, .seed = 8});
    a.start_epoch(3);
    b.start_epoch(3);
    c.start_epoch(3);
    const std::vector<index_t> order3(a.order().begin(), a.order().end());
    CHECK(order3 == std::vector<index_t>(b.order().begin(), b.order().end()));
    CHECK(order3 != std::vector<index_t>(c.order().begin(), c.order().end()));
    a.start_epoch(4);
    CHECK(order3 != std::vector<index_t>(a.order().begin(), a.order().end()));
    a.start_epoch(3);
    CHECK(order3 == std::vector<index_t>(a.order().begin(), a.order().end()));

    bpr::data::batch_loader plain(d, {.batch_size = 8, .shuffle = false});
    plain.start_epoch(5);
    for (index_t i = 0; i < 50; ++i)
        CHECK(plain.order()[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("batch loader augmentation is deterministic for (seed, epoch) and thread count",
          "[data][batch_loader]") {
    // Batches of 16 x 3x32x32 are large enough for the parallel path to run.
    const auto d = numbered(40, 32);
    const bpr::data::loader_options options{.batch_size = 16,
                                            .seed = 11,
                                            .norm = {{0.1f, 0.2f, 0.3f}, {0.5f, 0.6f, 0.7f}},
                                            .augment = {.pad = 2, .flip = true},
                                            .parallel = true};
    const int saved = bpr::threads();
    bpr::set_threads(1);
    bpr::data::batch_loader one(d, options);
    const auto serial = epoch_values(one, 2);
    bpr::set_threads(2);
    bpr::data::batch_loader two(d, options);
    CHECK(epoch_values(two, 2) == serial);
    bpr::set_threads(saved);
    CHECK(epoch_values(one, 3) != serial);

    // Loading a batch out of order gives the same batch.
    bpr::data::batch b1, b2;
    one.start_epoch(2);
    one.load(1, b1);
    one.load(2, b2);
    one.load(1, b2);
    CHECK(std::equal(b1.images.begin(), b1.images.end(), b2.images.begin()));
    CHECK(std::equal(b1.images.begin(), b1.images.end(), serial.begin() + 16 * 3072));

    // Augmentation changes images; padding reads as black, normalized.
    auto plain = options;
    plain.augment = {};
    bpr::data::batch_loader unaugmented(d, plain);
    CHECK(epoch_values(unaugmented, 2) != serial);
    const float black0 = (0.0f - 0.1f) / 0.5f;
    bool padded = false;
    for (float v : serial)
        padded = padded || v == Approx(black0);
    CHECK(padded);
}

TEST_CASE("batch loader cutout: one square of the mean per image, reproducible",
          "[data][batch_loader]") {
    // Normalized so that no pixel of these images maps to exactly 0: every 0.0f in a
    // batch is cut out.
    const auto d = numbered(12, 8);
    bpr::data::loader_options options{.batch_size = 12,
                                      .seed = 4,
                                      .norm = {{0.001f, 0.001f, 0.001f}, {1.0f, 1.0f, 1.0f}},
                                      .augment = {.pad = 1, .flip = true, .cutout = 3}};
    bpr::data::batch_loader loader(d, options);
    const auto values = epoch_values(loader, 0);
    CHECK(epoch_values(loader, 0) == values);
    auto without = options;
    without.augment.cutout = 0;
    bpr::data::batch_loader plain(d, without);
    const auto reference = epoch_values(plain, 0);
    int cut_images = 0;
    for (index_t i = 0; i < 12; ++i) {
        int zeros = 0;
        for (index_t k = 0; k < 3 * 64; ++k) {
            const float v = values[static_cast<std::size_t>(i * 192 + k)];
            if (v == 0.0f) {
                ++zeros;
            } else {
                // Outside the square the image is the one drawn without cutout.
                CHECK(v == reference[static_cast<std::size_t>(i * 192 + k)]);
            }
        }
        // A 3x3 square clipped at the border: 1 to 9 cells, the same in 3 channels.
        CHECK(zeros % 3 == 0);
        CHECK(zeros <= 27);
        cut_images += zeros > 0;
    }
    CHECK(cut_images == 12);  // the centre is always inside, so some cell always is
}

TEST_CASE("batch loader validates its options", "[data][batch_loader]") {
    const auto d = numbered(4);
    using Catch::Matchers::Contains;
    CHECK_THROWS_WITH(bpr::data::batch_loader(d, {.batch_size = 0}),
                      Contains("numbered") && Contains("batch_size is 0"));
    CHECK_THROWS_WITH(bpr::data::batch_loader(d, {.norm = {{0.5f}, {0.5f}}}),
                      Contains("1 channels") && Contains("have 3"));
    CHECK_THROWS_WITH(bpr::data::batch_loader(d, {.augment = {.pad = -1}}), Contains("pad is -1"));
    CHECK_THROWS_WITH(bpr::data::batch_loader(d, {.augment = {.cutout = -3}}),
                      Contains("numbered") && Contains("cutout is -3"));
    bpr::data::batch_loader loader(d, {.batch_size = 2});
    bpr::data::batch b;
    CHECK_THROWS_WITH(loader.load(2, b), Contains("batch 2 is outside [0, 2)"));
}

TEST_CASE("batch loader refuses an invalid dataset", "[data][batch_loader]") {
    auto d = numbered(4);
    d.labels[2] = 4;
    CHECK_THROWS_WITH(bpr::data::batch_loader(d, {}),
                      Catch::Matchers::Contains("numbered: label of image 2 is 4"));
    d.labels.pop_back();
    CHECK_THROWS_WITH(bpr::data::batch_loader(d, {}),
                      Catch::Matchers::Contains("4 images but 3 labels"));
}
