#pragma once
// bpr::detail::data_file: sequential reading of a data file, gzip-compressed or plain,
// with every failure reported as a bpr::error that names the file.

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"

namespace bpr::detail {

// "7,840,016": large counts in messages are easier to compare with separators.
inline std::string with_commas(std::uint64_t value) {
    std::string digits = std::to_string(value);
    std::string text;
    const int count = static_cast<int>(digits.size());
    for (int i = 0; i < count; ++i) {
        if (i > 0 && (count - i) % 3 == 0) text += ',';
        text += digits[static_cast<std::size_t>(i)];
    }
    return text;
}

// Throws unless `path` names an existing regular file; `what` says what it should be.
inline void require_regular_file(const std::filesystem::path& path, const char* what) {
    std::error_code code;
    const auto status = std::filesystem::status(path, code);
    BPR_REQUIRE(std::filesystem::exists(status), path.string(), ": ", what, " does not exist");
    BPR_REQUIRE(std::filesystem::is_regular_file(status), path.string(), ": ", what,
                " is not a regular file");
}

// What it represents: one open data file read front to back. zlib decompresses gzip
// streams and passes any other file through unchanged, so "x.gz" and "x" read alike.
// Guarantees: a missing file, a corrupt or truncated gzip stream, or an I/O error
// throws bpr::error naming the file; nothing is allocated from the file's contents.
class data_file {
  public:
    explicit data_file(const std::filesystem::path& path) : name_(path.string()) {
        require_regular_file(path, "data file");
        std::error_code code;
        const std::uintmax_t size = std::filesystem::file_size(path, code);
        file_ = gzopen(name_.c_str(), "rb");
        BPR_REQUIRE(file_ != nullptr, name_, ": cannot open the file for reading");
        // 256 KiB reads for data sets; a small file gets a small buffer (zlib allocates
        // three times this size per open file).
        const std::uintmax_t buffer =
            code ? (1u << 18) : std::clamp<std::uintmax_t>(size, 1u << 13, 1u << 18);
        gzbuffer(file_, static_cast<unsigned>(buffer));
    }
    data_file(const data_file&) = delete;
    data_file& operator=(const data_file&) = delete;
    ~data_file() {
        if (file_ != nullptr) gzclose(file_);
    }

    const std::string& name() const { return name_; }

    // Reads up to `count` bytes into `destination`; returns how many arrived, fewer
    // only at the end of the data.
    std::size_t read(void* destination, std::size_t count) {
        auto* bytes = static_cast<unsigned char*>(destination);
        std::size_t done = 0;
        while (done < count) {
            const auto chunk = static_cast<unsigned>(std::min<std::size_t>(count - done, 1u << 30));
            const int got = gzread(file_, bytes + done, chunk);
            if (got < 0) raise_zlib_error();
            done += static_cast<std::size_t>(got);
            bytes_read_ += static_cast<std::uint64_t>(got);
            if (static_cast<unsigned>(got) < chunk) {
                // A short read is the end of the data, or a truncated gzip stream.
                raise_if_zlib_error();
                break;
            }
        }
        return done;
    }

    // Reads up to `count` bytes into a vector that grows only as data arrives, so a
    // header that claims more than the file holds cannot trigger a large allocation.
    std::vector<unsigned char> read_up_to(std::uint64_t count) {
        std::vector<unsigned char> buffer;
        std::uint64_t step = 1u << 16;
        while (buffer.size() < count) {
            const auto want =
                static_cast<std::size_t>(std::min<std::uint64_t>(step, count - buffer.size()));
            const std::size_t old_size = buffer.size();
            buffer.resize(old_size + want);
            const std::size_t got = read(buffer.data() + old_size, want);
            buffer.resize(old_size + got);
            if (got < want) break;
            step = std::max<std::uint64_t>(step, buffer.size());  // geometric growth
        }
        return buffer;
    }

    // Consumes the rest of the data and returns its length in bytes (for messages
    // such as "the file holds N bytes").
    std::uint64_t skip_rest() {
        std::vector<unsigned char> scratch(1u << 16);
        std::uint64_t total = 0;
        while (true) {
            const std::size_t got = read(scratch.data(), scratch.size());
            total += got;
            if (got < scratch.size()) return total;
        }
    }

    // Bytes delivered so far (after decompression).
    std::uint64_t bytes_read() const { return bytes_read_; }

    // "decompressed" for gzip files, empty otherwise: qualifies sizes in messages.
    const char* size_qualifier() const { return gzdirect(file_) ? "" : " (decompressed)"; }

  private:
    [[noreturn]] void raise_zlib_error() const {
        int code = Z_OK;
        const char* reason_text = gzerror(file_, &code);
        std::string reason = reason_text != nullptr ? reason_text : "unknown zlib error";
        // zlib prefixes its message with the path, which ours already starts with.
        if (reason.rfind(name_ + ": ", 0) == 0) reason.erase(0, name_.size() + 2);
        if (code == Z_BUF_ERROR) reason = "the gzip stream is truncated (unexpected end of file)";
        fail(name_, ": cannot read the data (", with_commas(bytes_read_),
             " bytes decompressed so far): ", reason);
    }
    void raise_if_zlib_error() const {
        int code = Z_OK;
        gzerror(file_, &code);
        if (code != Z_OK) raise_zlib_error();
    }

    std::string name_;
    gzFile file_ = nullptr;
    std::uint64_t bytes_read_ = 0;
};

// What it represents: bytes already in memory read through data_file's interface, so
// the same parsers serve files and in-memory buffers (fuzzers, archives). No gzip.
class memory_source {
  public:
    memory_source(std::span<const unsigned char> bytes, std::string name)
        : bytes_(bytes), name_(std::move(name)) {}

    const std::string& name() const { return name_; }
    std::size_t read(void* destination, std::size_t count) {
        const std::size_t got = std::min(count, bytes_.size() - position_);
        if (got > 0) std::memcpy(destination, bytes_.data() + position_, got);
        position_ += got;
        return got;
    }
    std::vector<unsigned char> read_up_to(std::uint64_t count) {
        const auto got =
            static_cast<std::size_t>(std::min<std::uint64_t>(count, bytes_.size() - position_));
        std::vector<unsigned char> result(
            bytes_.begin() + static_cast<std::ptrdiff_t>(position_),
            bytes_.begin() + static_cast<std::ptrdiff_t>(position_ + got));
        position_ += got;
        return result;
    }
    std::uint64_t skip_rest() {
        const std::size_t rest = bytes_.size() - position_;
        position_ = bytes_.size();
        return rest;
    }
    std::uint64_t bytes_read() const { return position_; }
    const char* size_qualifier() const { return ""; }

  private:
    std::span<const unsigned char> bytes_;
    std::string name_;
    std::size_t position_ = 0;
};

}  // namespace bpr::detail
