#pragma once
// bpr::infer::engine: an inference-only program compiled from a trained (masked) model:
// batchnorm folded into the convolutions, activations and residual adds fused into the
// kernels' epilogues, sparse or dense kernels chosen per layer, and every activation
// buffer allocated once (see bpr/infer/compile.hpp for how a model becomes one and
// bpr/infer/builder.hpp for the half of it that knows no layer types).

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
    // Times both kernels of every ungrouped convolution and linear layer on this machine
    // at compile time (a constant input of max_batch images, the current thread count)
    // and keeps the faster: the crossover of the device the engine runs on. Depthwise
    // layers are not timed (one kernel, zero taps dropped); grouped ones run dense.
    // Timings vary from run to run, so the choice may too: record engine::paths() and
    // pass it as compile_options::paths to replay it.
    measured,
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
    // Microseconds per call of each kernel at max_batch images, when path_policy::measured
    // timed them; -1 otherwise.
    double dense_us = -1.0, sparse_us = -1.0;

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

// out = act(conv(in) + bias) for `batch` images with the kernel of path `p` (the residual
// add, if any, is the caller's); `out_size` floats per output image.
inline void conv_forward(conv_op& op, path p, const float* in, float* out, index_t batch,
                         kernels::activation act, index_t out_size) {
    if (op.depthwise) {
        const kernels::epilogue e{nullptr, op.bias.data(), act};
        kernels::depthwise_conv2d_forward(op.depthwise_taps, batch, in, out, e,
                                          op.sparse_workspace);
    } else if (p == path::sparse) {
        const kernels::epilogue e{nullptr, op.bias.data(), act};
        kernels::sparse_conv2d_forward(op.sparse, batch, in, out, e, op.sparse_workspace);
    } else {
        kernels::conv2d_geometry g = op.geometry;
        g.batch = batch;
        kernels::conv2d_forward<float>(g, in, op.weight.data(), op.bias.data(), out,
                                       op.dense_workspace);
        kernels::apply_epilogue(kernels::epilogue{nullptr, nullptr, act}, 0, out, batch * out_size);
    }
}

// out = act(in * weight^T + bias) for `batch` rows with the kernel of path `p`.
inline void linear_forward(linear_op& op, path p, const float* in, float* out, index_t batch) {
    const kernels::epilogue e{nullptr, op.bias.data(), op.act};
    if (p == path::sparse) {
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
class builder;

class engine {
  public:
    value_shape input_shape() const { return values_.front(); }
    value_shape output_shape() const { return values_[static_cast<std::size_t>(output_)]; }
    index_t max_batch() const { return max_batch_; }
    const std::vector<layer_report>& layers() const { return reports_; }
    // The kernel of each convolution and linear layer, in layers() order: 'S' sparse (for
    // depthwise layers: zero taps dropped), 'D' dense. compile_options::paths replays it.
    std::string paths() const {
        std::string text;
        for (const auto& r : reports_)
            text += r.chosen == path::sparse ? 'S' : 'D';
        return text;
    }
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
        detail::conv_forward(op, op.chosen, in, out, batch,
                             add ? kernels::activation::none : op.act, os.size());
        if (add)
            detail::add_activate(out, value_data(op.residual, input), batch * os.size(), op.act);
    }

    void run(detail::linear_op& op, const float* in, float* out, const value_shape&,
             const value_shape&, index_t batch, const float*) {
        detail::linear_forward(op, op.chosen, in, out, batch);
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

}  // namespace bpr::infer
