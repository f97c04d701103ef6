#pragma once
// bpr::infer::engine: an inference-only program compiled from a trained (masked) model:
// batchnorm folded into the convolutions, activations and residual adds fused into the
// kernels' epilogues, sparse or dense kernels chosen per layer, and every activation
// buffer allocated once (see bpr/infer/compile.hpp for how a model becomes one).

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <variant>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "bpr/core/error.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/infer/crossover.hpp"
#include "bpr/kernels/conv2d_dense.hpp"
#include "bpr/kernels/depthwise.hpp"
#include "bpr/kernels/epilogue.hpp"
#include "bpr/kernels/sparse_conv2d.hpp"
#include "bpr/kernels/sparse_linear.hpp"
#include "bpr/nn/activation.hpp"  // sigmoid_fn, the same function as the model's

namespace bpr::infer {

// Which kernel runs a layer.
enum class path { dense, sparse };

inline const char* path_name(path p) {
    return p == path::sparse ? "sparse" : "dense";
}

// How compile() chooses the kernel of each convolution and linear layer.
enum class path_policy {
    automatic,     // sparse when the layer's density is below its measured crossover
    always_dense,  // for measurements and tests
    always_sparse,
};

// The per-image extents of an activation: [channels, height, width]; features of a
// flattened activation are [features, 1, 1].
struct value_shape {
    index_t channels = 0, height = 1, width = 1;
    index_t size() const { return channels * height * width; }
    bool operator==(const value_shape&) const = default;
};

// What compile() decided for one convolution or linear layer.
struct layer_report {
    std::string name;   // dotted parameter path, as in the model's state dict ("layer1.0.conv1")
    std::string kind;   // "conv", "depthwise" or "linear"
    std::string shape;  // e.g. "16x16@32x32 k3 s1" or "64->10"
    index_t weights = 0, nonzeros = 0;  // after batchnorm folding
    double crossover = 0.0;             // density below which sparse wins (measured)
    path chosen = path::dense;
    bool folded_batchnorm = false;
    std::string fused;  // what runs with it: "bias+relu" (epilogue), "bias+add+relu" (+ a pass)

    double density() const {
        return weights > 0 ? static_cast<double>(nonzeros) / static_cast<double>(weights) : 0.0;
    }
};

namespace detail {

template <class Arch = xsimd::default_arch>
void add_activate(float* out, const float* other, index_t count, kernels::activation act) {
    using batch = xsimd::batch<float, Arch>;
    constexpr index_t lanes = batch::size;
    index_t i = 0;
    for (; i + lanes <= count; i += lanes)
        kernels::detail::activate<Arch>(
            batch::load_unaligned(out + i) + batch::load_unaligned(other + i), act)
            .store_unaligned(out + i);
    const kernels::epilogue e{nullptr, nullptr, act};
    for (; i < count; ++i)
        out[i] = kernels::epilogue_scalar(e, 0, out[i] + other[i]);
}

// out = act(conv(in) + bias [+ residual]); weights folded, path chosen at compile time.
struct conv_op {
    kernels::conv2d_geometry geometry;  // batch set per call
    std::vector<float> weight, bias;    // OIHW and [out], batchnorm folded
    kernels::activation act = kernels::activation::none;
    int residual = -1;  // value added before the activation
    path chosen = path::dense;
    kernels::sparse_conv2d_weights sparse;
    // Depthwise layers (groups == in == out channels) run the depthwise kernel instead:
    // path::sparse when their zero taps were dropped.
    bool depthwise = false;
    kernels::depthwise_conv2d_weights depthwise_taps;
    kernels::sparse_conv2d_workspace sparse_workspace;
    kernels::conv2d_workspace<float> dense_workspace;
};

// out = act(in * weight^T + bias); weight [out, in] row-major.
struct linear_op {
    index_t in_features = 0, out_features = 0;
    std::vector<float> weight, bias;
    kernels::activation act = kernels::activation::none;
    path chosen = path::dense;
    kernels::sparse_linear_weights sparse;
    kernels::sparse_linear_workspace sparse_workspace;
};

// Max or average (count_include_pad) pooling, as bpr::max_pool2d / avg_pool2d.
struct pool_op {
    bool max = true;
    index_t kernel = 2, stride = 2, padding = 0;
};

struct global_pool_op {};

// ResNet option A: out[c + (out - in) / 2] = in[c][::stride, ::stride], zeros elsewhere.
struct pad_shortcut_op {
    index_t stride = 1;
};

// Standalone per-channel y = act(scale * x + shift): a batchnorm that could not be
// folded (its producer already had an activation, or its input is shared).
struct affine_op {
    std::vector<float> scale, shift;
    kernels::activation act = kernels::activation::none;
};

// An elementwise function with no epilogue equivalent (sigmoid), or an activation
// that could not be fused.
struct activation_op {
    kernels::activation act = kernels::activation::none;
    bool sigmoid = false;
};

// out = act(in + other), when the residual add could not be fused into a convolution.
struct add_op {
    int other = -1;
    kernels::activation act = kernels::activation::none;
};

// Squeeze-and-excitation: out[c] = in[c] * sigmoid(w2 act(w1 mean_hw(in) + b1) + b2)[c].
// Its two small layers run dense, even when masked (at most 1152 x 48 weights each).
struct squeeze_excitation_op {
    index_t squeezed = 0;
    std::vector<float> w1, b1, w2, b2;  // [squeezed, C], [squeezed], [C, squeezed], [C]
    kernels::activation act = kernels::activation::none;
    std::vector<float> pooled, hidden, gate;  // scratch of one image, sized at compile time
};

// Channel concatenation: out = cat(values..., channels), in order.
struct concat_op {
    std::vector<int> values;
};

using operation = std::variant<conv_op, linear_op, pool_op, global_pool_op, pad_shortcut_op,
                               affine_op, activation_op, add_op, squeeze_excitation_op, concat_op>;

struct step {
    operation op;
    int input = 0, output = 0;
    int report = -1;  // index into the layer reports, for conv and linear
    // Extents as this step sees them (a later flatten re-labels the value, not the step).
    value_shape in_shape, out_shape;
};

}  // namespace detail

// What it represents: a compiled inference program for images of input_shape(),
// producing output_shape() per image (the logits). Built by bpr::infer::compile.
// Guarantees: forward() does not allocate (every activation buffer is sized for
// max_batch() images at compile time; larger batches run in slices of max_batch());
// results are the same for a given thread count (kernels sum in a fixed order).
// Threads: bpr::set_threads; the kernels split images across threads when a slice has
// at least as many images as threads, and output channels of one image otherwise.
class engine {
  public:
    value_shape input_shape() const { return values_.front(); }
    value_shape output_shape() const { return values_[static_cast<std::size_t>(output_)]; }
    index_t max_batch() const { return max_batch_; }
    const std::vector<layer_report>& layers() const { return reports_; }
    // Bytes of all preallocated activation buffers.
    index_t buffer_bytes() const {
        index_t total = 0;
        for (const auto& b : buffers_)
            total += b.size() * static_cast<index_t>(sizeof(float));
        return total;
    }

