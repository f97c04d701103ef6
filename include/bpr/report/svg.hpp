#pragma once
// bpr::svg_plot: a small SVG line/scatter plot writer (no dependencies).

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/io/atomic_file.hpp"

namespace bpr {

// How a series draws its points.
enum class svg_marker { circle, square, triangle, diamond, cross, none };

// One named series of (x, y) points, drawn with a marker and optionally joined by a
// line in the given order.
struct svg_series {
    std::string name;
    std::vector<std::pair<double, double>> points;
    svg_marker marker = svg_marker::circle;
    std::string color = "#1f77b4";
    bool line = true;
};

// What it represents: a 2-D plot with axes, ticks, a legend and any number of
// series. Requires: finite coordinates (non-finite points are skipped, so a missing
// measurement leaves a gap instead of breaking the file). Guarantees: a standalone
// SVG 1.1 document; axis ranges cover every drawn point (explicit ranges, if set,
// are used as given); text is XML-escaped.
class svg_plot {
  public:
    std::string title;
    std::string x_label;
    std::string y_label;
    int width = 720;
    int height = 480;
    // Explicit axis ranges; NaN means "fit the data".
    double x_min = std::numeric_limits<double>::quiet_NaN();
    double x_max = std::numeric_limits<double>::quiet_NaN();
    double y_min = std::numeric_limits<double>::quiet_NaN();
    double y_max = std::numeric_limits<double>::quiet_NaN();
    // Hand-placed x ticks (position, label), e.g. to label a transformed axis in the
    // user's units; empty means automatic ticks.
    std::vector<std::pair<double, std::string>> x_ticks;

    svg_plot& add(svg_series series) {
        series_.push_back(std::move(series));
        return *this;
    }
    const std::vector<svg_series>& series() const { return series_; }

    std::string str() const {
        double x0 = x_min, x1 = x_max, y0 = y_min, y1 = y_max;
        fit_range(x0, x1, true);
        fit_range(y0, y1, false);
        const double left = 70, right = 170, top = 40, bottom = 55;
        const double pw = width - left - right, ph = height - top - bottom;
        auto sx = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
        auto sy = [&](double y) { return top + ph - (y - y0) / (y1 - y0) * ph; };

        std::string out;
        out += concat_text("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", width,
                           "\" height=\"", height, "\" viewBox=\"0 0 ", width, " ", height,
                           "\" font-family=\"sans-serif\" font-size=\"12\">\n");
        out +=
            concat_text("<rect width=\"", width, "\" height=\"", height, "\" fill=\"white\"/>\n");
        out += concat_text("<text x=\"", left + pw / 2, "\" y=\"22\" text-anchor=\"middle\" ",
                           "font-size=\"15\">", escape(title), "</text>\n");
        // Grid and ticks.
        std::vector<std::pair<double, std::string>> x_marks = x_ticks;
        if (x_marks.empty())
            for (const double t : ticks(x0, x1))
                x_marks.emplace_back(t, tick_label(t, x0, x1));
        for (const auto& [t, label] : x_marks) {
            if (!(t >= x0 && t <= x1)) continue;
            out += concat_text("<line x1=\"", num(sx(t)), "\" y1=\"", top, "\" x2=\"", num(sx(t)),
                               "\" y2=\"", top + ph, "\" stroke=\"#e0e0e0\"/>\n");
            out += concat_text("<text x=\"", num(sx(t)), "\" y=\"", top + ph + 16,
                               "\" text-anchor=\"middle\">", escape(label), "</text>\n");
        }
        for (const double t : ticks(y0, y1)) {
            out += concat_text("<line x1=\"", left, "\" y1=\"", num(sy(t)), "\" x2=\"", left + pw,
                               "\" y2=\"", num(sy(t)), "\" stroke=\"#e0e0e0\"/>\n");
            out += concat_text("<text x=\"", left - 6, "\" y=\"", num(sy(t) + 4),
                               "\" text-anchor=\"end\">", tick_label(t, y0, y1), "</text>\n");
        }
        out += concat_text("<rect x=\"", left, "\" y=\"", top, "\" width=\"", pw, "\" height=\"",
                           ph, "\" fill=\"none\" stroke=\"black\"/>\n");
        out += concat_text("<text x=\"", left + pw / 2, "\" y=\"", height - 12,
                           "\" text-anchor=\"middle\">", escape(x_label), "</text>\n");
        out += concat_text("<text transform=\"translate(18 ", top + ph / 2,
                           ") rotate(-90)\" text-anchor=\"middle\">", escape(y_label), "</text>\n");
        // Series.
        for (std::size_t s = 0; s < series_.size(); ++s) {
            const svg_series& series = series_[s];
            std::string path;
            for (const auto& [x, y] : series.points) {
                if (!std::isfinite(x) || !std::isfinite(y)) continue;
                path += concat_text(path.empty() ? "M" : " L", num(sx(x)), " ", num(sy(y)));
            }
            if (series.line && !path.empty())
                out += concat_text("<path d=\"", path, "\" fill=\"none\" stroke=\"",
                                   escape(series.color), "\" stroke-width=\"1.5\"/>\n");
            for (const auto& [x, y] : series.points) {
                if (!std::isfinite(x) || !std::isfinite(y)) continue;
                out += marker(series.marker, sx(x), sy(y), series.color);
            }
            const double ly = top + 10 + 20 * double(s);
            const double lx = left + pw + 15;
            if (series.line)
                out += concat_text("<line x1=\"", lx, "\" y1=\"", ly, "\" x2=\"", lx + 24,
                                   "\" y2=\"", ly, "\" stroke=\"", escape(series.color),
                                   "\" stroke-width=\"1.5\"/>\n");
            out += marker(series.marker, lx + 12, ly, series.color);
            out += concat_text("<text x=\"", lx + 30, "\" y=\"", ly + 4, "\">", escape(series.name),
                               "</text>\n");
        }
        out += "</svg>\n";
        return out;
    }

