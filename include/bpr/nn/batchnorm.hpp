#pragma once
// bpr::batchnorm: batch normalization over the channel axis of [N, C, H, W] or [N, C].

#include <cmath>
#include <string_view>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/parallel.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// What it represents: torch.nn.BatchNorm2d (rank-4 input) and BatchNorm1d (rank-2
// input): y = (x - mean) / sqrt(var + eps) * weight + bias per channel.
// Requires: input [N, channels, H, W] or [N, channels]; in train mode more than one
// value per channel (N * H * W > 1), as PyTorch.
// Guarantees: train mode normalizes with the batch statistics (biased variance) and
// moves running_mean / running_var towards them by `momentum`, using the unbiased
// variance for running_var as PyTorch does; eval mode uses the running statistics.
// backward differentiates whichever statistics the last forward used. Parameters:
// "weight" (norm_scale, starts at 1), "bias" (norm_shift, starts at 0); buffers:
// "running_mean" (starts at 0), "running_var" (starts at 1). Statistics are accumulated
// in double, one channel per thread, so results do not depend on the thread count.
template <typename T = float>
class batchnorm {
  public:
    using value_type = T;

    explicit batchnorm(index_t channels, double momentum = 0.1, double eps = 1e-5)
        : channels_(channels), momentum_(momentum), eps_(eps) {
        BPR_REQUIRE(channels >= 1, "batchnorm: channels must be >= 1, got ", channels);
        BPR_REQUIRE(momentum >= 0.0 && momentum <= 1.0,
                    "batchnorm: momentum must be in [0, 1], got ", momentum);
        BPR_REQUIRE(eps > 0.0, "batchnorm: eps must be > 0, got ", eps);
        scale_ = param<T>({channels}, param_role::norm_scale);
        shift_ = param<T>({channels}, param_role::norm_shift);
        scale_.value.fill(T(1));
        running_mean_ = tensor<T>({channels}, T(0));
        running_var_ = tensor<T>({channels}, T(1));
        mean_.assign(channels, 0.0);
        inv_std_.assign(channels, 1.0);
    }

    index_t channels() const { return channels_; }
    double momentum() const { return momentum_; }
    double eps() const { return eps_; }

    param<T>& weight() { return scale_; }
    const param<T>& weight() const { return scale_; }
    param<T>& bias() { return shift_; }
    const param<T>& bias() const { return shift_; }
    tensor<T>& running_mean() { return running_mean_; }
    const tensor<T>& running_mean() const { return running_mean_; }
    tensor<T>& running_var() { return running_var_; }
    const tensor<T>& running_var() const { return running_var_; }

    shape output_shape(const shape& in) const {
        BPR_REQUIRE(in.rank() == 4 || in.rank() == 2, "batchnorm: input has rank ", in.rank(),
                    " (shape ", in.str(), "), expected 4 (NCHW) or 2 ([N, C])");
        BPR_REQUIRE(in[1] == channels_, "batchnorm: input has ", in[1], " channels (shape ",
                    in.str(), "), expected ", channels_);
        return in;
    }

    void forward(const tensor<T>& in, tensor<T>& out, mode m) {
        output_shape(in.shape());
        const index_t n = in.extent(0), plane = plane_size(in.shape());
        const index_t count = n * plane;
        if (m == mode::train)
            BPR_REQUIRE(count > 1,
                        "batchnorm: train mode needs more than 1 value per channel, "
                        "got input shape ",
                        in.shape().str());
        out.resize(in.shape());
        const T* x = in.data();
        T* y = out.data();
        const index_t c_total = channels_;
#pragma omp parallel for schedule(static) if (in.size() > detail::min_parallel_elements)
        for (index_t c = 0; c < c_total; ++c) {
            double mean, inv_std;
            if (m == mode::train) {
                // Each plane is reduced in T by Eigen (vectorized, fixed order), planes are
                // added in double: fast and accurate enough for 10^6 values per channel.
                double sum = 0;
                for (index_t s = 0; s < n; ++s)
                    sum += plane_of(x, s, c, plane).sum();
                mean = sum / static_cast<double>(count);
                const T mean_t = static_cast<T>(mean);
                double squares = 0;
                for (index_t s = 0; s < n; ++s)
                    squares += (plane_of(x, s, c, plane) - mean_t).square().sum();
                const double var = squares / static_cast<double>(count);
                inv_std = 1.0 / std::sqrt(var + eps_);
                const double unbiased = squares / static_cast<double>(count - 1);
                running_mean_[c] =
                    static_cast<T>((1.0 - momentum_) * running_mean_[c] + momentum_ * mean);
                running_var_[c] =
                    static_cast<T>((1.0 - momentum_) * running_var_[c] + momentum_ * unbiased);
            } else {
                mean = running_mean_[c];
                inv_std = 1.0 / std::sqrt(static_cast<double>(running_var_[c]) + eps_);
            }
            mean_[c] = mean;
            inv_std_[c] = inv_std;
            const T a = static_cast<T>(scale_.value[c] * inv_std);
            const T b = static_cast<T>(shift_.value[c] - scale_.value[c] * inv_std * mean);
            for (index_t s = 0; s < n; ++s)
                plane_of(y, s, c, plane) = a * plane_of(x, s, c, plane) + b;
        }
        last_mode_ = m;
    }