    // output[n] = model(input[n]) for n < batch; input holds batch images of
    // input_shape() (NCHW), output batch rows of output_shape().size() floats.
    void forward(const float* input, index_t batch, float* output) {
        BPR_REQUIRE(batch >= 0, "infer::engine::forward: batch must be >= 0, got ", batch);
        const index_t in_size = input_shape().size(), out_size = output_shape().size();
        for (index_t first = 0; first < batch; first += max_batch_) {
            const index_t count = std::min(max_batch_, batch - first);
            run_slice(input + first * in_size, count);
            std::memcpy(output + first * out_size, value_data(output_, input + first * in_size),
                        sizeof(float) * static_cast<std::size_t>(count * out_size));
        }
    }

    // The same on tensors: input [N, C, H, W] (or [N, C*H*W]), output resized to
    // [N, classes] (allocates only when `output` is smaller than before).
    void forward(const tensor<float>& input, tensor<float>& output) {
        BPR_REQUIRE(
            input.shape().rank() >= 1 && input.size() == input.extent(0) * input_shape().size(),
            "infer::engine::forward: input shape ", input.shape().str(),
            " does not hold images of ", input_shape().channels, "x", input_shape().height, "x",
            input_shape().width);
        output.resize({input.extent(0), output_shape().size()});
        forward(input.data(), input.extent(0), output.data());
    }

  private:
    friend class builder;

    const float* value_data(int value, const float* input) const {
        const int b = buffer_of_[static_cast<std::size_t>(value)];
        return b < 0 ? input : buffers_[static_cast<std::size_t>(b)].data();
    }
    float* mutable_data(int value) {
        const int b = buffer_of_[static_cast<std::size_t>(value)];
        BPR_REQUIRE(b >= 0, "infer::engine: value ", value, " has no buffer (internal error)");
        return buffers_[static_cast<std::size_t>(b)].data();
    }

    void run_slice(const float* input, index_t batch) {
        for (auto& s : steps_) {
            const float* in = value_data(s.input, input);
            float* out = mutable_data(s.output);
            std::visit([&](auto& op) { run(op, in, out, s.in_shape, s.out_shape, batch, input); },
                       s.op);
        }
    }

