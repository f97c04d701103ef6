#pragma once
// bpr::trajectory: every step of a prune-regrow run, written as CSV, JSON and an SVG
// plot of accuracy against sparsity.

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"
#include "bpr/io/atomic_file.hpp"
#include "bpr/io/json.hpp"
#include "bpr/report/svg.hpp"

namespace bpr {

// Which part of a run a step belongs to: the dense reference, a pruning round, or a
// regrowth step.
enum class step_phase { dense, prune, regrow };

inline std::string_view phase_name(step_phase p) {
    switch (p) {
        case step_phase::dense:
            return "dense";
        case step_phase::prune:
            return "prune";
        case step_phase::regrow:
            return "regrow";
    }
    return "?";
}

// One recorded step. Accuracies are fractions in [0, 1]; NaN means "not measured".
// `seconds` is the wall time of the step (pruning or regrowth plus its fine-tuning).
struct trajectory_point {
    step_phase phase = step_phase::dense;
    std::size_t step = 0;
    double sparsity = 0;
    index_t nonzeros = 0;
    index_t bytes = 0;
    double val_accuracy = std::nan("");
    double test_accuracy = std::nan("");
    double loss = std::nan("");
    double seconds = 0;
};

// What it represents: the ordered steps of one run, with the storage format their
// byte counts are in. Guarantees: the CSV, JSON and SVG hold the same points; files
// are written atomically (a reader never sees half a file).
class trajectory {
  public:
    std::string format = "csr16";
    std::vector<trajectory_point> points;

    void add(const trajectory_point& p) { points.push_back(p); }
    bool empty() const { return points.empty(); }
    const trajectory_point& back() const {
        BPR_REQUIRE(!points.empty(), "trajectory: no step recorded");
        return points.back();
    }
    // The last point of a phase, or nullptr.
    const trajectory_point* last(step_phase p) const {
        for (auto it = points.rbegin(); it != points.rend(); ++it)
            if (it->phase == p) return &*it;
        return nullptr;
    }

    std::string csv() const {
        std::string out =
            "phase,step,sparsity,nonzeros,bytes,val_accuracy,test_accuracy,loss,seconds\n";
        for (const auto& p : points)
            out += detail::concat(phase_name(p.phase), ",", p.step, ",", number(p.sparsity), ",",
                                  p.nonzeros, ",", p.bytes, ",", number(p.val_accuracy), ",",
                                  number(p.test_accuracy), ",", number(p.loss), ",",
                                  number(p.seconds), "\n");
        return out;
    }

    json_object json() const {
        std::vector<json_object> steps;
        for (const auto& p : points) {
            json_object o;
            o.set("phase", phase_name(p.phase))
                .set("step", static_cast<std::int64_t>(p.step))
                .set("sparsity", p.sparsity)
                .set("nonzeros", static_cast<std::int64_t>(p.nonzeros))
                .set("bytes", static_cast<std::int64_t>(p.bytes))
                .set("val_accuracy", p.val_accuracy)
                .set("test_accuracy", p.test_accuracy)
                .set("loss", p.loss)
                .set("seconds", p.seconds);
            steps.push_back(o);
        }
        json_object root;
        root.set("format", format).set("steps", steps);
        return root;
    }

    // Accuracy (%) against sparsity (%) in the style of the paper's Fig. 2: the dense
    // model as a reference point, the pruning path and the regrowth path (which starts
    // at the last pruning point) with different markers. Test accuracy where measured,
    // else validation accuracy.
    svg_plot plot(std::string title = "accuracy vs sparsity") const {
        svg_plot plot;
        plot.title = std::move(title);
        plot.x_label = "sparsity (%)";
        plot.y_label = measured_test() ? "test accuracy (%)" : "validation accuracy (%)";
        svg_series dense{"dense", {}, svg_marker::diamond, "#222222", false};
        svg_series prune{"pruning", {}, svg_marker::circle, "#1f77b4", true};
        svg_series regrow{"regrowth", {}, svg_marker::triangle, "#d62728", true};
        const trajectory_point* last_prune = nullptr;
        for (const auto& p : points) {
            const std::pair<double, double> xy{100 * p.sparsity, 100 * accuracy(p)};
            switch (p.phase) {
                case step_phase::dense:
                    dense.points.push_back(xy);
                    break;
                case step_phase::prune:
                    prune.points.push_back(xy);
                    last_prune = &p;
                    break;
                case step_phase::regrow:
                    if (regrow.points.empty() && last_prune != nullptr)
                        regrow.points.push_back(
                            {100 * last_prune->sparsity, 100 * accuracy(*last_prune)});
                    regrow.points.push_back(xy);
                    break;
            }
        }
        if (!dense.points.empty()) plot.add(dense);
        if (!prune.points.empty()) plot.add(prune);
        if (!regrow.points.empty()) plot.add(regrow);
        return plot;
    }

    void write_csv(const std::filesystem::path& path) const { write_file_atomically(path, csv()); }
    void write_json(const std::filesystem::path& path) const {
        write_file_atomically(path, json().str() + "\n");
    }
    void write_svg(const std::filesystem::path& path,
                   std::string title = "accuracy vs sparsity") const {
        plot(std::move(title)).write(path);
    }

    // A fixed-width table for terminals.
    std::string table() const {
        std::string out =
            "phase   step  sparsity   nonzeros      bytes   val_acc  test_acc   seconds\n";
        for (const auto& p : points) {
            char line[160];
            std::snprintf(line, sizeof line, "%-7s %4zu  %7.3f%%  %9lld  %9lld  %7s  %8s  %8.1f\n",
                          std::string(phase_name(p.phase)).c_str(), p.step, 100 * p.sparsity,
                          static_cast<long long>(p.nonzeros), static_cast<long long>(p.bytes),
                          percent(p.val_accuracy).c_str(), percent(p.test_accuracy).c_str(),
                          p.seconds);
            out += line;
        }
        return out;
    }

  private:
    bool measured_test() const {
        for (const auto& p : points)
            if (std::isfinite(p.test_accuracy)) return true;
        return false;
    }
    double accuracy(const trajectory_point& p) const {
        return measured_test() ? p.test_accuracy : p.val_accuracy;
    }
    static std::string number(double v) {
        if (!std::isfinite(v)) return "";
        char text[32];
        std::snprintf(text, sizeof text, "%.10g", v);
        return text;
    }
    static std::string percent(double v) {
        if (!std::isfinite(v)) return "-";
        char text[32];
        std::snprintf(text, sizeof text, "%.2f%%", 100 * v);
        return text;
    }
};

}  // namespace bpr
