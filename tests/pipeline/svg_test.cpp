// Tests of bpr/report/svg.hpp (the plot writer the trajectory uses).
#include "bpr/report/svg.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>

using namespace bpr;

namespace {
std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}
}  // namespace

TEST_CASE("svg plot draws each series with its marker and escapes text", "[pipeline][svg]") {
    svg_plot plot;
    plot.title = "a < b & \"c\"";
    plot.x_label = "sparsity (%)";
    plot.add({"squares", {{0, 1}, {1, 2}, {2, 3}}, svg_marker::square, "#ff0000", true});
    plot.add({"diamonds", {{0.5, 2}, {std::nan(""), 1}}, svg_marker::diamond, "#00ff00", false});
    const std::string svg = plot.str();
    CHECK(svg.find("a &lt; b &amp; &quot;c&quot;") != std::string::npos);
    CHECK(svg.find("a < b") == std::string::npos);
    // 3 squares + 1 in the legend; 1 diamond (the NaN point is skipped) + 1 in the legend.
    CHECK(count(svg, "<rect x=") == 4 + 1);  // + the plot frame
    CHECK(count(svg, "<polygon") == 2);
    CHECK(count(svg, "<path d=\"M") == 1);  // only the squares are joined
    CHECK(svg.find("nan") == std::string::npos);
}

TEST_CASE("svg plot ranges fit the data or are taken as given", "[pipeline][svg]") {
    svg_plot plot;
    plot.add({"s", {{90, 50}, {99, 80}}, svg_marker::circle, "#000", true});
    const std::string fitted = plot.str();
    CHECK(fitted.find(">90<") != std::string::npos);  // a tick at 90
    plot.x_min = 0;
    plot.x_max = 100;
    const std::string fixed = plot.str();
    CHECK(fixed.find(">0<") != std::string::npos);
    CHECK(fixed.find(">100<") != std::string::npos);
    plot.x_max = -1;
    CHECK_THROWS_WITH(plot.str(), Catch::Contains("x range"));
}
