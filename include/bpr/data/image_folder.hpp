#pragma once
// Image folders: root/<class>/*.{png,jpg,jpeg}, decoded with stb_image.

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#else
#include <stb_image.h>
#endif

#include "bpr/core/error.hpp"
#include "bpr/data/dataset.hpp"

namespace bpr::data {

// What images an image folder must hold. Zero means "as the first image (in sorted
// order) has it"; a nonzero size must be matched by every image (nothing is resized);
// nonzero channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) are converted to by stb_image.
struct image_folder_options {
    int channels = 0;
    int height = 0;
    int width = 0;
    // Largest width x height accepted from an image header (the first image sizes the
    // whole dataset tensor, so a forged header must not drive a huge allocation).
    index_t max_pixels = index_t{1} << 26;
};

}  // namespace bpr::data

namespace bpr::detail {

inline bool has_image_extension(const std::filesystem::path& path) {
    std::string ext = path.extension().string();
    for (char& c : ext)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

inline bool is_hidden(const std::filesystem::path& path) {
    const std::string name = path.filename().string();
    return !name.empty() && name.front() == '.';
}

// The non-hidden entries of `dir` that are folders (`folders`) or image files, sorted
// by name; listing errors (e.g. permissions) become bpr::error naming the folder.
inline std::vector<std::filesystem::path> list_sorted(const std::filesystem::path& dir,
                                                      bool folders) {
    namespace fs = std::filesystem;
    std::vector<fs::path> result;
    std::error_code code;
    fs::directory_iterator it(dir, code);
    const fs::directory_iterator end;
    for (; !code && it != end; it.increment(code)) {
        const fs::path& path = it->path();
        if (is_hidden(path)) continue;
        std::error_code kind_code;
        const bool wanted = folders ? it->is_directory(kind_code)
                                    : it->is_regular_file(kind_code) && has_image_extension(path);
        if (wanted && !kind_code) result.push_back(path);
    }
    if (code) fail(dir.string(), ": cannot list the folder: ", code.message());
    std::sort(result.begin(), result.end());
    return result;
}

inline std::vector<unsigned char> read_whole_file(const std::filesystem::path& path) {
    std::ifstream stream(path, std::ios::binary | std::ios::ate);
    BPR_REQUIRE(stream.good(), path.string(), ": cannot open the image file for reading");
    const std::streamoff size = stream.tellg();
    BPR_REQUIRE(size >= 0, path.string(), ": cannot determine the image file size");
    BPR_REQUIRE(size > 0, path.string(), ": the image file is empty");
    BPR_REQUIRE(size <= (std::streamoff{1} << 30), path.string(), ": image file of ", size,
                " bytes is larger than 1 GiB");
    std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
    stream.seekg(0);
    stream.read(reinterpret_cast<char*>(bytes.data()), size);
    BPR_REQUIRE(stream.gcount() == size, path.string(), ": read ", stream.gcount(), " of ", size,
                " bytes of the image file");
    return bytes;
}

// stb_image's reason, made printable: for an unknown PNG chunk it embeds the chunk's
// raw type bytes, which a corrupt file can make binary.
inline std::string stbi_reason() {
    const char* reason = stbi_failure_reason();
    std::string text = reason != nullptr ? reason : "unknown stb_image error";
    for (char& c : text)
        if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
    return text;
}

inline std::uint32_t read_be32(const unsigned char* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

// Walks the chunks of a PNG before stb_image sees it: every chunk must fit in the
// file, and critical chunks (IHDR, PLTE, IDAT, IEND) must match their CRC-32, as
// libpng requires. stb_image trusts an IDAT length and reallocates its buffer to it
// before reading (found by fuzzing: a 74-byte file made it allocate 672 MB), and it
// never checks CRCs.
inline void check_png_chunks(std::span<const unsigned char> bytes, const std::string& name) {
    std::size_t at = 8;
    while (at < bytes.size()) {
        BPR_REQUIRE(bytes.size() - at >= 12, name, ": cannot decode the image: PNG chunk at byte ",
                    at, " is truncated (", bytes.size() - at, " bytes left, a chunk needs 12)");
        const std::uint32_t length = read_be32(bytes.data() + at);
        std::string type(reinterpret_cast<const char*>(bytes.data() + at + 4), 4);
        for (char& c : type)
            if (!std::isalpha(static_cast<unsigned char>(c))) c = '?';
        BPR_REQUIRE(length <= bytes.size() - at - 12, name,
                    ": cannot decode the image: PNG chunk '", type, "' at byte ", at,
                    ": field 'length' is ", length, " but only ", bytes.size() - at - 12,
                    " bytes follow (truncated or corrupt)");
        const bool critical = (bytes[at + 4] & 0x20) == 0;  // uppercase first letter
        if (critical) {
            const auto crc = static_cast<std::uint32_t>(
                crc32(crc32(0L, Z_NULL, 0), bytes.data() + at + 4, length + 4));
            const std::uint32_t stored = read_be32(bytes.data() + at + 8 + length);
            BPR_REQUIRE(crc == stored, name, ": cannot decode the image: PNG chunk '", type,
                        "' at byte ", at, ": field 'CRC' is ", stored, " but the chunk's is ", crc,
                        " (corrupt file)");
        }
        at += 12 + std::size_t{length};
        if (type == "IEND") break;
    }
}

// Walks the marker segments of a JPEG before stb_image sees it. stb_image keeps its
// Huffman and quantisation tables in uninitialised memory and trusts a scan to name
// only tables that a DHT/DQT segment defined; a scan that names an undefined Huffman
// table makes it index with garbage (found by fuzzing: a read at a wild address). So
// every table a scan uses must have been defined, and every segment must fit in the
// file. Entropy-coded data is skipped, not checked: it cannot address memory.
inline void check_jpeg_segments(std::span<const unsigned char> bytes, const std::string& name) {
    const auto hex = [](unsigned value) {
        return concat("0123456789ABCDEF"[(value >> 4) & 15], "0123456789ABCDEF"[value & 15]);
    };
    bool huffman_defined[2][4] = {};  // [DC = 0, AC = 1][table id]
    bool quant_defined[4] = {};
    int component_quant[256];  // SOF component id -> quantisation table, -1 if none
    std::fill(std::begin(component_quant), std::end(component_quant), -1);
    bool progressive = false;
    std::size_t at = 2;  // after SOI
    while (at < bytes.size()) {
        // stb_image skips stray bytes between segments, and so must this walk, so that
        // both see the same markers; then any number of 0xFF fill bytes.
        if (bytes[at] != 0xff) {
            ++at;
            continue;
        }
        while (at < bytes.size() && bytes[at] == 0xff)
            ++at;
        if (at >= bytes.size()) return;  // truncated: stb_image says so
        const unsigned marker = bytes[at];
        const std::size_t marker_at = at - 1;
        ++at;
        if (marker == 0xd9) return;                                          // EOI
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;  // no length
        BPR_REQUIRE(bytes.size() - at >= 2, name, ": cannot decode the image: JPEG segment FF",
                    hex(marker), " at byte ", marker_at, " is truncated before its length");
        const std::size_t length = (std::size_t{bytes[at]} << 8) | bytes[at + 1];
        BPR_REQUIRE(length >= 2 && length <= bytes.size() - at, name,
                    ": cannot decode the image: JPEG segment FF", hex(marker), " at byte ",
                    marker_at, ": field 'length' is ", length, " but ", bytes.size() - at,
                    " bytes are left (truncated or corrupt)");
        const std::span<const unsigned char> payload = bytes.subspan(at + 2, length - 2);
        const auto require_payload = [&](std::size_t needed) {
            BPR_REQUIRE(needed <= payload.size(), name,
                        ": cannot decode the image: JPEG segment FF", hex(marker), " at byte ",
                        marker_at, " needs ", needed, " bytes but its length field gives ",
                        payload.size());
        };
        at += length;
        if (marker == 0xc4) {  // DHT: one or more tables
            std::size_t p = 0;
            while (p < payload.size()) {
                require_payload(p + 17);
                const unsigned table_class = payload[p] >> 4, id = payload[p] & 15;
                std::size_t symbols = 0;
                for (std::size_t i = 1; i <= 16; ++i)
                    symbols += payload[p + i];
                require_payload(p + 17 + symbols);
                if (table_class <= 1 && id <= 3) huffman_defined[table_class][id] = true;
                p += 17 + symbols;
            }
        } else if (marker == 0xdb) {  // DQT: one or more tables of 8- or 16-bit entries
            std::size_t p = 0;
            while (p < payload.size()) {
                const std::size_t size = 1 + ((payload[p] >> 4) != 0 ? 128 : 64);
                require_payload(p + size);
                if ((payload[p] & 15) <= 3) quant_defined[payload[p] & 15] = true;
                p += size;
            }
        } else if (marker == 0xc0 || marker == 0xc1 || marker == 0xc2) {  // SOF
            require_payload(6);
            const std::size_t components = payload[5];
            require_payload(6 + 3 * components);
            progressive = marker == 0xc2;
            for (std::size_t c = 0; c < components; ++c)
                component_quant[payload[6 + 3 * c]] = payload[8 + 3 * c];
        } else if (marker == 0xda) {  // SOS, then entropy-coded data up to the next marker
            require_payload(1);
            const std::size_t components = payload[0];
            require_payload(4 + 2 * components);
            const unsigned spectral_start = payload[1 + 2 * components];
            const unsigned approximation_high = payload[3 + 2 * components] >> 4;
            const bool uses_dc = !progressive || (spectral_start == 0 && approximation_high == 0);
            const bool uses_ac = !progressive || spectral_start != 0;
            for (std::size_t c = 0; c < components; ++c) {
                const unsigned id = payload[1 + 2 * c];
                const unsigned dc = payload[2 + 2 * c] >> 4, ac = payload[2 + 2 * c] & 15;
                const auto require_huffman = [&](bool used, int table_class, unsigned table) {
                    BPR_REQUIRE(!used || table > 3 || huffman_defined[table_class][table], name,
                                ": cannot decode the image: JPEG scan at byte ", marker_at,
                                " uses Huffman table ", table_class == 0 ? "DC " : "AC ", table,
                                " for component ", id, ", which no DHT segment before it defines");
                };
                require_huffman(uses_dc, 0, dc);
                require_huffman(uses_ac, 1, ac);
                const int quant = component_quant[id];
                BPR_REQUIRE(quant < 0 || quant > 3 || quant_defined[quant], name,
                            ": cannot decode the image: JPEG scan at byte ", marker_at,
                            " uses quantisation table ", quant, " for component ", id,
                            ", which no DQT segment before it defines");
            }
            // A marker inside entropy-coded data is 0xFF followed by anything but a
            // stuffed zero or a restart marker (RST0-7).
            while (at < bytes.size()) {
                if (bytes[at] != 0xff) {
                    ++at;
                    continue;
                }
                std::size_t next = at + 1;
                while (next < bytes.size() && bytes[next] == 0xff)
                    ++next;
                if (next >= bytes.size()) return;
                const unsigned byte = bytes[next];
                if (byte == 0x00 || (byte >= 0xd0 && byte <= 0xd7)) {
                    at = next + 1;
                    continue;
                }
                at = next - 1;  // the last 0xFF before the marker code
                break;
            }
        }
    }
}

// Only PNG and JPEG reach stb_image: it would also decode GIF, BMP, PSD, TGA, HDR, PIC
// and PNM, whose decoders are larger attack surface and which the folder loader does
// not list; and stbi_info and stbi_load probe formats in different orders, so a file
// that is two formats at once could be sized by one and decoded by the other.
inline void require_png_or_jpeg(std::span<const unsigned char> bytes, const std::string& name) {
    static constexpr unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static constexpr unsigned char jpeg[3] = {0xff, 0xd8, 0xff};
    const bool is_png = bytes.size() >= 8 && std::equal(png, png + 8, bytes.begin());
    const bool is_jpeg = bytes.size() >= 3 && std::equal(jpeg, jpeg + 3, bytes.begin());
    if (is_png) check_png_chunks(bytes, name);
    if (is_jpeg) check_jpeg_segments(bytes, name);
    if (is_png || is_jpeg) return;
    std::string start;
    for (std::size_t i = 0; i < std::min<std::size_t>(bytes.size(), 4); ++i)
        start += concat(i ? " " : "", "0123456789abcdef"[bytes[i] >> 4],
                        "0123456789abcdef"[bytes[i] & 15]);
    fail(name, ": cannot read the image: not a PNG or JPEG file (it starts with bytes ", start,
         ")");
}

struct stbi_deleter {
    void operator()(unsigned char* pixels) const { stbi_image_free(pixels); }
};

// Decodes the encoded image `bytes` (named `name` in messages) into `destination`
// ([C, H, W] bytes) after checking its header against `expected`, whose fields are all
// nonzero; `strict_channels` rejects an image whose stored channel count differs
// instead of converting it. The references name where each expectation came from.
inline void decode_image_bytes(std::span<const unsigned char> bytes, const std::string& name,
                               const data::image_folder_options& expected, bool strict_channels,
                               const std::string& size_reference,
                               const std::string& channel_reference, std::uint8_t* destination) {
    BPR_REQUIRE(!bytes.empty(), name, ": the image file is empty");
    BPR_REQUIRE(bytes.size() <= (std::size_t{1} << 30), name, ": image file of ", bytes.size(),
                " bytes is larger than 1 GiB");
    require_png_or_jpeg(bytes, name);
    const int length = static_cast<int>(bytes.size());
    int width = 0, height = 0, channels = 0;
    if (!stbi_info_from_memory(bytes.data(), length, &width, &height, &channels))
        fail(name, ": cannot read the image: ", stbi_reason());
    BPR_REQUIRE(width == expected.width && height == expected.height, name, ": image size is ",
                width, "x", height, " (width x height), expected ", expected.width, "x",
                expected.height, " (", size_reference, ")");
    BPR_REQUIRE(!strict_channels || channels == expected.channels, name, ": image has ", channels,
                " channels, expected ", expected.channels, " (", channel_reference, ")");
    int w = 0, h = 0, stored = 0;
    std::unique_ptr<unsigned char, stbi_deleter> pixels(
        stbi_load_from_memory(bytes.data(), length, &w, &h, &stored, expected.channels));
    if (!pixels)
        fail(name,
             ": cannot decode the image (corrupt, truncated or an unsupported variant): "
             "stb_image reports \"",
             stbi_reason(), "\"");
    BPR_REQUIRE(w == expected.width && h == expected.height, name, ": decoded size ", w, "x", h,
                " differs from the header's ", width, "x", height);
    // stb gives interleaved HWC; bpr stores planar CHW.
    const int c_count = expected.channels;
    const std::size_t plane = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
    for (int c = 0; c < c_count; ++c)
        for (std::size_t p = 0; p < plane; ++p)
            destination[static_cast<std::size_t>(c) * plane + p] =
                pixels.get()[p * static_cast<std::size_t>(c_count) + static_cast<std::size_t>(c)];
}

inline void decode_image(const std::filesystem::path& path,
                         const data::image_folder_options& expected, bool strict_channels,
                         const std::string& size_reference, const std::string& channel_reference,
                         std::uint8_t* destination) {
    decode_image_bytes(read_whole_file(path), path.string(), expected, strict_channels,
                       size_reference, channel_reference, destination);
}

}  // namespace bpr::detail

namespace bpr::data {

// Decodes one encoded PNG/JPEG/... image held in memory (`name` labels messages) into
// [1, C, H, W] bytes; `channels` 0 keeps the stored count, 1 to 4 converts. At most
// `max_pixels` width x height pixels are accepted, so a forged header cannot drive a
// large allocation. Throws bpr::error naming `name` and stb_image's reason otherwise.
inline tensor<std::uint8_t> decode_image(std::span<const unsigned char> bytes,
                                         const std::string& name, int channels = 0,
                                         index_t max_pixels = index_t{1} << 26) {
    BPR_REQUIRE(channels >= 0 && channels <= 4, name, ": requested channels ", channels,
                ", expected 0 (as stored) to 4");
    BPR_REQUIRE(!bytes.empty(), name, ": the image file is empty");
    BPR_REQUIRE(bytes.size() <= (std::size_t{1} << 30), name, ": image file of ", bytes.size(),
                " bytes is larger than 1 GiB");
    detail::require_png_or_jpeg(bytes, name);
    int width = 0, height = 0, stored = 0;
    if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height,
                               &stored))
        detail::fail(name, ": cannot read the image: ", detail::stbi_reason());
    BPR_REQUIRE(index_t{width} * height <= max_pixels, name, ": image header says ", width, "x",
                height, " pixels, more than the limit of ", max_pixels);
    const image_folder_options expected{channels > 0 ? channels : stored, height, width};
    tensor<std::uint8_t> image({1, expected.channels, height, width});
    detail::decode_image_bytes(bytes, name, expected, channels == 0, "its header", "its header",
                               image.data());
    return image;
}

// The labelled images of `root/<class>/<image>`: classes are the sub-folders sorted by
// name (label = position), images the .png/.jpg/.jpeg files of each (case-insensitive
// extension, sorted by name); hidden entries and other files are ignored.
// Guarantees: bpr::error naming the folder or file for a missing root, no class
// folders, a class folder without images, an empty, unreadable or corrupt image (with
// stb_image's reason), or an image whose size or channel count differs from `options`
// (or from the first image). Decoding runs in parallel with OpenMP; the result and
// the error reported (the first bad file in sorted order) do not depend on threads.
inline dataset load_image_folder(const std::filesystem::path& root,
                                 image_folder_options options = {}) {
    namespace fs = std::filesystem;
    std::error_code code;
    BPR_REQUIRE(fs::exists(root, code), root.string(), ": image folder does not exist");
    BPR_REQUIRE(fs::is_directory(root, code), root.string(), ": image folder is not a directory");
    BPR_REQUIRE(options.channels >= 0 && options.channels <= 4, root.string(),
                ": requested channels ", options.channels, ", expected 0 (as stored) to 4");
    BPR_REQUIRE(options.height >= 0 && options.width >= 0, root.string(), ": requested size ",
                options.width, "x", options.height, " is negative");
    BPR_REQUIRE(index_t{options.width} * options.height <= options.max_pixels, root.string(),
                ": requested size ", options.width, "x", options.height,
                " is more than the limit of ", options.max_pixels, " pixels");

    const std::vector<fs::path> class_dirs = detail::list_sorted(root, true);
    BPR_REQUIRE(!class_dirs.empty(), root.string(),
                ": image folder has no class sub-folders (expected root/<class>/*.png|jpg)");
    BPR_REQUIRE(class_dirs.size() <= 65536, root.string(), ": ", class_dirs.size(),
                " class folders is more than 65,536");

    dataset result;
    result.source = root.string();
    result.num_classes = static_cast<int>(class_dirs.size());
    std::vector<fs::path> files;
    for (std::size_t label = 0; label < class_dirs.size(); ++label) {
        const std::vector<fs::path> class_files = detail::list_sorted(class_dirs[label], false);
        BPR_REQUIRE(!class_files.empty(), class_dirs[label].string(),
                    ": class folder holds no .png, .jpg or .jpeg images");
        files.insert(files.end(), class_files.begin(), class_files.end());
        result.labels.insert(result.labels.end(), class_files.size(), static_cast<int>(label));
        result.class_names.push_back(class_dirs[label].filename().string());
    }

    // The first image is decoded alone: its size, proven by decoding, sizes the tensor.
    const bool strict_channels = options.channels == 0;
    image_folder_options expected = options;
    const std::string first_reference = "as the first image " + files.front().string();
    const std::string size_reference =
        options.width > 0 && options.height > 0 ? "requested" : first_reference;
    {
        const std::vector<unsigned char> bytes = detail::read_whole_file(files.front());
        detail::require_png_or_jpeg(bytes, files.front().string());
        int width = 0, height = 0, channels = 0;
        if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height,
                                   &channels))
            detail::fail(files.front().string(),
                         ": cannot read the image: ", detail::stbi_reason());
        BPR_REQUIRE(index_t{width} * height <= options.max_pixels, files.front().string(),
                    ": image header says ", width, "x", height, " pixels, more than the limit of ",
                    options.max_pixels, " (image_folder_options::max_pixels)");
        if (expected.width == 0) expected.width = width;
        if (expected.height == 0) expected.height = height;
        if (expected.channels == 0) expected.channels = channels;
    }
    const index_t count = static_cast<index_t>(files.size());
    const index_t image_bytes = index_t{expected.channels} * expected.height * expected.width;
    std::vector<std::uint8_t> first(static_cast<std::size_t>(image_bytes));
    detail::decode_image(files.front(), expected, strict_channels, size_reference, first_reference,
                         first.data());

    try {
        result.images.resize({count, expected.channels, expected.height, expected.width});
    } catch (const std::bad_alloc&) {
        detail::fail(root.string(), ": cannot allocate ", count, " images of ", expected.channels,
                     "x", expected.height, "x", expected.width, " bytes (size of ",
                     files.front().string(), ")");
    }
    std::copy(first.begin(), first.end(), result.images.data());
    std::vector<std::string> errors(files.size());
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 32)
#endif
    for (index_t i = 1; i < count; ++i) {
        try {
            detail::decode_image(files[static_cast<std::size_t>(i)], expected, strict_channels,
                                 size_reference, first_reference,
                                 result.images.data() + i * image_bytes);
        } catch (const std::exception& failure) {
            errors[static_cast<std::size_t>(i)] = failure.what();
        }
    }
    for (const std::string& message : errors)
        if (!message.empty()) throw error(message);
    return result;
}

}  // namespace bpr::data
