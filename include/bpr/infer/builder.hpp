#pragma once
// bpr::infer::builder: the model-independent half of compile(). Operations are appended
// as compile.hpp walks the model; folding and fusion happen while appending, and
// finish() chooses the kernels, packs sparse weights and plans the buffers of an engine.

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/infer/crossover.hpp"
#include "bpr/infer/engine.hpp"

namespace bpr::infer {

// Options of compile().
struct compile_options {
    index_t max_batch = 1;  // images per forward slice the buffers are sized for
    path_policy policy = path_policy::automatic;
    // Multiplies every measured crossover density (1 = as measured); for experiments.
    double crossover_scale = 1.0;
    // One 'S' (sparse) or 'D' (dense) per convolution and linear layer, in the order of
    // engine::layers(): an earlier engine's paths() replayed (e.g. a path_policy::measured
    // choice, so that a deployment runs the same kernels every time). Overrides `policy`.
    // A depthwise layer without zero taps has none to drop and reports 'D' either way.
    std::string paths;
};

// What it represents: the model-independent half of compile(): layers are appended in
// execution order as operations on numbered values (value 0 is the input); folding
// and fusion happen as they are appended, when the producer of the current value is
// the last operation and nothing else reads its output. finish() chooses kernels,
// packs sparse weights and assigns buffers.
class builder {
  public:
    explicit builder(value_shape input) {
        values_.push_back(input);
        sealed_.push_back(true);
        producer_.push_back(-1);
    }

    int current() const { return current_; }
    void set_current(int value) { current_ = value; }
    const value_shape& shape_of(int value) const {
        return values_[static_cast<std::size_t>(value)];
    }
    // The value will be read by more than one operation: never fold into its producer.
    void seal(int value) { sealed_[static_cast<std::size_t>(value)] = true; }

    void conv(std::string name, const kernels::conv2d_geometry& geometry, const float* weight,
              const float* bias) {
        const value_shape& in = shape_of(current_);
        kernels::conv2d_geometry g = geometry;
        g.batch = 1, g.in_h = in.height, g.in_w = in.width;
        BPR_REQUIRE(in.channels == g.in_channels, "infer::compile: ", name, ": input has ",
                    in.channels, " channels, the convolution expects ", g.in_channels);
        g.validate("infer::compile");
        detail::conv_op op;
        op.geometry = g;
        const index_t count = g.out_channels * g.patch_size();
        op.weight.assign(weight, weight + count);
        op.bias.assign(static_cast<std::size_t>(g.out_channels), 0.0f);
        if (bias) op.bias.assign(bias, bias + g.out_channels);
        layer_report r;
        r.name = std::move(name), r.kind = "conv";
        r.shape = bpr::detail::concat(g.in_channels, "x", g.out_channels, "@", g.in_h, "x", g.in_w,
                                      " k", g.kernel_h, " s", g.stride_h);
        append(std::move(op), {g.out_channels, g.out_h(), g.out_w()}, std::move(r));
    }

    void linear(std::string name, index_t in_features, index_t out_features, const float* weight,
                const float* bias) {
        const value_shape& in = shape_of(current_);
        BPR_REQUIRE(in.size() == in_features, "infer::compile: ", name, ": input has ", in.size(),
                    " features (", in.channels, "x", in.height, "x", in.width,
                    "), the linear layer expects ", in_features);
        detail::linear_op op;
        op.in_features = in_features, op.out_features = out_features;
        op.weight.assign(weight, weight + in_features * out_features);
        op.bias.assign(static_cast<std::size_t>(out_features), 0.0f);
        if (bias) op.bias.assign(bias, bias + out_features);
        layer_report r;
        r.name = std::move(name), r.kind = "linear";
        r.shape = bpr::detail::concat(in_features, "->", out_features);
        append(std::move(op), {out_features, 1, 1}, std::move(r));
    }