    // The eval-mode forward as a per-channel affine map y = scale[c] * x + shift[c]
    // (valid until the parameters or running statistics change), computed exactly as
    // forward(.., mode::eval) computes it, so a convolution can apply it while writing its
    // output (bpr::sequential fuses conv2d -> batchnorm this way). Records the eval
    // statistics for backward, as an eval forward would.
    std::pair<const T*, const T*> eval_affine() {
        folded_scale_.resize(static_cast<std::size_t>(channels_));
        folded_shift_.resize(static_cast<std::size_t>(channels_));
        for (index_t c = 0; c < channels_; ++c) {
            const double mean = running_mean_[c];
            const double inv_std = 1.0 / std::sqrt(static_cast<double>(running_var_[c]) + eps_);
            mean_[c] = mean;
            inv_std_[c] = inv_std;
            folded_scale_[c] = static_cast<T>(scale_.value[c] * inv_std);
            folded_shift_[c] = static_cast<T>(shift_.value[c] - scale_.value[c] * inv_std * mean);
        }
        last_mode_ = mode::eval;
        return {folded_scale_.data(), folded_shift_.data()};
    }

    void backward(const tensor<T>& in, const tensor<T>&, const tensor<T>& grad_out,
                  tensor<T>& grad_in) {
        output_shape(in.shape());
        require_shape(grad_out, in.shape(), "batchnorm::backward", "grad_out");
        const index_t n = in.extent(0), plane = plane_size(in.shape());
        const double count = static_cast<double>(n * plane);
        grad_in.resize(in.shape());
        const T* x = in.data();
        const T* dy = grad_out.data();
        T* dx = grad_in.data();
        const index_t c_total = channels_;
        const bool batch_stats = last_mode_ == mode::train;
#pragma omp parallel for schedule(static) if (in.size() > detail::min_parallel_elements)
        for (index_t c = 0; c < c_total; ++c) {
            const double mean = mean_[c], inv_std = inv_std_[c];
            const T mean_t = static_cast<T>(mean);
            double sum_dy = 0, sum_dy_centered = 0;
            for (index_t s = 0; s < n; ++s) {
                const auto g = plane_of(dy, s, c, plane);
                sum_dy += g.sum();
                sum_dy_centered += (g * (plane_of(x, s, c, plane) - mean_t)).sum();
            }
            const double sum_dy_xhat = sum_dy_centered * inv_std;
            scale_.grad[c] = static_cast<T>(sum_dy_xhat);
            shift_.grad[c] = static_cast<T>(sum_dy);
            // With batch statistics the mean and variance depend on x as well:
            // dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)).
            const double gamma_inv_std = scale_.value[c] * inv_std;
            const double mean_dy = batch_stats ? sum_dy / count : 0.0;
            const double mean_dy_xhat = batch_stats ? sum_dy_xhat / count : 0.0;
            const T a = static_cast<T>(gamma_inv_std);
            const T b = static_cast<T>(-gamma_inv_std * inv_std * mean_dy_xhat);
            const T shift = static_cast<T>(-gamma_inv_std * mean_dy);
            for (index_t s = 0; s < n; ++s)
                plane_of(dx, s, c, plane) =
                    a * plane_of(dy, s, c, plane) + b * (plane_of(x, s, c, plane) - mean_t) + shift;
        }
    }

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "weight"), scale_);
        f(detail::join_name(prefix, "bias"), shift_);
    }

    template <typename F>
    void for_each_buffer(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "running_mean"), running_mean_);
        f(detail::join_name(prefix, "running_var"), running_var_);
    }

  private:
    static index_t plane_size(const shape& in) {
        return in.rank() == 4 ? in[2] * in[3] : 1;
    }

    // The values of channel c of sample s: contiguous in NCHW (one value for [N, C]).
    const_array_map<T> plane_of(const T* data, index_t s, index_t c, index_t plane) const {
        return {data + (s * channels_ + c) * plane, plane};
    }
    array_map<T> plane_of(T* data, index_t s, index_t c, index_t plane) const {
        return {data + (s * channels_ + c) * plane, plane};
    }

    index_t channels_;
    double momentum_, eps_;
    param<T> scale_;
    param<T> shift_;
    tensor<T> running_mean_;
    tensor<T> running_var_;
    // The statistics the last forward normalized with, for backward.
    std::vector<double> mean_;
    std::vector<double> inv_std_;
    mode last_mode_ = mode::train;
    std::vector<T> folded_scale_, folded_shift_;  // eval_affine()
};

}  // namespace bpr
