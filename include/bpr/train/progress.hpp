#pragma once
// bpr::progress_line: a status line redrawn in place on a terminal, plain lines otherwise.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace bpr {

// "0:42", "12:05", "1:02:03": a duration for ETAs and summaries ("?" if unknown).
inline std::string format_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    const long total = std::lround(seconds);
    const long hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
    char text[32];
    if (hours > 0)
        std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", hours, minutes, secs);
    else
        std::snprintf(text, sizeof text, "%ld:%02ld", minutes, secs);
    return text;
}

// What it represents: the trainer's live status. On a terminal (isatty) update()
// redraws one line in place with '\r', at most every `interval` seconds so printing
// never slows training; elsewhere (a log file, a pipe) update() prints nothing and
// only finish() writes, one plain line each, so logs stay readable.
// Requires: `stream` outlives the line (nullptr disables all output).
class progress_line {
  public:
    explicit progress_line(std::FILE* stream, double interval = 0.25)
        : stream_(stream),
          interactive_(stream != nullptr && ::isatty(::fileno(stream)) == 1),
          interval_(interval) {}

    bool interactive() const { return interactive_; }

    // Redraws the live line if on a terminal and the interval has passed (or `force`).
    void update(const std::string& text, bool force = false) {
        if (!interactive_) return;
        const auto now = std::chrono::steady_clock::now();
        if (!force && drawn_ && std::chrono::duration<double>(now - last_).count() < interval_)
            return;
        last_ = now;
        drawn_ = true;
        draw(text);
        std::fflush(stream_);
    }

    // Ends the current line with `text`: replaces the live line on a terminal.
    void finish(const std::string& text) {
        if (stream_ == nullptr) return;
        if (interactive_) {
            draw(text);
            width_ = 0;
            drawn_ = false;
        } else {
            std::fputs(text.c_str(), stream_);
        }
        std::fputc('\n', stream_);
        std::fflush(stream_);
    }

  private:
    void draw(const std::string& text) {
        std::fputc('\r', stream_);
        std::fputs(text.c_str(), stream_);
        // Blank out the tail of a longer previous line.
        for (std::size_t i = text.size(); i < width_; ++i)
            std::fputc(' ', stream_);
        width_ = text.size();
    }

    std::FILE* stream_;
    bool interactive_;
    double interval_;
    bool drawn_ = false;
    std::size_t width_ = 0;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace bpr