    // y = scale[c] * x + shift[c] (an eval-mode batchnorm): folded into the producing
    // convolution or linear layer when it is the last operation, has no activation or
    // residual yet and its output is read by nothing else; a standalone step otherwise.
    void affine(const std::vector<double>& scale, const std::vector<double>& shift) {
        const value_shape& in = shape_of(current_);
        BPR_REQUIRE(static_cast<index_t>(scale.size()) == in.channels,
                    "infer::compile: batchnorm has ", scale.size(), " channels, its input has ",
                    in.channels);
        if (auto* s = foldable()) {
            auto fold = [&](std::vector<float>& weight, std::vector<float>& bias,
                            kernels::activation act, int residual, index_t per_channel) {
                if (act != kernels::activation::none || residual >= 0) return false;
                for (std::size_t o = 0; o < scale.size(); ++o) {
                    for (index_t i = 0; i < per_channel; ++i) {
                        float& w = weight[o * static_cast<std::size_t>(per_channel) +
                                          static_cast<std::size_t>(i)];
                        w = static_cast<float>(static_cast<double>(w) * scale[o]);
                    }
                    bias[o] =
                        static_cast<float>(static_cast<double>(bias[o]) * scale[o] + shift[o]);
                }
                return true;
            };
            bool folded = false;
            if (auto* c = std::get_if<detail::conv_op>(&s->op))
                folded = fold(c->weight, c->bias, c->act, c->residual, c->geometry.patch_size());
            else if (auto* l = std::get_if<detail::linear_op>(&s->op))
                folded = fold(l->weight, l->bias, l->act, -1, l->in_features);
            if (folded) {
                reports_[static_cast<std::size_t>(s->report)].folded_batchnorm = true;
                return;
            }
        }
        detail::affine_op op;
        op.scale.assign(scale.begin(), scale.end());
        op.shift.assign(shift.begin(), shift.end());
        append(std::move(op), in);
    }

    // An activation: fused into the last operation's epilogue when possible.
    void activation(kernels::activation act) {
        if (auto* s = foldable()) {
            kernels::activation* slot = nullptr;
            if (auto* c = std::get_if<detail::conv_op>(&s->op)) slot = &c->act;
            if (auto* l = std::get_if<detail::linear_op>(&s->op)) slot = &l->act;
            if (auto* a = std::get_if<detail::affine_op>(&s->op)) slot = &a->act;
            if (auto* a = std::get_if<detail::add_op>(&s->op)) slot = &a->act;
            if (slot && *slot == kernels::activation::none) {
                *slot = act;
                return;
            }
        }
        append(detail::activation_op{act, false}, shape_of(current_));
    }
    void sigmoid() {
        append(detail::activation_op{kernels::activation::none, true}, shape_of(current_));
    }

    // current = act(current + other): fused into the producing convolution when possible.
    void add(int other, kernels::activation act) {
        BPR_REQUIRE(shape_of(other) == shape_of(current_),
                    "infer::compile: residual add of different shapes (",
                    shape_of(current_).channels, " and ", shape_of(other).channels, " channels)");
        if (auto* s = foldable())
            if (auto* c = std::get_if<detail::conv_op>(&s->op))
                if (c->act == kernels::activation::none && c->residual < 0) {
                    c->residual = other;
                    c->act = act;
                    seal(other);
                    return;
                }
        const int first = current_;
        seal(other);
        append(detail::add_op{other, act}, shape_of(first));
    }

    // current = current * sigmoid(w2 act(w1 mean_hw(current) + b1) + b2), per channel;
    // w1 [squeezed, C], w2 [C, squeezed].
    void squeeze_excitation(index_t squeezed, const float* w1, const float* b1, const float* w2,
                            const float* b2, kernels::activation act) {
        const value_shape in = shape_of(current_);
        const auto channels = static_cast<std::size_t>(in.channels);
        const auto hidden = static_cast<std::size_t>(squeezed);
        detail::squeeze_excitation_op op;
        op.squeezed = squeezed, op.act = act;
        op.w1.assign(w1, w1 + hidden * channels);
        op.b1.assign(b1, b1 + hidden);
        op.w2.assign(w2, w2 + channels * hidden);
        op.b2.assign(b2, b2 + channels);
        op.pooled.resize(channels), op.hidden.resize(hidden), op.gate.resize(channels);
        append(std::move(op), in);
    }

    // current = cat(values, channels); every value has the same height and width.
    void concat(const std::vector<int>& values) {
        BPR_REQUIRE(!values.empty(), "infer::compile: concat of no values");
        value_shape out = shape_of(values.front());
        out.channels = 0;
        for (int v : values) {
            const value_shape& s = shape_of(v);
            BPR_REQUIRE(s.height == out.height && s.width == out.width,
                        "infer::compile: concat of ", s.height, "x", s.width, " and ", out.height,
                        "x", out.width, " maps");
            out.channels += s.channels;
            seal(v);
        }
        current_ = values.front();
        append(detail::concat_op{values}, out);
    }

