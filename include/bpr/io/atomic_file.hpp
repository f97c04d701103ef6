#pragma once
// Writing a file so that readers see either the old content or the complete new one.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "bpr/core/error.hpp"

namespace bpr {

namespace detail {

inline std::string errno_text() {
    return std::strerror(errno);
}

// Closes a file descriptor on scope exit unless released.
struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace detail

// What it does: writes `bytes` to `path` atomically: into a temporary file in the
// same directory (so the rename cannot cross file systems), fsync, rename over
// `path`, then fsync the directory so the rename itself is durable.
// Guarantees: on any failure `path` is untouched, the temporary file is removed and
// a bpr::error names the file, the operation and the system's reason.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
    const std::filesystem::path directory =
        path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::string temporary_name = ".";  // appended step by step: GCC 12 warns on "." + string
    temporary_name += path.filename().string();
    temporary_name += ".tmp.";
    temporary_name += std::to_string(::getpid());
    const std::filesystem::path temporary = directory / temporary_name;
    detail::fd_guard file{
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    BPR_REQUIRE(file.fd >= 0, path.string(), ": cannot create temporary file ", temporary.string(),
                ": ", detail::errno_text());
    auto fail = [&](const char* what) {
        const std::string reason = detail::errno_text();
        ::close(file.fd);
        file.fd = -1;
        ::unlink(temporary.c_str());
        detail::fail(path.string(), ": ", what, " failed: ", reason);
    };
    std::size_t written = 0;
    while (written < bytes.size()) {
        const ::ssize_t n = ::write(file.fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("write");
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(file.fd) != 0) fail("fsync");
    if (::close(file.fd) != 0) {
        file.fd = -1;
        const std::string reason = detail::errno_text();
        ::unlink(temporary.c_str());
        detail::fail(path.string(), ": close failed: ", reason);
    }
    file.fd = -1;
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const std::string reason = detail::errno_text();
        ::unlink(temporary.c_str());
        detail::fail(path.string(), ": rename from ", temporary.string(), " failed: ", reason);
    }
    // Best effort: some file systems refuse fsync on a directory; the data is safe anyway.
    detail::fd_guard dir{::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dir.fd >= 0) ::fsync(dir.fd);
}

}  // namespace bpr
