#pragma once
// Shared pieces of the fuzz targets: the verdict on an input, and an in-memory file
// for parsers whose public entry point takes a path.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "bpr/core/error.hpp"

namespace bpr_fuzz {

// Runs `parse`: bpr::error is a correct rejection; any other exception is a finding
// (abort, so libFuzzer records the input). Crashes and sanitizer reports abort anyway.
template <typename Parse>
void expect_parse_or_error(Parse&& parse) {
    try {
        parse();
    } catch (const bpr::error&) {
    } catch (const std::exception& other) {
        std::fprintf(stderr, "non-bpr exception: %s\n", other.what());
        std::abort();
    }
}

// What it represents: a file that lives in memory (memfd), reachable by the path
// /proc/self/fd/N, rewritten for each input. Path-based parsers read it exactly as
// they read a disk file (including gzip detection), without disk traffic.
class memory_file {
  public:
    memory_file() : fd_(memfd_create("bpr_fuzz", 0)) {
        if (fd_ < 0) {
            std::perror("memfd_create");
            std::abort();
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    memory_file(const memory_file&) = delete;
    memory_file& operator=(const memory_file&) = delete;
    ~memory_file() { close(fd_); }

    const std::string& set(const std::uint8_t* data, std::size_t size) {
        if (ftruncate(fd_, 0) != 0 || (size > 0 && pwrite(fd_, data, size, 0) != ssize_t(size))) {
            std::perror("memory_file");
            std::abort();
        }
        return path_;
    }

  private:
    int fd_;
    std::string path_;
};

}  // namespace bpr_fuzz