    void pool(bool max, index_t kernel, index_t stride, index_t padding) {
        const value_shape in = shape_of(current_);
        BPR_REQUIRE(in.height + 2 * padding >= kernel && in.width + 2 * padding >= kernel,
                    "infer::compile: pooling window ", kernel, " is larger than the input ",
                    in.height, "x", in.width);
        append(detail::pool_op{max, kernel, stride, padding},
               {in.channels, (in.height + 2 * padding - kernel) / stride + 1,
                (in.width + 2 * padding - kernel) / stride + 1});
    }
    void global_pool() { append(detail::global_pool_op{}, {shape_of(current_).channels, 1, 1}); }
    void pad_shortcut(index_t out_channels, index_t stride) {
        const value_shape in = shape_of(current_);
        append(detail::pad_shortcut_op{stride},
               {out_channels, (in.height + stride - 1) / stride, (in.width + stride - 1) / stride});
    }
    // Flatten: same memory, [C*H*W, 1, 1] from now on.
    void flatten() {
        const value_shape in = shape_of(current_);
        if (in.height == 1 && in.width == 1) return;
        if (current_ == 0 || sealed_[static_cast<std::size_t>(current_)]) {
            append(detail::activation_op{kernels::activation::none, false}, {in.size(), 1, 1});
            return;
        }
        values_[static_cast<std::size_t>(current_)] = {in.size(), 1, 1};
    }

    engine finish(const compile_options& options) {
        BPR_REQUIRE(options.max_batch >= 1, "infer::compile: max_batch must be >= 1, got ",
                    options.max_batch);
        if (!options.paths.empty()) {
            BPR_REQUIRE(options.paths.size() == reports_.size(), "infer::compile: paths '",
                        options.paths, "' has ", options.paths.size(), " letters, the model has ",
                        reports_.size(), " convolution and linear layers");
            for (std::size_t i = 0; i < options.paths.size(); ++i)
                BPR_REQUIRE(options.paths[i] == 'S' || options.paths[i] == 'D',
                            "infer::compile: paths letter ", i, " (", reports_[i].name, ") is '",
                            options.paths[i], "', expected S or D");
        }
        engine e;
        e.max_batch_ = options.max_batch;
        for (auto& s : steps_) {
            if (auto* c = std::get_if<detail::conv_op>(&s.op)) choose(*c, options, s.report);
            if (auto* l = std::get_if<detail::linear_op>(&s.op)) choose(*l, options, s.report);
        }
        // Buffers: a value's buffer returns to the pool after its last reader; an
        // operation never writes a buffer it reads.
        std::vector<int> last_use(values_.size(), -1);
        const int count = static_cast<int>(steps_.size());
        for (int i = 0; i < count; ++i)
            for (int v : reads(steps_[static_cast<std::size_t>(i)]))
                last_use[static_cast<std::size_t>(v)] = i;
        last_use[static_cast<std::size_t>(current_)] = count;  // the output survives
        e.buffer_of_.assign(values_.size(), -1);
        std::vector<index_t> capacity;
        std::vector<int> free_buffers;
        for (int i = 0; i < count; ++i) {
            const auto& s = steps_[static_cast<std::size_t>(i)];
            const index_t need = values_[static_cast<std::size_t>(s.output)].size();
            // The smallest free buffer that is large enough, else the largest free one.
            int pick = -1;
            for (int b : free_buffers) {
                const bool fits = capacity[b] >= need;
                if (pick < 0 || (fits && (capacity[pick] < need || capacity[b] < capacity[pick])) ||
                    (!fits && capacity[pick] < need && capacity[b] > capacity[pick]))
                    pick = b;
            }
            if (pick < 0) {
                pick = static_cast<int>(capacity.size());
                capacity.push_back(0);
            } else {
                free_buffers.erase(std::find(free_buffers.begin(), free_buffers.end(), pick));
            }
            capacity[pick] = std::max(capacity[pick], need);
            e.buffer_of_[static_cast<std::size_t>(s.output)] = pick;
            for (int v : reads(s))
                if (last_use[static_cast<std::size_t>(v)] == i && v != 0)
                    free_buffers.push_back(e.buffer_of_[static_cast<std::size_t>(v)]);
        }
        for (index_t c : capacity)
            e.buffers_.emplace_back(shape{c * options.max_batch});
        e.values_ = values_;
        e.reports_ = reports_;
        e.output_ = current_;
        e.steps_ = std::move(steps_);
        BPR_REQUIRE(!e.steps_.empty(), "infer::compile: the model has no layers to run");
        return e;
    }

