// Encoded images, in memory and through the image-folder loader, against the hostile-
// input matrix: empty, truncated at every length, other formats, absurd header sizes.
// PNG chunk CRCs are not verified by stb_image, so flipped pixel bits are not caught
// (docs/reliability.md says so); flips in structure are.
#include <zlib.h>

#include <cstdint>
#include <span>
#include <string>

#include "../data/test_files.hpp"
#include "bpr/data/image_folder.hpp"
#include "hostile.hpp"

using bpr_test::bytes;

namespace {

void append_to(void* context, void* data, int size) {
    auto* out = static_cast<bytes*>(context);
    const auto* p = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), p, p + size);
}

bytes encode(int width, int height, int channels, bool jpeg) {
    bytes pixels;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < channels; ++c)
                pixels.push_back(bpr_test::pixel(c, y, x));
    bytes out;
    if (jpeg)
        stbi_write_jpg_to_func(append_to, &out, width, height, channels, pixels.data(), 90);
    else
        stbi_write_png_to_func(append_to, &out, width, height, channels, pixels.data(),
                               width * channels);
    return out;
}

auto decode(const bytes& b, const std::string& name = "hostile.png") {
    return bpr::data::decode_image(std::span<const unsigned char>(b), name);
}

void put_be32(bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
        b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

// Rewrites the IHDR CRC after a forged header, so the forgery reaches the size checks.
void reseal_ihdr(bytes& b) {
    const auto crc = static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), b.data() + 12, 17));
    put_be32(b, 29, crc);
}

}  // namespace

TEST_CASE("images: empty and every truncation length of a PNG and a JPEG", "[hostile][image]") {
    BPR_REQUIRE_REJECTS(decode(bytes{}), "hostile.png: the image file is empty");
    for (const bool jpeg : {false, true}) {
        const bytes good = encode(6, 5, 3, jpeg);
        REQUIRE(decode(good).size() == 90);
        for (std::size_t length = 1; length < good.size(); ++length) {
            INFO((jpeg ? "jpeg" : "png") << " cut to " << length);
            const bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length));
            // A PNG without its final IEND chunk (12 bytes; the pixels are complete) is
            // accepted and a JPEG cut inside its last entropy-coded bytes (it pads
            // with zeros, as libjpeg does): those decode, see docs/reliability.md.
            if (!jpeg && length + 12 == good.size()) continue;
            if (jpeg && length + 8 > good.size()) continue;
            BPR_REQUIRE_REJECTS(decode(cut), "hostile.png: cannot");
        }
    }
}

TEST_CASE("images: other formats, wrong channels and absurd header sizes", "[hostile][image]") {
    // A BMP that stb_image would decode: refused before it reaches the decoder.
    bytes bmp = {'B', 'M'};
    bmp.resize(64, 0);
    BPR_REQUIRE_REJECTS(decode(bmp, "x.png"),
                        "x.png: cannot read the image: not a PNG or JPEG file (it starts with "
                        "bytes 42 4d 00 00)");
    const bytes gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0};
    BPR_REQUIRE_REJECTS(decode(gif, "y.jpg"), "y.jpg: cannot read the image: not a PNG or JPEG");

    const bytes grey = encode(4, 4, 1, false);
    BPR_REQUIRE_REJECTS(bpr::data::decode_image(std::span<const unsigned char>(grey), "g.png", 5),
                        "g.png: requested channels 5");

    // IHDR width and height (bytes 16..23) forged to 16384 x 16384 (768 MiB of RGB,
    // under stb_image's own 1 GiB bound): over bpr's pixel limit, refused from the
    // header before any decoding or allocation. 2^20 x 2^20 stb refuses itself.
    bytes forged = encode(4, 4, 3, false);
    put_be32(forged, 16, 1u << 14);
    put_be32(forged, 20, 1u << 14);
    reseal_ihdr(forged);
    BPR_REQUIRE_REJECTS(decode(forged, "big.png"),
                        "big.png: image header says 16384x16384 pixels, more than the limit");
    put_be32(forged, 16, 1u << 20);
    put_be32(forged, 20, 1u << 20);
    reseal_ihdr(forged);
    BPR_REQUIRE_REJECTS(decode(forged, "huge.png"), "huge.png: cannot read the image");
    // Off by one against the caller's limit.
    const bytes small = encode(4, 4, 3, false);
    CHECK(bpr::data::decode_image(std::span<const unsigned char>(small), "s.png", 0, 16).size() ==
          48);
    BPR_REQUIRE_REJECTS(
        bpr::data::decode_image(std::span<const unsigned char>(small), "s.png", 0, 15),
        "s.png: image header says 4x4 pixels, more than the limit of 15");
}

