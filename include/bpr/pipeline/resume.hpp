#pragma once
// Checkpoints of a pipeline run (format version 2): the model, the optimizer, the masks,
// the pre-pruning weights w0 and the pipeline's state, in one atomically written
// file, so that a killed run resumes where its last checkpoint was.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/pipeline/pipeline.hpp"

namespace bpr {

// What a pipeline checkpoint holds besides the model and optimizer: the pipeline's
// state, the caller's counters (the positions of its seeded streams, e.g. the fine-tune
// calls and the gradient source's batches) and the caller's configuration text (its
// flags, compared on resume).
template <mask_policy G>
struct pipeline_checkpoint {
    pipeline_state<G> state;
    std::map<std::string, std::int64_t> counters;
    std::string config;
};

namespace detail::resume {

inline std::int64_t phase_code(step_phase p) {
    return static_cast<std::int64_t>(p);
}

inline step_phase phase_of(const std::string& path, std::int64_t code, const char* field) {
    BPR_REQUIRE(code >= 0 && code <= 2, path, ": section 'pipeline' field '", field, "' is ", code,
                ", expected 0 (dense), 1 (prune) or 2 (regrow)");
    return static_cast<step_phase>(code);
}

template <typename T>
std::vector<T> column(const std::vector<trajectory_point>& points, auto member) {
    std::vector<T> out;
    for (const auto& p : points)
        out.push_back(static_cast<T>(p.*member));
    return out;
}

// The "pipeline" section: position, trajectory, pruning, regrowth, counters, config.
template <mask_policy G>
checkpoint_section pipeline_section(const pipeline_state<G>& st,
                                    const std::map<std::string, std::int64_t>& counters,
                                    std::string_view config) {
    checkpoint_section s("pipeline");
    const auto& pos = st.position;
    s.add("position.phase", phase_code(pos.phase));
    s.add("position.step", static_cast<std::int64_t>(pos.step));
    s.add("position.changed", std::int64_t{pos.changed});
    s.add("position.tuned", pos.tuned);
    s.add("position.recorded", std::int64_t{pos.recorded});
    s.add("pruned_nonzeros", static_cast<std::int64_t>(st.pruned_nonzeros));

    const auto& pts = st.steps.points;
    s.add_text("trajectory.format", st.steps.format);
    std::vector<std::int64_t> phases;
    for (const auto& p : pts)
        phases.push_back(phase_code(p.phase));
    s.add("trajectory.phase", phases);
    s.add("trajectory.step", column<std::int64_t>(pts, &trajectory_point::step));
    s.add("trajectory.sparsity", column<double>(pts, &trajectory_point::sparsity));
    s.add("trajectory.nonzeros", column<std::int64_t>(pts, &trajectory_point::nonzeros));
    s.add("trajectory.bytes", column<std::int64_t>(pts, &trajectory_point::bytes));
    s.add("trajectory.val_accuracy", column<double>(pts, &trajectory_point::val_accuracy));
    s.add("trajectory.test_accuracy", column<double>(pts, &trajectory_point::test_accuracy));
    s.add("trajectory.loss", column<double>(pts, &trajectory_point::loss));
    s.add("trajectory.seconds", column<double>(pts, &trajectory_point::seconds));

    const auto& budget = st.pruning.budget;
    s.add("pruning.budget.nonzeros", static_cast<std::int64_t>(budget.nonzeros));
    s.add("pruning.budget.total", static_cast<std::int64_t>(budget.total));
    s.add("pruning.budget.floor",
          std::vector<std::int64_t>(budget.floor.begin(), budget.floor.end()));
    s.add("pruning.budget.cap", std::vector<std::int64_t>(budget.cap.begin(), budget.cap.end()));
    std::vector<std::int64_t> round, round_nonzeros;
    std::vector<double> round_target, round_sparsity;
    for (const auto& r : st.pruning.rounds) {
        round.push_back(static_cast<std::int64_t>(r.round));
        round_target.push_back(r.target_sparsity);
        round_nonzeros.push_back(r.nonzeros);
        round_sparsity.push_back(r.sparsity);
    }
    s.add("pruning.round", round);
    s.add("pruning.target_sparsity", round_target);
    s.add("pruning.nonzeros", round_nonzeros);
    s.add("pruning.sparsity", round_sparsity);

    // Regrowth reports, flattened: per step, per layer, per position.
    std::vector<std::int64_t> requested, grown, layer_count, layer_index, layer_alive, layer_grown,
        layer_dropped, position_count, positions;
    for (const auto& report : st.regrowth) {
        requested.push_back(report.requested);
        grown.push_back(report.grown);
        layer_count.push_back(static_cast<std::int64_t>(report.layers.size()));
        for (const auto& l : report.layers) {
            layer_index.push_back(static_cast<std::int64_t>(l.index));
            layer_alive.push_back(l.alive_before);
            layer_grown.push_back(l.grown);
            layer_dropped.push_back(l.dropped);
            position_count.push_back(static_cast<std::int64_t>(l.positions.size()));
            positions.insert(positions.end(), l.positions.begin(), l.positions.end());
        }
    }
    s.add("regrowth.requested", requested);
    s.add("regrowth.grown", grown);
    s.add("regrowth.layer_count", layer_count);
    s.add("regrowth.layer.index", layer_index);
    s.add("regrowth.layer.alive_before", layer_alive);
    s.add("regrowth.layer.grown", layer_grown);
    s.add("regrowth.layer.dropped", layer_dropped);
    s.add("regrowth.layer.position_count", position_count);
    s.add("regrowth.positions", positions);

    for (const auto& [name, value] : counters)
        s.add("counter." + name, value);
    s.add_text("config", config);
    return s;
}

// The "w0" section: the pre-pruning parameters and buffers, named like the model's.
// The snapshot is written through a copy of the model, the one place that knows the
// names of its tensors.
template <typename Model>
checkpoint_section w0_section(const Model& model, const dense_snapshot& w0) {
    Model copy = model;
    w0.restore(copy);
    return model_tensors_section("w0", copy);
}

// The first line where two configuration texts differ, for the resume error.
inline std::string first_difference(std::string_view stored, std::string_view wanted) {
    auto next_line = [](std::string_view& text) {
        const auto end = text.find('\n');
        const std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        return line;
    };
    while (!stored.empty() || !wanted.empty()) {
        const std::string_view a = next_line(stored), b = next_line(wanted);
        if (a != b)
            return concat("it was written with '", a.empty() ? "(nothing)" : a, "', this run has '",
                          b.empty() ? "(nothing)" : b, "'");
    }
    return "identical";
}

}  // namespace detail::resume

// What it represents: the writer of one run's checkpoint file. save(state) writes the
// model, the optimizer state, the masks, w0 and the pipeline state atomically (temp
// file, fsync, rename, fsync of the directory): after a kill at any moment the file is
// the previous checkpoint or the new one, never a mix.
// Requires: the model, optimizer and counters outlive it; `config` describes every
// setting that changes the run (flags), so a resume with other settings is refused.
template <typename Model, typename Optimizer, mask_policy G = unstructured>
class pipeline_checkpointer {
  public:
    pipeline_checkpointer(std::filesystem::path path, Model& model, Optimizer& opt,
                          std::string config)
        : path_(std::move(path)), model_(model), opt_(opt), config_(std::move(config)) {}