    void run(detail::conv_op& op, const float* in, float* out, const value_shape&,
             const value_shape& os, index_t batch, const float* input) {
        const bool add = op.residual >= 0;
        const kernels::activation act = add ? kernels::activation::none : op.act;
        if (op.depthwise) {
            const kernels::epilogue e{nullptr, op.bias.data(), act};
            kernels::depthwise_conv2d_forward(op.depthwise_taps, batch, in, out, e,
                                              op.sparse_workspace);
        } else if (op.chosen == path::sparse) {
            const kernels::epilogue e{nullptr, op.bias.data(), act};
            kernels::sparse_conv2d_forward(op.sparse, batch, in, out, e, op.sparse_workspace);
        } else {
            kernels::conv2d_geometry g = op.geometry;
            g.batch = batch;
            kernels::conv2d_forward<float>(g, in, op.weight.data(), op.bias.data(), out,
                                           op.dense_workspace);
            kernels::apply_epilogue(kernels::epilogue{nullptr, nullptr, act}, 0, out,
                                    batch * os.size());
        }
        if (add)
            detail::add_activate(out, value_data(op.residual, input), batch * os.size(), op.act);
    }

    void run(detail::linear_op& op, const float* in, float* out, const value_shape&,
             const value_shape&, index_t batch, const float*) {
        const kernels::epilogue e{nullptr, op.bias.data(), op.act};
        if (op.chosen == path::sparse) {
            kernels::sparse_linear_forward(op.sparse, batch, in, out, e, op.sparse_workspace);
            return;
        }
        using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        Eigen::Map<const matrix> x(in, batch, op.in_features);
        Eigen::Map<const matrix> w(op.weight.data(), op.out_features, op.in_features);
        Eigen::Map<matrix> y(out, batch, op.out_features);
        y.noalias() = x * w.transpose();
        for (index_t n = 0; n < batch; ++n)
            for (index_t o = 0; o < op.out_features; ++o)
                y(n, o) = kernels::epilogue_scalar(e, o, y(n, o));
    }

    void run(detail::pool_op& op, const float* in, float* out, const value_shape& is,
             const value_shape& os, index_t batch, const float*) {
        const index_t planes = batch * is.channels, h = is.height, w = is.width;
        const float scale = 1.0f / static_cast<float>(op.kernel * op.kernel);
        for (index_t p = 0; p < planes; ++p) {
            const float* x = in + p * h * w;
            float* y = out + p * os.height * os.width;
            for (index_t oy = 0; oy < os.height; ++oy) {
                const index_t y0 = std::max<index_t>(oy * op.stride - op.padding, 0);
                const index_t y1 = std::min<index_t>(oy * op.stride - op.padding + op.kernel, h);
                for (index_t ox = 0; ox < os.width; ++ox) {
                    const index_t x0 = std::max<index_t>(ox * op.stride - op.padding, 0);
                    const index_t x1 =
                        std::min<index_t>(ox * op.stride - op.padding + op.kernel, w);
                    float r = op.max ? x[y0 * w + x0] : 0.0f;
                    for (index_t iy = y0; iy < y1; ++iy)
                        for (index_t ix = x0; ix < x1; ++ix)
                            r = op.max ? std::max(r, x[iy * w + ix]) : r + x[iy * w + ix];
                    y[oy * os.width + ox] = op.max ? r : r * scale;
                }
            }
        }
    }

    void run(detail::global_pool_op&, const float* in, float* out, const value_shape& is,
             const value_shape&, index_t batch, const float*) {
        const index_t planes = batch * is.channels, plane = is.height * is.width;
        const float scale = 1.0f / static_cast<float>(plane);
        for (index_t p = 0; p < planes; ++p) {
            float sum = 0.0f;
            for (index_t i = 0; i < plane; ++i)
                sum += in[p * plane + i];
            out[p] = sum * scale;
        }
    }

    void run(detail::pad_shortcut_op& op, const float* in, float* out, const value_shape& is,
             const value_shape& os, index_t batch, const float*) {
        std::fill(out, out + batch * os.size(), 0.0f);
        const index_t offset = (os.channels - is.channels) / 2;
        for (index_t n = 0; n < batch; ++n)
            for (index_t c = 0; c < is.channels; ++c) {
                const float* x = in + (n * is.channels + c) * is.height * is.width;
                float* y = out + (n * os.channels + c + offset) * os.height * os.width;
                for (index_t oy = 0; oy < os.height; ++oy)
                    for (index_t ox = 0; ox < os.width; ++ox)
                        y[oy * os.width + ox] = x[oy * op.stride * is.width + ox * op.stride];
            }
    }

    void run(detail::affine_op& op, const float* in, float* out, const value_shape& is,
             const value_shape&, index_t batch, const float*) {
        const index_t plane = is.height * is.width;
        const kernels::epilogue e{op.scale.data(), op.shift.data(), op.act};
        std::copy(in, in + batch * is.size(), out);
        for (index_t n = 0; n < batch; ++n)
            for (index_t c = 0; c < is.channels; ++c)
                kernels::apply_epilogue(e, c, out + (n * is.channels + c) * plane, plane);
    }