TEST_CASE("image folder: a forged first image cannot size a huge dataset", "[hostile][image]") {
    bpr_hostile::temp_folder root("image");
    bytes forged = encode(4, 4, 3, false);
    put_be32(forged, 16, 16000);
    put_be32(forged, 20, 16000);
    reseal_ihdr(forged);
    bpr_hostile::write_bytes(root / "cat/a.png", forged);
    bpr_hostile::write_bytes(root / "cat/b.png", encode(4, 4, 3, false));
    BPR_REQUIRE_REJECTS(bpr::data::load_image_folder(root.path),
                        (root / "cat/a.png").string() + ": image header says 16000x16000 pixels",
                        "image_folder_options::max_pixels");
    bpr_hostile::write_bytes(root / "cat/a.png", encode(4, 4, 3, false));
    CHECK(bpr::data::load_image_folder(root.path).size() == 2);
    BPR_REQUIRE_REJECTS(bpr::data::load_image_folder(root.path, {.max_pixels = 15}),
                        "a.png: image header says 4x4 pixels, more than the limit of 15");
    BPR_REQUIRE_REJECTS(
        bpr::data::load_image_folder(root.path, {.height = 1 << 14, .width = 1 << 14}),
        "requested size 16384x16384 is more than the limit");
    bpr_hostile::write_bytes(root / "cat/b.png", bytes{'B', 'M', 0, 0});
    BPR_REQUIRE_REJECTS(
        bpr::data::load_image_folder(root.path),
        (root / "cat/b.png").string() + ": cannot read the image: not a PNG or JPEG");
}

TEST_CASE("images: PNG chunk lengths and CRCs are checked before stb_image", "[hostile][image]") {
    // Found by bpr_fuzz_image: this 74-byte file (IDAT length field 0x2a000010) made
    // stb_image reallocate 672 MB before noticing the file is too short.
    const bytes fuzz_oom = {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x05, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0xb8,
        0x1f, 0x30, 0xc6, 0x2a, 0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x5e, 0x63, 0x64,
        0x60, 0x66, 0x66, 0x64, 0x67, 0x66, 0x06, 0x00, 0x00, 0x53, 0x00, 0x16, 0xc8, 0x22, 0x62,
        0x7d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82, 0x0d};
    BPR_REQUIRE_REJECTS(decode(fuzz_oom, "oom.png"), "oom.png: cannot decode the image: PNG chunk");

    // The same forged IDAT length in an otherwise valid file: the length check names it.
    bytes forged = encode(3, 2, 3, false);
    const std::size_t idat = 8 + 12 + 13;  // signature, IHDR chunk
    REQUIRE(std::string(forged.begin() + idat + 4, forged.begin() + idat + 8) == "IDAT");
    put_be32(forged, idat, 0x2a000010);
    BPR_REQUIRE_REJECTS(decode(forged, "len.png"),
                        "len.png: cannot decode the image: PNG chunk 'IDAT' at byte 33: field "
                        "'length' is 704643088 but only");

    // stb_image_write emits only critical chunks, so every flipped bit is caught: by the
    // signature check, a chunk length, a CRC-32, or stb_image (a flip that makes a chunk
    // type lowercase turns it ancillary: "no IDAT").
    const bytes good = encode(3, 2, 3, false);
    for (std::size_t at = 0; at < good.size(); ++at)
        for (int bit = 0; bit < 8; ++bit) {
            bytes flipped = good;
            flipped[at] = static_cast<std::uint8_t>(flipped[at] ^ (1 << bit));
            const std::string message = bpr_hostile::error_of([&] { decode(flipped, "f.png"); });
            if (message.rfind("f.png: cannot ", 0) != 0)
                FAIL("byte " << at << " bit " << bit << ": " << message);
        }
    bytes crc = good;
    crc[idat + 8] ^= 1;  // first byte of the IDAT data
    BPR_REQUIRE_REJECTS(decode(crc, "crc.png"),
                        "crc.png: cannot decode the image: PNG chunk 'IDAT'", "field 'CRC' is",
                        "(corrupt file)");
}

