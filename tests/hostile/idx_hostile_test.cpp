// IDX files (plain and gzip) against the hostile-input matrix: empty, every truncation
// length, header fields off by one, absurd sizes, wrong dtype, flipped bits (the gzip
// CRC-32 catches them; plain IDX has no checksum, see docs/reliability.md).
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>

#include "../data/test_files.hpp"
#include "bpr/data/idx.hpp"
#include "hostile.hpp"

using bpr_test::bytes;

namespace {

bytes with_u32(bytes file, std::size_t offset, std::uint32_t value) {
    for (int i = 0; i < 4; ++i)
        file[offset + static_cast<std::size_t>(i)] =
            static_cast<std::uint8_t>(value >> (24 - 8 * i));
    return file;
}

auto images_of(const bytes& file) {
    return bpr::data::parse_idx_images(std::span<const unsigned char>(file), "hostile-images.idx");
}
auto labels_of(const bytes& file) {
    return bpr::data::parse_idx_labels(std::span<const unsigned char>(file), 10,
                                       "hostile-labels.idx");
}

}  // namespace

TEST_CASE("idx images: every truncation length names the file and the field", "[hostile][idx]") {
    const bytes good = bpr_test::idx_images(3, 4, 5);  // 16-byte header + 60 pixels
    REQUIRE(images_of(good).size() == 60);
    const char* fields[] = {"magic number", "image count", "row count", "column count"};
    for (std::size_t length = 0; length < good.size(); ++length) {
        INFO("length " << length);
        const bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length));
        if (length == 0)
            BPR_REQUIRE_REJECTS(images_of(cut), "hostile-images.idx: the file is empty");
        else if (length < 16)
            BPR_REQUIRE_REJECTS(images_of(cut), "hostile-images.idx: header is truncated",
                                std::string("inside the ") + fields[length / 4] + " field");
        else
            BPR_REQUIRE_REJECTS(
                images_of(cut), "hostile-images.idx: header says 3 images of 4x5",
                "(76 bytes) but the file holds " + std::to_string(length) + " bytes");
    }
}

TEST_CASE("idx labels: every truncation length is rejected", "[hostile][idx]") {
    const bytes good = bpr_test::idx_labels({1, 2, 3, 4});
    for (std::size_t length = 0; length < good.size(); ++length) {
        INFO("length " << length);
        const bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length));
        BPR_REQUIRE_REJECTS(labels_of(cut), "hostile-labels.idx: ");
    }
    BPR_REQUIRE_REJECTS(labels_of(bytes(good.begin(), good.begin() + 6)), "label count field");
    BPR_REQUIRE_REJECTS(labels_of(bytes(good.begin(), good.begin() + 10)),
                        "header says 4 labels (12 bytes) but the file holds 10 bytes");
}

TEST_CASE("idx header fields off by one, absurd sizes and the wrong dtype", "[hostile][idx]") {
    const bytes good = bpr_test::idx_images(3, 4, 5);
    BPR_REQUIRE_REJECTS(images_of(with_u32(good, 4, 4)),
                        "header says 4 images of 4x5 (96 bytes) but the file holds 76 bytes");
    BPR_REQUIRE_REJECTS(images_of(with_u32(good, 4, 2)),
                        "header says 2 images of 4x5 (56 bytes) but the file holds 76 bytes");
    BPR_REQUIRE_REJECTS(images_of(with_u32(good, 8, 5)), "header says 3 images of 5x5");
    BPR_REQUIRE_REJECTS(images_of(with_u32(good, 12, 4)), "header says 3 images of 4x4");
    BPR_REQUIRE_REJECTS(images_of(with_u32(good, 4, 0)), "header field image count is 0");
    // 2^40 pixels claimed by a 76-byte file: rejected by size, nothing allocated.
    BPR_REQUIRE_REJECTS(
        images_of(with_u32(with_u32(with_u32(good, 4, 1u << 10), 8, 1u << 15), 12, 1u << 15)),
        "header says 1024 images of 32768x32768 (1,099,511,627,792 bytes)");
    BPR_REQUIRE_REJECTS(images_of(with_u32(good, 8, (1u << 15) + 1)),
                        "header field row count is 32769, expected 1 to 32768");
    BPR_REQUIRE_REJECTS(images_of(with_u32(good, 12, 0xffffffffu)),
                        "header field column count is 4294967295");
    // Type code 0x0d is float32: the parser reads unsigned bytes only.
    BPR_REQUIRE_REJECTS(images_of(with_u32(good, 0, 0x00000d03)),
                        "magic number is 0x00000d03, expected 0x00000803");
    BPR_REQUIRE_REJECTS(images_of(with_u32(good, 0, 0x00000804)), "magic number is 0x00000804");
    BPR_REQUIRE_REJECTS(labels_of(good), "magic number is 0x00000803, expected 0x00000801");
    bytes labels = bpr_test::idx_labels({1, 2, 3});
    labels.back() = 10;
    BPR_REQUIRE_REJECTS(labels_of(labels), "label 2 is 10, outside [0, 10)");
}

TEST_CASE("idx.gz: truncation anywhere and every flipped byte of the stream are errors",
          "[hostile][idx]") {
    bpr_hostile::temp_folder dir("idx");
    const bytes plain = bpr_test::idx_images(3, 4, 5);
    bpr_test::write_gz(dir / "good.gz", plain);
    const std::string gz = bpr_hostile::read_bytes(dir / "good.gz");
    REQUIRE(bpr::data::load_idx_images(dir / "good.gz").size() == 60);
    const auto bad = dir / "bad-images.gz";
    for (std::size_t length = 0; length < gz.size(); ++length) {
        INFO("length " << length);
        bpr_hostile::write_bytes(bad, gz.substr(0, length));
        BPR_REQUIRE_REJECTS(bpr::data::load_idx_images(bad), bad.string() + ": ");
    }
    // The 10-byte gzip header carries no checksum (mtime, flags, OS); from there on the
    // deflate data, its CRC-32 and its length are covered. A flip may only pass if it
    // changed no decoded byte (the unused padding bits after the last deflate block).
    const auto original = bpr::data::load_idx_images(dir / "good.gz");
    for (std::size_t at = 10; at < gz.size(); ++at) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string flipped = gz;
            flipped[at] = static_cast<char>(flipped[at] ^ (1 << bit));
            bpr_hostile::write_bytes(bad, flipped);
            try {
                const auto loaded = bpr::data::load_idx_images(bad);
                if (!std::equal(loaded.begin(), loaded.end(), original.begin()))
                    FAIL("byte " << at << " bit " << bit << ": changed data was accepted");
            } catch (const bpr::error& e) {
                if (std::string(e.what()).rfind(bad.string() + ": ", 0) != 0)
                    FAIL("byte " << at << " bit " << bit << ": " << e.what());
            }
        }
    }
    bpr_hostile::write_bytes(bad, gz.substr(0, gz.size() - 4));
    BPR_REQUIRE_REJECTS(bpr::data::load_idx_images(bad), "gzip stream is truncated");
}
