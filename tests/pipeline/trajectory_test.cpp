#include "bpr/pipeline/trajectory.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace bpr;

namespace {
trajectory sample() {
    trajectory t;
    t.add({step_phase::dense, 0, 0.0, 1000, 4000, 0.91, 0.90, 0.3, 0.0});
    t.add({step_phase::prune, 1, 0.99, 10, 300, 0.5, 0.49, 1.2, 2.0});
    t.add({step_phase::regrow, 1, 0.985, 15, 330, 0.7, 0.69, 0.8, 1.5});
    t.add({step_phase::regrow, 2, 0.98, 20, 360, 0.8, std::nan(""), 0.6, 1.5});
    return t;
}
std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}
}  // namespace

TEST_CASE("trajectory CSV and JSON hold every step", "[pipeline][trajectory]") {
    const trajectory t = sample();
    const std::string csv = t.csv();
    CHECK(csv.rfind("phase,step,sparsity,nonzeros,bytes,val_accuracy,test_accuracy,loss,seconds\n",
                    0) == 0);
    CHECK(csv.find("prune,1,0.99,10,300,0.5,0.49,1.2,2\n") != std::string::npos);
    CHECK(csv.find("regrow,2,0.98,20,360,0.8,,0.6,1.5\n") != std::string::npos);  // no test acc
    const std::string json = t.json().str();
    CHECK(json.find("\"format\": \"csr16\"") != std::string::npos);
    CHECK(json.find("\"phase\": \"regrow\"") != std::string::npos);
    CHECK(json.find("\"test_accuracy\": null") != std::string::npos);
    for (const char* key :
         {"step", "sparsity", "nonzeros", "bytes", "val_accuracy", "loss", "seconds"})
        CHECK(json.find("\"" + std::string(key) + "\": ") != std::string::npos);
    CHECK(json.find("\"nonzeros\": 20") != std::string::npos);
    CHECK(json.find("\"bytes\": 360") != std::string::npos);
    CHECK(t.last(step_phase::prune)->nonzeros == 10);
    CHECK(t.last(step_phase::regrow)->step == 2);
    CHECK(t.table().find("99.000%") != std::string::npos);
}

TEST_CASE("trajectory plot: dense point, pruning and regrowth paths with their own markers",
          "[pipeline][trajectory]") {
    const svg_plot plot = sample().plot("LeNet-5");
    REQUIRE(plot.series().size() == 3);
    CHECK(plot.series()[0].name == "dense");
    CHECK(plot.series()[1].marker != plot.series()[2].marker);
    // The regrowth path starts at the last pruning point.
    CHECK(plot.series()[2].points.front().first == Approx(99.0));
    CHECK(plot.series()[2].points.size() == 3);
    const std::string svg = plot.str();
    CHECK(svg.rfind("<svg", 0) == 0);
    CHECK(svg.find("</svg>") != std::string::npos);
    CHECK(svg.find("<polygon") != std::string::npos);  // triangles
    CHECK(svg.find("LeNet-5") != std::string::npos);

    const auto dir = std::filesystem::temp_directory_path() / "bpr_trajectory_test";
    std::filesystem::create_directories(dir);
    const trajectory t = sample();
    t.write_csv(dir / "t.csv");
    t.write_json(dir / "t.json");
    t.write_svg(dir / "t.svg");
    CHECK(slurp(dir / "t.csv") == t.csv());
    CHECK(slurp(dir / "t.svg") == t.plot().str());
    std::filesystem::remove_all(dir);
}