  private:
    static std::vector<int> reads(const detail::step& s) {
        std::vector<int> r{s.input};
        if (const auto* c = std::get_if<detail::conv_op>(&s.op); c && c->residual >= 0)
            r.push_back(c->residual);
        if (const auto* a = std::get_if<detail::add_op>(&s.op)) r.push_back(a->other);
        if (const auto* c = std::get_if<detail::concat_op>(&s.op))
            r.insert(r.end(), c->values.begin() + 1, c->values.end());
        // Each value once: a value read twice (concat<identity, identity>) would otherwise
        // return its buffer to the pool twice.
        std::sort(r.begin(), r.end());
        r.erase(std::unique(r.begin(), r.end()), r.end());
        return r;
    }

    void choose(detail::conv_op& op, const compile_options& options, int report) {
        auto& r = reports_[static_cast<std::size_t>(report)];
        r.weights = static_cast<index_t>(op.weight.size());
        r.nonzeros = static_cast<index_t>(
            std::count_if(op.weight.begin(), op.weight.end(), [](float w) { return w != 0.0f; }));
        const kernels::conv2d_geometry& g = op.geometry;
        op.depthwise = g.groups > 1 && g.groups == g.in_channels &&
                       g.out_channels == g.in_channels && g.stride_h == g.stride_w;
        const char* replay =
            options.paths.empty() ? nullptr : &options.paths[static_cast<std::size_t>(report)];
        if (op.depthwise) {
            // The same kernel either way, minus the zero taps: dropping them never costs
            // more, so the crossover is density 1 (and there is nothing to measure).
            r.kind = "depthwise";
            r.crossover = 1.0;
            const bool drop_zeros =
                replay ? *replay == 'S' : options.policy != path_policy::always_dense;
            op.depthwise_taps =
                kernels::depthwise_conv2d_weights::pack(g, op.weight.data(), drop_zeros);
            op.chosen = drop_zeros && r.nonzeros < r.weights ? path::sparse : path::dense;
            r.chosen = op.chosen;
            r.fused = epilogue_text(op.act, op.residual >= 0);
            return;
        }
        r.crossover =
            sparse_crossover_density(op.geometry, options.max_batch) * options.crossover_scale;
        const bool supported =
            op.geometry.groups == 1 && op.geometry.stride_h == op.geometry.stride_w;
        BPR_REQUIRE(!replay || *replay == 'D' || supported, "infer::compile: paths letter ", report,
                    " of '", options.paths, "' (", r.name,
                    ") asks for the sparse kernel, which runs only ungrouped convolutions "
                    "with a square stride (groups ",
                    op.geometry.groups, ", stride ", op.geometry.stride_h, "x",
                    op.geometry.stride_w, ")");
        const index_t in_size = g.in_channels * g.in_h * g.in_w;
        const index_t out_size = g.out_channels * g.out_h() * g.out_w();
        op.chosen = decide(
            replay, supported, options, r, in_size, out_size,
            [&] {
                op.sparse = kernels::sparse_conv2d_weights::pack(op.geometry, op.weight.data());
            },
            [&](path p, const float* in, float* out, index_t batch) {
                detail::conv_forward(op, p, in, out, batch, op.act, out_size);
            });
        // What timing allocated for the path not taken is released.
        if (op.chosen == path::dense) op.sparse = {}, op.sparse_workspace = {};
        if (op.chosen == path::sparse) op.dense_workspace = {};
        r.chosen = op.chosen;
        r.fused = epilogue_text(op.act, op.residual >= 0);
    }

    void choose(detail::linear_op& op, const compile_options& options, int report) {
        auto& r = reports_[static_cast<std::size_t>(report)];
        r.weights = static_cast<index_t>(op.weight.size());
        r.nonzeros = static_cast<index_t>(
            std::count_if(op.weight.begin(), op.weight.end(), [](float w) { return w != 0.0f; }));
        r.crossover =
            sparse_linear_crossover_density(op.in_features, op.out_features, options.max_batch) *
            options.crossover_scale;
        const char* replay =
            options.paths.empty() ? nullptr : &options.paths[static_cast<std::size_t>(report)];
        op.chosen = decide(
            replay, true, options, r, op.in_features, op.out_features,
            [&] {
                op.sparse = kernels::sparse_linear_weights::pack(op.out_features, op.in_features,
                                                                 op.weight.data());
            },
            [&](path p, const float* in, float* out, index_t batch) {
                detail::linear_forward(op, p, in, out, batch);
            });
        if (op.chosen == path::dense) op.sparse = {}, op.sparse_workspace = {};
        r.chosen = op.chosen;
        r.fused = epilogue_text(op.act, false);
    }

