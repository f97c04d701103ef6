#pragma once
// Per-channel normalization, random crop with zero padding, horizontal flip and cutout.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/data/dataset.hpp"

namespace bpr::data {

// What it represents: per-channel mean and standard deviation of pixel values scaled to
// [0, 1]; a pixel p of channel c becomes (p / 255 - mean[c]) / stddev[c].
// Requires (checked by check()): equal lengths, every stddev > 0. An empty
// normalization means "only scale to [0, 1]".
struct normalization {
    std::vector<float> mean{};
    std::vector<float> stddev{};

    index_t channels() const { return static_cast<index_t>(mean.size()); }

    // Throws bpr::error naming `where` unless the requirements hold and the channel count
    // is `channels` (or the normalization is empty).
    void check(index_t channels, const std::string& where) const {
        BPR_REQUIRE(mean.size() == stddev.size(), where, ": normalization has ", mean.size(),
                    " means but ", stddev.size(), " standard deviations");
        BPR_REQUIRE(mean.empty() || static_cast<index_t>(mean.size()) == channels, where,
                    ": normalization has ", mean.size(), " channels, the images have ", channels);
        for (std::size_t c = 0; c < stddev.size(); ++c)
            BPR_REQUIRE(stddev[c] > 0.0f && std::isfinite(stddev[c]) && std::isfinite(mean[c]),
                        where, ": normalization channel ", c, " has mean ", mean[c], " and stddev ",
                        stddev[c], "; stddev must be finite and > 0");
    }

    // The value of every byte 0..255 for each channel: normalizing is then a table
    // lookup, exact and the same on every platform.
    std::vector<std::array<float, 256>> lookup_tables(index_t channels) const {
        std::vector<std::array<float, 256>> tables(static_cast<std::size_t>(channels));
        for (index_t c = 0; c < channels; ++c) {
            const double m = mean.empty() ? 0.0 : mean[static_cast<std::size_t>(c)];
            const double s = stddev.empty() ? 1.0 : stddev[static_cast<std::size_t>(c)];
            for (int p = 0; p < 256; ++p)
                tables[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)] =
                    static_cast<float>((p / 255.0 - m) / s);
        }
        return tables;
    }
};

// The per-channel mean and (population) standard deviation of a dataset's pixels in
// [0, 1] units, accumulated exactly in integers. Requires a non-empty dataset whose
// channels are not constant.
inline normalization compute_normalization(const dataset& data) {
    BPR_REQUIRE(!data.empty(), "data::compute_normalization: dataset ", data.source, " is empty");
    const index_t channels = data.channels();
    const index_t plane = data.height() * data.width();
    normalization result;
    for (index_t c = 0; c < channels; ++c) {
        std::uint64_t sum = 0, sum_sq = 0;
        for (index_t i = 0; i < data.size(); ++i) {
            const std::uint8_t* pixels = data.image(i).data() + c * plane;
            for (index_t p = 0; p < plane; ++p) {
                sum += pixels[p];
                sum_sq += std::uint64_t{pixels[p]} * pixels[p];
            }
        }
        const double n = static_cast<double>(data.size() * plane);
        const double mean = static_cast<double>(sum) / n;
        const double variance = std::max(0.0, static_cast<double>(sum_sq) / n - mean * mean);
        result.mean.push_back(static_cast<float>(mean / 255.0));
        result.stddev.push_back(static_cast<float>(std::sqrt(variance) / 255.0));
    }
    result.check(channels, "data::compute_normalization of " + data.source);
    return result;
}

// What it represents: the random augmentation applied to training images. `pad` > 0
// takes a random H x W crop of the image padded by `pad` black pixels on every side
// (as torchvision's RandomCrop(size, padding=pad) does before normalization); `flip`
// mirrors the image left-right with probability 1/2; `cutout` > 0 sets a `cutout` x
// `cutout` square around a uniformly random pixel (clipped at the border) to 0 after
// normalization, i.e. to the channel mean, in every channel (Cutout, DeVries & Taylor
// 2017; they use 16 on CIFAR-10). Cutout comes last: the square lands on the cropped,
// flipped image.
struct augmentation {
    int pad = 0;
    bool flip = false;
    int cutout = 0;

    bool enabled() const { return pad > 0 || flip || cutout > 0; }
};

// One draw of an augmentation: the crop offset (in [-pad, pad]), the mirror flag and
// the cutout square, rows [cut_top, cut_top + cut_size) and columns [cut_left,
// cut_left + cut_size) of the output, possibly reaching past its border (cut_size 0:
// no cutout).
struct augment_draw {
    int dy = 0;
    int dx = 0;
    bool flip = false;
    index_t cut_top = 0;
    index_t cut_left = 0;
    index_t cut_size = 0;
};

