#pragma once
// The sizes of one 2-D convolution, shared by the dense and sparse kernels.

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"

namespace bpr::kernels {

// NCHW input [batch, in_channels, in_h, in_w], OIHW weight
// [out_channels, in_channels / groups, kernel_h, kernel_w], zero padding.
struct conv2d_geometry {
    index_t batch = 1;
    index_t in_channels = 1, in_h = 1, in_w = 1;
    index_t out_channels = 1;
    index_t kernel_h = 1, kernel_w = 1;
    index_t stride_h = 1, stride_w = 1;
    index_t pad_h = 0, pad_w = 0;
    index_t groups = 1;

    index_t out_h() const { return (in_h + 2 * pad_h - kernel_h) / stride_h + 1; }
    index_t out_w() const { return (in_w + 2 * pad_w - kernel_w) / stride_w + 1; }
    index_t in_channels_per_group() const { return in_channels / groups; }
    index_t out_channels_per_group() const { return out_channels / groups; }
    // Rows of the im2col matrix of one group: (C / groups) * kh * kw.
    index_t patch_size() const { return in_channels_per_group() * kernel_h * kernel_w; }

    shape input_shape() const { return {batch, in_channels, in_h, in_w}; }
    shape weight_shape() const {
        return {out_channels, in_channels_per_group(), kernel_h, kernel_w};
    }
    shape output_shape() const { return {batch, out_channels, out_h(), out_w()}; }

    // Throws bpr::error naming the offending field unless the sizes are consistent.
    void validate(const char* where) const {
        BPR_REQUIRE(batch >= 0, where, ": batch must be >= 0, got ", batch);
        BPR_REQUIRE(in_channels >= 1 && out_channels >= 1, where,
                    ": channels must be >= 1, got in_channels ", in_channels, ", out_channels ",
                    out_channels);
        BPR_REQUIRE(in_h >= 1 && in_w >= 1, where, ": input must be at least 1x1, got ", in_h, "x",
                    in_w);
        BPR_REQUIRE(kernel_h >= 1 && kernel_w >= 1, where, ": kernel must be at least 1x1, got ",
                    kernel_h, "x", kernel_w);
        BPR_REQUIRE(groups >= 1, where, ": groups must be >= 1, got ", groups);
        BPR_REQUIRE(in_channels % groups == 0, where, ": in_channels ", in_channels,
                    " is not divisible by groups ", groups);
        BPR_REQUIRE(out_channels % groups == 0, where, ": out_channels ", out_channels,
                    " is not divisible by groups ", groups);
        BPR_REQUIRE(stride_h >= 1 && stride_w >= 1, where, ": stride must be >= 1, got ", stride_h,
                    "x", stride_w);
        BPR_REQUIRE(pad_h >= 0 && pad_w >= 0, where, ": padding must be >= 0, got ", pad_h, "x",
                    pad_w);
        BPR_REQUIRE(in_h + 2 * pad_h >= kernel_h && in_w + 2 * pad_w >= kernel_w, where, ": input ",
                    in_h, "x", in_w, " with padding ", pad_h, "x", pad_w,
                    " is smaller than the kernel ", kernel_h, "x", kernel_w);
    }
};

}  // namespace bpr::kernels
