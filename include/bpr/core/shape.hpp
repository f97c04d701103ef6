#pragma once
// bpr::shape: the extents of a tensor, up to four dimensions (NCHW for images).

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "bpr/core/error.hpp"

namespace bpr {

using index_t = std::int64_t;

// An ordered list of at most 4 non-negative extents. Cheap to copy; compared by value.
class shape {
  public:
    static constexpr int max_rank = 4;

    constexpr shape() = default;
    constexpr shape(std::initializer_list<index_t> extents) {
        BPR_REQUIRE(extents.size() <= max_rank, "shape: rank ", extents.size(), " exceeds ",
                    max_rank);
        for (index_t extent : extents) {
            BPR_REQUIRE(extent >= 0, "shape: negative extent ", extent);
            extents_[rank_++] = extent;
        }
    }

    constexpr int rank() const { return rank_; }
    constexpr index_t operator[](int axis) const { return extents_[axis]; }
    constexpr index_t& operator[](int axis) { return extents_[axis]; }

    // Number of elements: the product of the extents (1 for rank 0).
    constexpr index_t numel() const {
        index_t count = 1;
        for (int axis = 0; axis < rank_; ++axis)
            count *= extents_[axis];
        return count;
    }

    constexpr bool operator==(const shape& other) const {
        if (rank_ != other.rank_) return false;
        for (int axis = 0; axis < rank_; ++axis)
            if (extents_[axis] != other.extents_[axis]) return false;
        return true;
    }

    // "[128, 3, 32, 32]", for error messages and reports.
    std::string str() const {
        std::string text = "[";
        for (int axis = 0; axis < rank_; ++axis) {
            if (axis > 0) text += ", ";
            text += std::to_string(extents_[axis]);
        }
        return text + "]";
    }

  private:
    std::array<index_t, max_rank> extents_{};
    int rank_ = 0;
};

}  // namespace bpr
