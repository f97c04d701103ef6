// bpr::svg_plot's hand-placed x ticks (bpr-prune --sweep labels a log-density axis
// in sparsity percent with them).
#include <catch2/catch.hpp>
#include <string>

#include "bpr/report/svg.hpp"

TEST_CASE("svg plot draws hand-placed x ticks instead of automatic ones", "[report][svg]") {
    bpr::svg_plot plot;
    plot.x_min = 0;
    plot.x_max = 3;
    plot.add({"s", {{0, 50}, {2, 80}}, bpr::svg_marker::circle, "#000", true});
    plot.x_ticks = {{1.0, "90%"}, {2.0, "99% & up"}, {7.0, "outside"}};
    const std::string svg = plot.str();
    CHECK(svg.find(">90%<") != std::string::npos);
    CHECK(svg.find(">99% &amp; up<") != std::string::npos);  // labels are escaped
    CHECK(svg.find(">outside<") == std::string::npos);       // off-axis ticks are dropped
    CHECK(svg.find(">0.5<") == std::string::npos);           // no automatic ticks
}