    // Writes str() to `path` atomically.
    void write(const std::filesystem::path& path) const { write_file_atomically(path, str()); }

    static std::string escape(std::string_view text) {
        std::string out;
        for (const char c : text) {
            switch (c) {
                case '<':
                    out += "&lt;";
                    break;
                case '>':
                    out += "&gt;";
                    break;
                case '&':
                    out += "&amp;";
                    break;
                case '"':
                    out += "&quot;";
                    break;
                default:
                    out += c;
            }
        }
        return out;
    }

  private:
    template <typename... Parts>
    static std::string concat_text(const Parts&... parts) {
        std::string out;
        ((out += piece(parts)), ...);
        return out;
    }
    static std::string piece(const std::string& s) { return s; }
    static std::string piece(const char* s) { return s; }
    static std::string piece(std::string_view s) { return std::string(s); }
    static std::string piece(int v) { return std::to_string(v); }
    static std::string piece(double v) { return num(v); }

    static std::string num(double v) {
        char text[32];
        std::snprintf(text, sizeof text, "%.2f", v);
        return text;
    }

    void fit_range(double& low, double& high, bool x) const {
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (const auto& s : series_)
            for (const auto& [px, py] : s.points) {
                const double v = x ? px : py;
                if (!std::isfinite(px) || !std::isfinite(py)) continue;
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
        if (!std::isfinite(lo)) lo = 0, hi = 1;
        const double pad = hi > lo ? 0.05 * (hi - lo) : 0.5 * std::max(1e-9, std::abs(lo) + 1e-3);
        if (std::isnan(low)) low = lo - pad;
        if (std::isnan(high)) high = hi + pad;
        BPR_REQUIRE(high > low, "svg_plot: ", x ? "x" : "y", " range [", low, ", ", high,
                    "] is empty");
    }

    static double tick_step(double low, double high) {
        const double raw = (high - low) / 6.0;
        const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
        for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0})
            if (m * magnitude >= raw) return m * magnitude;
        return 10 * magnitude;
    }
    static std::vector<double> ticks(double low, double high) {
        const double step = tick_step(low, high);
        std::vector<double> out;
        for (double t = std::ceil(low / step - 1e-9) * step; t <= high + 1e-9 * step; t += step)
            out.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
        return out;
    }
    static std::string tick_label(double t, double low, double high) {
        const double step = tick_step(low, high);
        const double magnitude = std::floor(std::log10(step) + 1e-9);
        int digits = std::max(0, -static_cast<int>(magnitude));
        if (std::abs(step / std::pow(10.0, magnitude) - 2.5) < 1e-9) ++digits;  // 0.25, 2.5
        char text[32];
        std::snprintf(text, sizeof text, "%.*f", digits, t);
        return text;
    }

    static std::string marker(svg_marker kind, double x, double y, const std::string& color) {
        const std::string fill = escape(color);
        const double r = 4.5;
        switch (kind) {
            case svg_marker::circle:
                return concat_text("<circle cx=\"", x, "\" cy=\"", y, "\" r=\"", r, "\" fill=\"",
                                   fill, "\"/>\n");
            case svg_marker::square:
                return concat_text("<rect x=\"", x - r, "\" y=\"", y - r, "\" width=\"", 2 * r,
                                   "\" height=\"", 2 * r, "\" fill=\"", fill, "\"/>\n");
            case svg_marker::triangle:
                return concat_text("<polygon points=\"", x, ",", y - r * 1.2, " ", x - r, ",",
                                   y + r * 0.8, " ", x + r, ",", y + r * 0.8, "\" fill=\"", fill,
                                   "\"/>\n");
            case svg_marker::diamond:
                return concat_text("<polygon points=\"", x, ",", y - r * 1.3, " ", x + r, ",", y,
                                   " ", x, ",", y + r * 1.3, " ", x - r, ",", y, "\" fill=\"", fill,
                                   "\"/>\n");
            case svg_marker::cross:
                return concat_text("<path d=\"M", x - r, " ", y - r, " L", x + r, " ", y + r, " M",
                                   x - r, " ", y + r, " L", x + r, " ", y - r, "\" stroke=\"", fill,
                                   "\" stroke-width=\"2\"/>\n");
            case svg_marker::none:
                return {};
        }
        return {};
    }

    std::vector<svg_series> series_;
};

}  // namespace bpr
