#pragma once
// bpr::repeat: a run-time number of blocks of one type applied in order (a ResNet
// stage, a DenseNet dense block, EfficientNet's MBConv list).

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpr/core/error.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr {

// What it represents: block 0 -> block 1 -> ... -> block n-1, where the blocks share a
// type but not their sizes (the first block of a stage may downsample); like
// torch.nn.Sequential of identical modules.
// Requires: at least one block before the first forward.
// Guarantees: block i reports its parameters under "<prefix>.i", as PyTorch does;
// intermediate activations are kept for backward and reused across batches; errors
// name the block ("repeat block 2: conv2d: ...").
template <layer Block>
class repeat {
  public:
    using value_type = typename Block::value_type;

    repeat() = default;
    explicit repeat(std::vector<Block> blocks) : blocks_(std::move(blocks)) {}

    // Appends a block; returns it so callers can adjust it.
    Block& push_back(Block block) {
        blocks_.push_back(std::move(block));
        return blocks_.back();
    }

    std::size_t size() const { return blocks_.size(); }
    Block& operator[](std::size_t i) { return blocks_[i]; }
    const Block& operator[](std::size_t i) const { return blocks_[i]; }
    auto begin() { return blocks_.begin(); }
    auto end() { return blocks_.end(); }

    shape output_shape(const shape& in) const {
        BPR_REQUIRE(!blocks_.empty(), "repeat: has no blocks (input shape ", in.str(), ")");
        shape current = in;
        for (std::size_t i = 0; i < blocks_.size(); ++i)
            current = in_block(i, [&] { return blocks_[i].output_shape(current); });
        return current;
    }

    void forward(const tensor<value_type>& in, tensor<value_type>& out, mode m) {
        BPR_REQUIRE(!blocks_.empty(), "repeat: has no blocks (input shape ", in.shape().str(), ")");
        const std::size_t n = blocks_.size();
        activations_.resize(n - 1);
        for (std::size_t i = 0; i < n; ++i) {
            const tensor<value_type>& x = i == 0 ? in : activations_[i - 1];
            tensor<value_type>& y = i + 1 == n ? out : activations_[i];
            in_block(i, [&] { blocks_[i].forward(x, y, m); });
        }
    }

    void backward(const tensor<value_type>& in, const tensor<value_type>& out,
                  const tensor<value_type>& grad_out, tensor<value_type>& grad_in) {
        const std::size_t n = blocks_.size();
        BPR_REQUIRE(n > 0 && activations_.size() + 1 == n,
                    "repeat::backward: called without a matching forward (", n, " blocks)");
        // Two gradient buffers used alternately: block i reads buffer i % 2 and writes
        // the other, and no gradient is needed after the next block's backward.
        for (std::size_t i = n; i-- > 0;) {
            const tensor<value_type>& x = i == 0 ? in : activations_[i - 1];
            const tensor<value_type>& y = i + 1 == n ? out : activations_[i];
            const tensor<value_type>& dy = i + 1 == n ? grad_out : gradients_[i % 2];
            tensor<value_type>& dx = i == 0 ? grad_in : gradients_[(i + 1) % 2];
            in_block(i, [&] { blocks_[i].backward(x, y, dy, dx); });
        }
    }

    template <typename Visit>
    void for_each_child(std::string_view prefix, Visit&& visit) {
        for (std::size_t i = 0; i < blocks_.size(); ++i)
            visit(blocks_[i], detail::join_name(prefix, std::to_string(i)));
    }

  private:
    template <typename Body>
    static decltype(auto) in_block(std::size_t i, Body&& body) {
        try {
            return body();
        } catch (const error& e) {
            throw error(detail::concat("repeat block ", i, ": ", e.what()));
        }
    }

    std::vector<Block> blocks_;
    std::vector<tensor<value_type>> activations_;
    std::array<tensor<value_type>, 2> gradients_;
};

}  // namespace bpr
