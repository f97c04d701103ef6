#pragma once
// bpr::data::batch_loader: seeded, shuffled, augmented mini-batches of float images.

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/data/dataset.hpp"
#include "bpr/data/transforms.hpp"

namespace bpr::data {

// How a batch_loader draws batches. `norm` empty means "scale to [0, 1]" only.
struct loader_options {
    index_t batch_size = 128;
    bool shuffle = true;     // a new seeded order every epoch; false: dataset order
    bool drop_last = false;  // drop the last, smaller batch
    std::uint64_t seed = 0;
    normalization norm{};
    augmentation augment{};  // none by default (evaluation)
    // Convert the images of a batch with OpenMP. Off by default: one thread converts
    // ~90,000 augmented CIFAR images/s, far above what training consumes, and an extra
    // parallel region per batch only competes with the model's own threads.
    bool parallel = false;
};

// One mini-batch: images [B, C, H, W] normalized floats, their labels, and the
// dataset indices they came from.
struct batch {
    tensor<float> images;
    std::vector<int> labels;
    std::vector<index_t> indices;
    index_t number = 0;  // position of the batch within its epoch
};

}  // namespace bpr::data

namespace bpr::detail {
// Combines two 64-bit keys into a well-mixed seed (splitmix64 finalizer).
inline std::uint64_t seed_mix(std::uint64_t a, std::uint64_t b) {
    std::uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
}  // namespace bpr::detail

namespace bpr::data {

// What it represents: an epoch-by-epoch view of a dataset as mini-batches.
// Requires: a valid dataset (dataset::validate) that outlives the loader and stays
// unchanged; batch_size > 0.
// Guarantees: the order of epoch e depends only on (seed, e); the augmentation of the
// k-th image of epoch e depends only on (seed, e, k), so batches are identical for any
// thread count and whether or not they are loaded in order. Byte-to-float conversion
// is a table lookup fused with crop, flip and cutout; with options.parallel the images of a
// batch are converted by OpenMP threads.
class batch_loader {
  public:
    batch_loader(const dataset& data, loader_options options)
        : data_(&data), options_(std::move(options)) {
        const std::string where = "data::batch_loader of " + data.source;
        BPR_REQUIRE(options_.batch_size > 0, where, ": batch_size is ", options_.batch_size,
                    ", expected > 0");
        BPR_REQUIRE(options_.augment.pad >= 0 && options_.augment.pad <= (1 << 16), where,
                    ": augmentation pad is ", options_.augment.pad, ", expected 0 to 65536");
        BPR_REQUIRE(options_.augment.cutout >= 0 && options_.augment.cutout <= (1 << 16), where,
                    ": cutout is ", options_.augment.cutout, ", expected 0 to 65536");
        data.validate();  // shapes, label count and range: cheap next to one epoch
        options_.norm.check(data.channels(), where);
        tables_ = options_.norm.lookup_tables(data.channels());
        order_.resize(static_cast<std::size_t>(data.size()));
        start_epoch(0);
    }
    batch_loader(dataset&&, loader_options) = delete;  // would dangle

    const dataset& data() const { return *data_; }
    const loader_options& options() const { return options_; }

    // Batches per epoch: ceil(N / B), or floor(N / B) with drop_last.
    index_t batches_per_epoch() const {
        const index_t n = data_->size(), b = options_.batch_size;
        return options_.drop_last ? n / b : (n + b - 1) / b;
    }
    // Images per epoch (all of them unless drop_last drops a tail).
    index_t images_per_epoch() const {
        return std::min(data_->size(), batches_per_epoch() * options_.batch_size);
    }

    // Sets the epoch whose order load() uses; cheap to call repeatedly.
    void start_epoch(std::int64_t epoch) {
        epoch_ = epoch;
        std::iota(order_.begin(), order_.end(), index_t{0});
        if (options_.shuffle) {
            rng generator(detail::seed_mix(options_.seed, static_cast<std::uint64_t>(epoch)));
            bpr::shuffle(order_.begin(), order_.end(), generator);
        }
    }
    std::int64_t epoch() const { return epoch_; }

    // The dataset indices of the current epoch in visiting order.
    std::span<const index_t> order() const { return order_; }

    // Fills `out` with batch `number` of the current epoch, reusing its buffers.
    void load(index_t number, batch& out) const {
        BPR_REQUIRE(number >= 0 && number < batches_per_epoch(), "data::batch_loader of ",
                    data_->source, ": batch ", number, " is outside [0, ", batches_per_epoch(),
                    ") of epoch ", epoch_);
        const index_t first = number * options_.batch_size;
        const index_t count = std::min(options_.batch_size, data_->size() - first);
        const index_t c = data_->channels(), h = data_->height(), w = data_->width();
        out.number = number;
        out.images.resize({count, c, h, w});
        out.labels.resize(static_cast<std::size_t>(count));
        out.indices.resize(static_cast<std::size_t>(count));
        const std::uint64_t epoch_key = detail::seed_mix(options_.seed ^ 0xa5a5a5a5a5a5a5a5ULL,
                                                         static_cast<std::uint64_t>(epoch_));
        float* destination = out.images.data();
        const bool augmenting = options_.augment.enabled();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (options_.parallel && count * c * h * w >= (1 << 15))
#endif
        for (index_t k = 0; k < count; ++k) {
            const index_t position = first + k;
            const index_t index = order_[static_cast<std::size_t>(position)];
            augment_draw shift;
            if (augmenting) {
                rng generator(detail::seed_mix(epoch_key, static_cast<std::uint64_t>(position)));
                shift = draw(options_.augment, generator, h, w);
            }
            convert_image(data_->image(index).data(), c, h, w, tables_, shift,
                          destination + k * c * h * w);
            out.labels[static_cast<std::size_t>(k)] =
                data_->labels[static_cast<std::size_t>(index)];
            out.indices[static_cast<std::size_t>(k)] = index;
        }
    }

    // Range over the batches of one epoch; the range owns one batch buffer that each
    // step refills (copy the batch to keep it). Calls start_epoch(epoch).
    class epoch_range;
    epoch_range epoch(std::int64_t number);

  private:
    const dataset* data_;
    loader_options options_;
    std::vector<std::array<float, 256>> tables_;
    std::vector<index_t> order_;
    std::int64_t epoch_ = 0;
};

class batch_loader::epoch_range {
  public:
    class iterator {
      public:
        using value_type = batch;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        iterator(epoch_range* range, index_t number) : range_(range), number_(number) {
            if (range_ != nullptr && number_ < range_->end_) range_->fill(number_);
        }
        const batch& operator*() const { return range_->buffer_; }
        const batch* operator->() const { return &range_->buffer_; }
        iterator& operator++() {
            ++number_;
            if (number_ < range_->end_) range_->fill(number_);
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t) const { return number_ >= range_->end_; }

      private:
        epoch_range* range_ = nullptr;
        index_t number_ = 0;
    };

    explicit epoch_range(batch_loader& loader)
        : loader_(&loader), end_(loader.batches_per_epoch()) {}
    iterator begin() { return iterator(this, 0); }
    std::default_sentinel_t end() const { return {}; }
    index_t size() const { return end_; }

  private:
    void fill(index_t number) { loader_->load(number, buffer_); }

    batch_loader* loader_;
    index_t end_;
    batch buffer_;
};

inline batch_loader::epoch_range batch_loader::epoch(std::int64_t number) {
    start_epoch(number);
    return epoch_range(*this);
}

}  // namespace bpr::data