    // The caller's counters, read at every save (e.g. the fine-tune calls).
    std::function<std::map<std::string, std::int64_t>()> counters{};

    void save(const pipeline_state<G>& st) {
        // w0 never changes during a run: serialise it once.
        if (!w0_) w0_ = detail::resume::w0_section(model_, st.w0);
        const std::vector<checkpoint_section> extra{
            masks_section(st.masks), *w0_,
            detail::resume::pipeline_section(st, counters ? counters() : decltype(counters()){},
                                             config_)};
        save_checkpoint(
            path_, model_, opt_,
            {.epoch = st.position.tuned, .step = static_cast<std::int64_t>(st.steps.points.size())},
            std::span<const checkpoint_section>(extra));
        ++saves_;
    }
    const std::filesystem::path& path() const { return path_; }
    std::int64_t saves() const { return saves_; }

  private:
    std::filesystem::path path_;
    Model& model_;
    Optimizer& opt_;
    std::string config_;
    std::optional<checkpoint_section> w0_;
    std::int64_t saves_ = 0;
};

// Reads a checkpoint written by pipeline_checkpointer, checks it completely (CRCs,
// version, sections, names and shapes against `model`, the configuration against
// `config`) and only then loads the model and optimizer state; returns the pipeline
// state, counters and configuration. Throws bpr::error naming the file, section,
// field and value; on error the model and optimizer are unchanged.
template <mask_policy G = unstructured, typename Model, typename Optimizer>
pipeline_checkpoint<G> load_pipeline_checkpoint(const std::filesystem::path& path, Model& model,
                                                Optimizer& opt, std::string_view config) {
    const checkpoint_file file(path);
    const std::string& where = file.path();
    BPR_REQUIRE(file.version() >= 2, where, ": field 'version' is ", file.version(),
                ": a pipeline checkpoint needs version 2 (masks, w0, pipeline sections)");
    for (const char* name : {"optimizer", "masks", "w0", "pipeline"})
        BPR_REQUIRE(file.has_section(name), where, ": checkpoint has no '", name,
                    "' section (not written by a pipeline run?)");
    pipeline_checkpoint<G> out;
    out.config = file.text("pipeline", "config");
    BPR_REQUIRE(out.config == config, where, ": section 'pipeline' field 'config' differs: ",
                detail::resume::first_difference(out.config, config),
                " (resume with the same settings)");

    pipeline_state<G>& st = out.state;
    auto integer = [&](const char* field) { return file.integer("pipeline", field); };
    st.position.phase =
        detail::resume::phase_of(where, integer("position.phase"), "position.phase");
    const auto step = integer("position.step");
    const auto tuned = integer("position.tuned");
    BPR_REQUIRE(step >= 0 && tuned >= 0, where, ": section 'pipeline' field 'position.step' is ",
                step, " and 'position.tuned' is ", tuned, ", expected >= 0");
    st.position.step = static_cast<std::size_t>(step);
    st.position.changed = integer("position.changed") != 0;
    st.position.tuned = tuned;
    st.position.recorded = integer("position.recorded") != 0;
    st.pruned_nonzeros = integer("pruned_nonzeros");

    st.steps.format = file.text("pipeline", "trajectory.format");
    const auto phases = file.array<std::int64_t>("pipeline", "trajectory.phase");
    const auto n = static_cast<std::int64_t>(phases.size());
    const auto steps = file.array<std::int64_t>("pipeline", "trajectory.step", n);
    const auto sparsity = file.array<double>("pipeline", "trajectory.sparsity", n);
    const auto nonzeros = file.array<std::int64_t>("pipeline", "trajectory.nonzeros", n);
    const auto bytes = file.array<std::int64_t>("pipeline", "trajectory.bytes", n);
    const auto val = file.array<double>("pipeline", "trajectory.val_accuracy", n);
    const auto test = file.array<double>("pipeline", "trajectory.test_accuracy", n);
    const auto loss = file.array<double>("pipeline", "trajectory.loss", n);
    const auto seconds = file.array<double>("pipeline", "trajectory.seconds", n);
    for (std::size_t i = 0; i < phases.size(); ++i) {
        BPR_REQUIRE(steps[i] >= 0, where, ": section 'pipeline' field 'trajectory.step' holds ",
                    steps[i], " at ", i);
        st.steps.add({detail::resume::phase_of(where, phases[i], "trajectory.phase"),
                      static_cast<std::size_t>(steps[i]), sparsity[i], nonzeros[i], bytes[i],
                      val[i], test[i], loss[i], seconds[i]});
    }

    auto& budget = st.pruning.budget;
    budget.nonzeros = integer("pruning.budget.nonzeros");
    budget.total = integer("pruning.budget.total");
    const auto floor = file.array<std::int64_t>("pipeline", "pruning.budget.floor");
    const auto cap = file.array<std::int64_t>("pipeline", "pruning.budget.cap",
                                              static_cast<std::int64_t>(floor.size()));
    budget.floor.assign(floor.begin(), floor.end());
    budget.cap.assign(cap.begin(), cap.end());
    const auto rounds = file.array<std::int64_t>("pipeline", "pruning.round");
    const auto r = static_cast<std::int64_t>(rounds.size());
    const auto targets = file.array<double>("pipeline", "pruning.target_sparsity", r);
    const auto round_nonzeros = file.array<std::int64_t>("pipeline", "pruning.nonzeros", r);
    const auto round_sparsity = file.array<double>("pipeline", "pruning.sparsity", r);
    for (std::size_t i = 0; i < rounds.size(); ++i)
        st.pruning.rounds.push_back({static_cast<std::size_t>(rounds[i]), targets[i],
                                     round_nonzeros[i], round_sparsity[i]});

    // Regrowth reports: every count is checked against the arrays it indexes.
    const auto requested = file.array<std::int64_t>("pipeline", "regrowth.requested");
    const auto k = static_cast<std::int64_t>(requested.size());
    const auto grown = file.array<std::int64_t>("pipeline", "regrowth.grown", k);
    const auto layer_count = file.array<std::int64_t>("pipeline", "regrowth.layer_count", k);
    const auto layer_index = file.array<std::int64_t>("pipeline", "regrowth.layer.index");
    const auto layers = static_cast<std::int64_t>(layer_index.size());
    const auto layer_alive =
        file.array<std::int64_t>("pipeline", "regrowth.layer.alive_before", layers);
    const auto layer_grown = file.array<std::int64_t>("pipeline", "regrowth.layer.grown", layers);
    // Absent in files written before the exchange existed (session 19): nothing dropped.
    const auto layer_dropped =
        file.has_field("pipeline", "regrowth.layer.dropped")
            ? file.array<std::int64_t>("pipeline", "regrowth.layer.dropped", layers)
            : std::vector<std::int64_t>(static_cast<std::size_t>(layers), 0);
    const auto position_count =
        file.array<std::int64_t>("pipeline", "regrowth.layer.position_count", layers);
    const auto positions = file.array<std::int64_t>("pipeline", "regrowth.positions");
    std::vector<std::string> names;
    visit_params(model,
                 [&](std::size_t, const std::string& name, auto&) { names.push_back(name); });
    std::size_t next_layer = 0, next_position = 0;
    for (std::int64_t s = 0; s < k; ++s) {
        regrow_report report;
        report.requested = requested[static_cast<std::size_t>(s)];
        report.grown = grown[static_cast<std::size_t>(s)];
        const auto count = layer_count[static_cast<std::size_t>(s)];
        BPR_REQUIRE(
            count >= 0 && static_cast<std::size_t>(count) <= layer_index.size() - next_layer, where,
            ": section 'pipeline' field 'regrowth.layer_count' is ", count, " at step ", s + 1,
            " but only ", layer_index.size() - next_layer, " layers remain");
        for (std::int64_t l = 0; l < count; ++l, ++next_layer) {
            regrown_layer layer;
            const auto index = layer_index[next_layer];
            BPR_REQUIRE(index >= 0 && static_cast<std::size_t>(index) < names.size(), where,
                        ": section 'pipeline' field 'regrowth.layer.index' is ", index,
                        ", the model has ", names.size(), " parameters");
            layer.index = static_cast<std::size_t>(index);
            layer.name = names[layer.index];
            layer.alive_before = layer_alive[next_layer];
            layer.grown = layer_grown[next_layer];
            layer.dropped = layer_dropped[next_layer];
            const auto p = position_count[next_layer];
            BPR_REQUIRE(p >= 0 && static_cast<std::size_t>(p) <= positions.size() - next_position,
                        where, ": section 'pipeline' field 'regrowth.layer.position_count' is ", p,
                        " but only ", positions.size() - next_position, " positions remain");
            layer.positions.assign(
                positions.begin() + static_cast<std::ptrdiff_t>(next_position),
                positions.begin() + static_cast<std::ptrdiff_t>(next_position) + p);
            next_position += static_cast<std::size_t>(p);
            report.layers.push_back(std::move(layer));
        }
        st.regrowth.push_back(std::move(report));
    }
    BPR_REQUIRE(next_layer == layer_index.size() && next_position == positions.size(), where,
                ": section 'pipeline' has ", layer_index.size() - next_layer,
                " regrowth layers and ", positions.size() - next_position,
                " positions that no step uses");

    // Counters: every "counter.<name>" field.
    for (const auto& name : file.field_names("pipeline"))
        if (name.rfind("counter.", 0) == 0) out.counters[name.substr(8)] = integer(name.c_str());

    st.masks = file.masks<G>(model);
    Model copy = model;
    file.load_model_tensors("w0", copy);
    st.w0.take(copy);
    file.load_model(model, opt);  // last: everything else has been checked
    return out;
}

}  // namespace bpr