// Draws the parameters of one image's augmentation. Crop and flip always consume the
// same three values from `generator`, so a run without cutout draws what it drew before
// cutout existed; cutout draws its centre after them and needs the image's `height` and
// `width`.
inline augment_draw draw(const augmentation& settings, rng& generator, index_t height = 0,
                         index_t width = 0) {
    augment_draw result;
    const std::uint64_t span = 2 * static_cast<std::uint64_t>(std::max(settings.pad, 0)) + 1;
    const auto dy = static_cast<int>(generator.below(span));
    const auto dx = static_cast<int>(generator.below(span));
    const bool flip = (generator() >> 63) != 0;
    result.dy = dy - settings.pad;
    result.dx = dx - settings.pad;
    result.flip = settings.flip && flip;
    if (settings.cutout > 0) {
        BPR_REQUIRE(height > 0 && width > 0, "data::draw: cutout ", settings.cutout,
                    " needs the image size, got ", height, " x ", width);
        const auto centre_y =
            static_cast<index_t>(generator.below(static_cast<std::uint64_t>(height)));
        const auto centre_x =
            static_cast<index_t>(generator.below(static_cast<std::uint64_t>(width)));
        result.cut_size = settings.cutout;
        result.cut_top = centre_y - settings.cutout / 2;
        result.cut_left = centre_x - settings.cutout / 2;
    }
    return result;
}

// Converts one [C, H, W] byte image to floats through `tables`, shifted by the draw
// (output (y, x) reads input (y + dy, x' + dx) where x' = W-1-x when flipped, else x;
// pixels outside the input read as byte 0) — crop, flip and normalization in one pass —
// then zeroes the draw's cutout square.
inline void convert_image(const std::uint8_t* source, index_t channels, index_t height,
                          index_t width, const std::vector<std::array<float, 256>>& tables,
                          const augment_draw& shift, float* destination) {
    for (index_t c = 0; c < channels; ++c) {
        const std::array<float, 256>& table = tables[static_cast<std::size_t>(c)];
        const std::uint8_t* plane = source + c * height * width;
        float* out = destination + c * height * width;
        const float zero = table[0];
        for (index_t y = 0; y < height; ++y) {
            float* row = out + y * width;
            const index_t sy = y + shift.dy;
            if (sy < 0 || sy >= height) {
                for (index_t x = 0; x < width; ++x)
                    row[x] = zero;
                continue;
            }
            const std::uint8_t* in = plane + sy * width;
            if (!shift.flip) {
                for (index_t x = 0; x < width; ++x) {
                    const index_t sx = x + shift.dx;
                    row[x] = (sx >= 0 && sx < width) ? table[in[sx]] : zero;
                }
            } else {
                for (index_t x = 0; x < width; ++x) {
                    const index_t sx = width - 1 - x + shift.dx;
                    row[x] = (sx >= 0 && sx < width) ? table[in[sx]] : zero;
                }
            }
        }
    }
    if (shift.cut_size <= 0) return;
    const index_t top = std::max<index_t>(shift.cut_top, 0);
    const index_t bottom = std::min<index_t>(shift.cut_top + shift.cut_size, height);
    const index_t left = std::max<index_t>(shift.cut_left, 0);
    const index_t right = std::min<index_t>(shift.cut_left + shift.cut_size, width);
    if (top >= bottom || left >= right) return;
    for (index_t c = 0; c < channels; ++c)
        for (index_t y = top; y < bottom; ++y) {
            float* row = destination + (c * height + y) * width;
            std::fill(row + left, row + right, 0.0f);
        }
}

// In-place random crop with zero padding of a float batch [N, C, H, W] (for data that
// is already normalized: padding is 0.0, the mean). One draw per image.
inline void random_crop(tensor<float>& images, int pad, rng& generator) {
    BPR_REQUIRE(images.shape().rank() == 4, "data::random_crop: images have shape ",
                images.shape().str(), ", expected [N, C, H, W]");
    BPR_REQUIRE(pad >= 0, "data::random_crop: pad is ", pad, ", expected >= 0");
    const index_t n = images.extent(0), c = images.extent(1), h = images.extent(2),
                  w = images.extent(3);
    std::vector<float> copy(static_cast<std::size_t>(c * h * w));
    const std::uint64_t span = 2 * static_cast<std::uint64_t>(pad) + 1;
    for (index_t i = 0; i < n; ++i) {
        const index_t dy = static_cast<index_t>(generator.below(span)) - pad;
        const index_t dx = static_cast<index_t>(generator.below(span)) - pad;
        float* image = images.data() + i * c * h * w;
        std::copy(image, image + c * h * w, copy.begin());
        for (index_t ch = 0; ch < c; ++ch)
            for (index_t y = 0; y < h; ++y)
                for (index_t x = 0; x < w; ++x) {
                    const index_t sy = y + dy, sx = x + dx;
                    image[(ch * h + y) * w + x] =
                        (sy >= 0 && sy < h && sx >= 0 && sx < w)
                            ? copy[static_cast<std::size_t>((ch * h + sy) * w + sx)]
                            : 0.0f;
                }
    }
}

// In-place left-right mirror of each image of a float batch [N, C, H, W] with
// probability 1/2 (one draw per image).
inline void random_flip(tensor<float>& images, rng& generator) {
    BPR_REQUIRE(images.shape().rank() == 4, "data::random_flip: images have shape ",
                images.shape().str(), ", expected [N, C, H, W]");
    const index_t n = images.extent(0), rows = images.extent(1) * images.extent(2),
                  w = images.extent(3);
    for (index_t i = 0; i < n; ++i) {
        if ((generator() >> 63) == 0) continue;
        float* image = images.data() + i * rows * w;
        for (index_t r = 0; r < rows; ++r)
            std::reverse(image + r * w, image + (r + 1) * w);
    }
}

}  // namespace bpr::data
