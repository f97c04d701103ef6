#pragma once
// Small data files written by the data tests into a private temporary folder.

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif

namespace bpr_test {

using bytes = std::vector<std::uint8_t>;

// A fresh folder under the system temp dir, removed with its contents at scope exit.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("bpr_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code code;
        std::filesystem::remove_all(path, code);
    }
    std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

inline void write_file(const std::filesystem::path& path, const bytes& data) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream stream(path, std::ios::binary);
    stream.write(reinterpret_cast<const char*>(data.data()),
                 static_cast<std::streamsize>(data.size()));
}

inline void write_gz(const std::filesystem::path& path, const bytes& data) {
    std::filesystem::create_directories(path.parent_path());
    gzFile file = gzopen(path.string().c_str(), "wb");
    if (!data.empty()) gzwrite(file, data.data(), static_cast<unsigned>(data.size()));
    gzclose(file);
}

inline bytes read_file(const std::filesystem::path& path) {
    std::ifstream stream(path, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

inline void put_u32(bytes& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<std::uint8_t>(value >> shift));
}

// Pixel value of image i at (y, x) in the generated files: varied and predictable.
inline std::uint8_t pixel(int i, int y, int x) {
    return static_cast<std::uint8_t>((i * 31 + y * 7 + x * 3) % 256);
}

inline bytes idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
    bytes out;
    put_u32(out, 0x00000803);
    put_u32(out, count);
    put_u32(out, rows);
    put_u32(out, cols);
    for (std::uint32_t i = 0; i < count; ++i)
        for (std::uint32_t y = 0; y < rows; ++y)
            for (std::uint32_t x = 0; x < cols; ++x)
                out.push_back(pixel(static_cast<int>(i), static_cast<int>(y), static_cast<int>(x)));
    return out;
}

inline bytes idx_labels(const std::vector<int>& labels) {
    bytes out;
    put_u32(out, 0x00000801);
    put_u32(out, static_cast<std::uint32_t>(labels.size()));
    for (int label : labels)
        out.push_back(static_cast<std::uint8_t>(label));
    return out;
}

// One CIFAR-10 record: the label byte, then 3x32x32 pixels with channel c of image i
// at (y, x) equal to pixel(i + c, y, x).
inline void append_cifar_record(bytes& out, int label, int i) {
    out.push_back(static_cast<std::uint8_t>(label));
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x)
                out.push_back(pixel(i + c, y, x));
}

// A PNG of width x height with `channels` interleaved channels; channel c at (y, x)
// is pixel(seed + c, y, x).
inline void write_png(const std::filesystem::path& path, int width, int height, int channels,
                      int seed) {
    std::filesystem::create_directories(path.parent_path());
    bytes data;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < channels; ++c)
                data.push_back(pixel(seed + c, y, x));
    stbi_write_png(path.string().c_str(), width, height, channels, data.data(), width * channels);
}

}  // namespace bpr_test