    // The kernel of one convolution or linear layer: the replayed letter if any, else the
    // policy's choice; under path_policy::measured both paths of forward(path, in, out,
    // batch) are timed (times recorded in r). pack() builds the sparse weights, once, when
    // they are timed or chosen.
    template <typename Pack, typename Forward>
    static path decide(const char* replay, bool sparse_supported, const compile_options& options,
                       layer_report& r, index_t in_size, index_t out_size, Pack&& pack,
                       Forward&& forward) {
        bool packed = false;
        const auto chosen = [&]() {
            if (replay) return *replay == 'S' ? path::sparse : path::dense;
            if (!sparse_supported || options.policy == path_policy::always_dense)
                return path::dense;
            if (options.policy == path_policy::always_sparse) return path::sparse;
            if (options.policy == path_policy::measured) {
                pack();
                packed = true;
                const auto time = [&](path p) {
                    return time_layer(in_size, out_size, options.max_batch,
                                      [&](const float* in, float* out, index_t batch) {
                                          forward(p, in, out, batch);
                                      });
                };
                r.dense_us = time(path::dense), r.sparse_us = time(path::sparse);
                return r.sparse_us < r.dense_us ? path::sparse : path::dense;
            }
            return r.density() <= r.crossover ? path::sparse : path::dense;
        }();
        if (chosen == path::sparse && !packed) pack();
        return chosen;
    }

    // Microseconds per call of run(in, out, batch) on `batch` images of in_size floats
    // (a constant input: the kernels' time does not depend on the values): the fastest of
    // at least 3 calls and 2 ms after a warm-up call, i.e. the least disturbed one.
    template <typename Run>
    static double time_layer(index_t in_size, index_t out_size, index_t batch, Run&& run) {
        using clock = std::chrono::steady_clock;
        std::vector<float> in(static_cast<std::size_t>(batch * in_size), 1.0f);
        std::vector<float> out(static_cast<std::size_t>(batch * out_size));
        run(in.data(), out.data(), batch);
        double best = std::numeric_limits<double>::infinity(), total = 0.0;
        for (int calls = 0; calls < 3 || (total < 2e-3 && calls < 1000); ++calls) {
            const auto start = clock::now();
            run(in.data(), out.data(), batch);
            const double seconds = std::chrono::duration<double>(clock::now() - start).count();
            best = std::min(best, seconds), total += seconds;
        }
        return best * 1e6;
    }

    static std::string epilogue_text(kernels::activation act, bool add) {
        static const char* names[] = {"", "+relu", "+relu6", "+silu"};
        return bpr::detail::concat("bias", add ? "+add" : "", names[static_cast<int>(act)]);
    }

    // The last step, when the current value is its output and no other reader exists.
    detail::step* foldable() {
        if (steps_.empty() || current_ == 0) return nullptr;
        auto& s = steps_.back();
        if (s.output != current_ || sealed_[static_cast<std::size_t>(current_)]) return nullptr;
        return &s;
    }

    void append(detail::operation op, value_shape out, layer_report report) {
        reports_.push_back(std::move(report));
        append(std::move(op), out, static_cast<int>(reports_.size()) - 1);
    }
    void append(detail::operation op, value_shape out, int report = -1) {
        BPR_REQUIRE(out.size() >= 1, "infer::compile: an operation produces an empty output");
        values_.push_back(out);
        sealed_.push_back(false);
        const int value = static_cast<int>(values_.size()) - 1;
        producer_.push_back(static_cast<int>(steps_.size()));
        steps_.push_back({std::move(op), current_, value, report, shape_of(current_), out});
        current_ = value;
    }

    std::vector<value_shape> values_;
    std::vector<bool> sealed_;
    std::vector<int> producer_;
    std::vector<detail::step> steps_;
    std::vector<layer_report> reports_;
    int current_ = 0;
};

}  // namespace bpr::infer
