#pragma once
// bpr::tensor: an owning, 64-byte aligned, row-major array of up to 4 dimensions.

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>

#include "bpr/core/error.hpp"
#include "bpr/core/shape.hpp"

namespace bpr {

// Row-major Eigen matrix and vector types over bpr's storage.
template <typename T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using matrix_map = Eigen::Map<matrix<T>>;
template <typename T>
using const_matrix_map = Eigen::Map<const matrix<T>>;
template <typename T>
using array_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using const_array_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

namespace detail {

inline constexpr std::size_t tensor_alignment = 64;

struct aligned_deleter {
    void operator()(void* pointer) const {
        ::operator delete[](pointer, std::align_val_t{tensor_alignment});
    }
};

}  // namespace detail

// What it represents: a dense block of `shape().numel()` values of type T, NCHW for
// images, OIHW for convolution weights, [out, in] for linear weights.
// Guarantees: data() is 64-byte aligned; copies are deep; resize() keeps the
// allocation when it is large enough, so buffers reused across batches do not
// allocate in the training loop.
template <typename T = float>
class tensor {
    static_assert(std::is_floating_point_v<T> || std::is_integral_v<T>,
                  "bpr::tensor holds arithmetic values");

  public:
    using value_type = T;

    tensor() = default;
    explicit tensor(const bpr::shape& extents) { resize(extents), zero(); }
    tensor(const bpr::shape& extents, T value) { resize(extents), fill(value); }

    tensor(const tensor& other) { *this = other; }
    tensor(tensor&&) noexcept = default;
    tensor& operator=(tensor&&) noexcept = default;
    tensor& operator=(const tensor& other) {
        if (this != &other) {
            resize(other.shape_);
            // A default-constructed tensor (rank 0) has no storage: nothing to copy.
            if (size() > 0 && other.data() != nullptr)
                std::memcpy(data(), other.data(), sizeof(T) * size());
        }
        return *this;
    }

    // Changes the extents; values are unspecified afterwards unless the element
    // count is unchanged (then they are kept).
    void resize(const bpr::shape& extents) {
        const index_t count = extents.numel();
        if (count > capacity_) {
            const std::size_t bytes =
                (sizeof(T) * static_cast<std::size_t>(count) + detail::tensor_alignment - 1) /
                detail::tensor_alignment * detail::tensor_alignment;
            storage_.reset(static_cast<T*>(
                ::operator new[](bytes, std::align_val_t{detail::tensor_alignment})));
            capacity_ = count;
        }
        shape_ = extents;
    }

    const bpr::shape& shape() const { return shape_; }
    index_t size() const { return shape_.numel(); }
    index_t extent(int axis) const { return shape_[axis]; }
    bool empty() const { return size() == 0; }

    T* data() { return storage_.get(); }
    const T* data() const { return storage_.get(); }
    T& operator[](index_t i) { return storage_.get()[i]; }
    const T& operator[](index_t i) const { return storage_.get()[i]; }
    std::span<T> span() { return {data(), static_cast<std::size_t>(size())}; }
    std::span<const T> span() const { return {data(), static_cast<std::size_t>(size())}; }
    T* begin() { return data(); }
    T* end() { return data() + size(); }
    const T* begin() const { return data(); }
    const T* end() const { return data() + size(); }

    // Element of a rank-4 tensor, for tests and cold code (no bounds check).
    T& operator()(index_t n, index_t c, index_t h, index_t w) {
        return data()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
    }
    const T& operator()(index_t n, index_t c, index_t h, index_t w) const {
        return data()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
    }

    void fill(T value) { std::fill(begin(), end(), value); }
    void zero() {
        if (size() > 0) std::memset(data(), 0, sizeof(T) * size());
    }

    // The whole tensor as a rows x cols row-major matrix (rows * cols == size()).
    matrix_map<T> as_matrix(index_t rows, index_t cols) {
        BPR_REQUIRE(rows * cols == size(), "tensor::as_matrix: ", rows, "x", cols,
                    " does not cover shape ", shape_.str());
        return {data(), rows, cols};
    }
    const_matrix_map<T> as_matrix(index_t rows, index_t cols) const {
        BPR_REQUIRE(rows * cols == size(), "tensor::as_matrix: ", rows, "x", cols,
                    " does not cover shape ", shape_.str());
        return {data(), rows, cols};
    }
    array_map<T> as_array() { return {data(), size()}; }
    const_array_map<T> as_array() const { return {data(), size()}; }

  private:
    std::unique_ptr<T[], detail::aligned_deleter> storage_;
    index_t capacity_ = 0;
    bpr::shape shape_;
};

// Throws bpr::error naming `where` unless `t` has exactly the shape `expected`.
template <typename T>
void require_shape(const tensor<T>& t, const shape& expected, const char* where,
                   const char* field) {
    BPR_REQUIRE(t.shape() == expected, where, ": ", field, " has shape ", t.shape().str(),
                ", expected ", expected.str());
}

}  // namespace bpr