    void run(detail::activation_op& op, const float* in, float* out, const value_shape& is,
             const value_shape&, index_t batch, const float*) {
        const index_t count = batch * is.size();
        if (op.sigmoid) {
            for (index_t i = 0; i < count; ++i)
                out[i] = bpr::detail::sigmoid_fn::value(in[i]);
            return;
        }
        std::copy(in, in + count, out);
        kernels::apply_epilogue(kernels::epilogue{nullptr, nullptr, op.act}, 0, out, count);
    }

    void run(detail::add_op& op, const float* in, float* out, const value_shape& is,
             const value_shape&, index_t batch, const float* input) {
        const index_t count = batch * is.size();
        std::copy(in, in + count, out);
        detail::add_activate(out, value_data(op.other, input), count, op.act);
    }

    // Eigen reductions and GEMVs: EfficientNet-B0's squeeze-excitations hold about 0.6 M
    // multiply-adds per image (110 k in each 1152-channel block), too many for scalar chains.
    void run(detail::squeeze_excitation_op& op, const float* in, float* out, const value_shape& is,
             const value_shape&, index_t batch, const float*) {
        using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        using vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;
        const index_t channels = is.channels, plane = is.height * is.width;
        Eigen::Map<const matrix> w1(op.w1.data(), op.squeezed, channels);
        Eigen::Map<const matrix> w2(op.w2.data(), channels, op.squeezed);
        Eigen::Map<const vector> b1(op.b1.data(), op.squeezed), b2(op.b2.data(), channels);
        Eigen::Map<vector> pooled(op.pooled.data(), channels), gate(op.gate.data(), channels);
        Eigen::Map<vector> hidden(op.hidden.data(), op.squeezed);
        const kernels::epilogue hidden_activation{nullptr, nullptr, op.act};
        for (index_t n = 0; n < batch; ++n) {
            Eigen::Map<const matrix> x(in + n * is.size(), channels, plane);
            Eigen::Map<matrix> y(out + n * is.size(), channels, plane);
            pooled = x.rowwise().sum() / static_cast<float>(plane);
            hidden.noalias() = w1 * pooled;
            hidden += b1;
            kernels::apply_epilogue(hidden_activation, 0, hidden.data(), op.squeezed);
            gate.noalias() = w2 * hidden;
            gate += b2;
            for (float& g : op.gate)
                g = bpr::detail::sigmoid_fn::value(g);
            y = x.array().colwise() * gate.array();
        }
    }

    void run(detail::concat_op& op, const float*, float* out, const value_shape&,
             const value_shape& os, index_t batch, const float* input) {
        const index_t plane = os.height * os.width;
        index_t channel = 0;
        for (int v : op.values) {
            const float* x = value_data(v, input);
            const index_t size = values_[static_cast<std::size_t>(v)].channels * plane;
            for (index_t n = 0; n < batch; ++n)
                std::copy(x + n * size, x + (n + 1) * size, out + n * os.size() + channel * plane);
            channel += values_[static_cast<std::size_t>(v)].channels;
        }
    }

    std::vector<detail::step> steps_;
    std::vector<value_shape> values_;  // value 0 is the input
    std::vector<int> buffer_of_;       // value -> buffer, -1 for the caller's input
    std::vector<tensor<float>> buffers_;
    std::vector<layer_report> reports_;
    int output_ = 0;
    index_t max_batch_ = 1;
};

// Options of compile().
struct compile_options {
    index_t max_batch = 1;  // images per forward slice the buffers are sized for
    path_policy policy = path_policy::automatic;
    // Multiplies every measured crossover density (1 = as measured); for experiments.
    double crossover_scale = 1.0;
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
        if (op.depthwise) {
            // The same kernel either way, minus the zero taps: dropping them never costs
            // more, so the crossover is density 1.
            r.kind = "depthwise";
            r.crossover = 1.0;
            const bool drop_zeros = options.policy != path_policy::always_dense;
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
        op.chosen = !supported                                     ? path::dense
                    : options.policy == path_policy::always_sparse ? path::sparse
                    : options.policy == path_policy::always_dense  ? path::dense
                    : r.density() <= r.crossover                   ? path::sparse
                                                                   : path::dense;
        if (op.chosen == path::sparse)
            op.sparse = kernels::sparse_conv2d_weights::pack(op.geometry, op.weight.data());
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
        op.chosen = options.policy == path_policy::always_sparse  ? path::sparse
                    : options.policy == path_policy::always_dense ? path::dense
                    : r.density() <= r.crossover                  ? path::sparse
                                                                  : path::dense;
        if (op.chosen == path::sparse)
            op.sparse = kernels::sparse_linear_weights::pack(op.out_features, op.in_features,
                                                             op.weight.data());
        r.chosen = op.chosen;
        r.fused = epilogue_text(op.act, false);
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