namespace {

// Byte offset of the first segment with `marker` (FF <marker>) in a JPEG written by
// stb_image_write, which puts every table before its single scan.
std::size_t jpeg_segment(const bytes& jpeg, std::uint8_t marker) {
    std::size_t at = 2;
    while (at + 4 <= jpeg.size() && jpeg[at] == 0xff) {
        if (jpeg[at + 1] == marker) return at;
        at += 2 + ((std::size_t{jpeg[at + 2]} << 8) | jpeg[at + 3]);
    }
    FAIL("no JPEG segment FF" << int{marker});
    return 0;
}

}  // namespace

TEST_CASE("images: a JPEG scan may only use tables that a segment defined", "[hostile][image]") {
    // Found by bpr_fuzz_image: a mutated JFIF whose DHT segment defines AC table 2 where
    // its scan uses AC table 0; stb_image then decodes with uninitialised tables and read from
    // a wild address (a SEGV under ASan, or garbage pixels).
    const bytes fuzz_segv = bpr_test::read_file(std::string(BPR_TEST_DATA_DIR) +
                                                "/images/fuzz_undefined_huffman_table.jpg");
    BPR_REQUIRE_REJECTS(decode(fuzz_segv, "segv.jpg"),
                        "segv.jpg: cannot decode the image: JPEG scan at byte 593 uses Huffman "
                        "table AC 0 for component 1, which no DHT segment before it defines");

    const bytes good = encode(6, 5, 3, true);
    REQUIRE(decode(good).size() == 90);
    const std::size_t dht = jpeg_segment(good, 0xc4), dqt = jpeg_segment(good, 0xdb),
                      sos = jpeg_segment(good, 0xda);

    bytes no_huffman = good;  // the DHT segment turned into a comment
    no_huffman[dht + 1] = 0xfe;
    BPR_REQUIRE_REJECTS(decode(no_huffman, "h.jpg"),
                        "h.jpg: cannot decode the image: JPEG scan at byte ",
                        "uses Huffman table "
                        "DC 0 for component 1, which no DHT segment before it defines");
    bytes no_quant = good;
    no_quant[dqt + 1] = 0xfe;
    BPR_REQUIRE_REJECTS(decode(no_quant, "q.jpg"),
                        "uses quantisation table 0 for component 1, which no DQT segment");
    bytes undefined_table = good;  // scan component 2 asks for DC table 3
    undefined_table[sos + 8] = static_cast<std::uint8_t>(0x30 | (good[sos + 8] & 15));
    BPR_REQUIRE_REJECTS(decode(undefined_table, "t.jpg"),
                        "uses Huffman table DC 3 for component 2");

    bytes long_segment = good;  // a DHT length running past the end of the file
    long_segment[dht + 2] = 0xff;
    long_segment[dht + 3] = 0xff;
    BPR_REQUIRE_REJECTS(decode(long_segment, "l.jpg"),
                        "l.jpg: cannot decode the image: JPEG segment FFC4 at byte ",
                        "field 'length' is 65535 but");
}
