// Encoded images: bpr::data::decode_image from memory with each channel request, or
// (byte 0 bit 3) through load_image_folder on a folder holding the input twice (the
// first image sizes the dataset, the second is checked against it).
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include "bpr/data/image_folder.hpp"
#include "fuzz_support.hpp"

namespace {

// Fuzzing limit: 256x256 images keep each execution fast (a forged header up to the
// limit makes stb_image allocate and fill the whole image); the limit check itself is
// the same code at any value.
constexpr bpr::index_t fuzz_max_pixels = bpr::index_t{1} << 16;

const std::filesystem::path& folder() {
    static const std::filesystem::path root = [] {
        const std::filesystem::path base = std::filesystem::exists("/dev/shm")
                                               ? std::filesystem::path("/dev/shm")
                                               : std::filesystem::temp_directory_path();
        const auto path = base / ("bpr_image_fuzz_" + std::to_string(getpid()));
        std::filesystem::create_directories(path / "class");
        return path;
    }();
    return root;
}

void write(const std::filesystem::path& path, std::span<const unsigned char> bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    const int channels = (mode & 7) % 5;
    const std::span<const unsigned char> bytes(data + 1, size - 1);
    bpr_fuzz::expect_parse_or_error([&] {
        if (mode & 8) {
            write(folder() / "class" / "a.png", bytes);
            write(folder() / "class" / "b.jpg", bytes);
            bpr::data::image_folder_options options;
            options.channels = channels;
            options.max_pixels = fuzz_max_pixels;
            bpr::data::load_image_folder(folder(), options);
        } else {
            bpr::data::decode_image(bytes, "fuzz.png", channels, fuzz_max_pixels);
        }
    });
    return 0;
}
