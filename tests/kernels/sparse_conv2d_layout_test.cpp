#include <catch2/catch.hpp>

#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/kernels/sparse_conv2d_layout.hpp"

namespace {

using bpr::index_t;
namespace k = bpr::kernels;

k::conv2d_geometry make(index_t c, index_t o, index_t h, index_t kernel, index_t stride,
                        index_t pad) {
    k::conv2d_geometry g;
    g.in_channels = c, g.out_channels = o, g.in_h = g.in_w = h;
    g.kernel_h = g.kernel_w = kernel, g.stride_h = g.stride_w = stride, g.pad_h = g.pad_w = pad;
    return g;
}

}  // namespace

TEST_CASE("sparse conv2d packing round-trips the dense weight", "[kernels][sparse_conv2d_layout]") {
    bpr::rng r(21);
    const k::conv2d_geometry shapes[] = {make(3, 5, 8, 3, 1, 1),  make(4, 7, 9, 3, 2, 1),
                                         make(2, 3, 11, 5, 2, 2), make(5, 9, 6, 1, 1, 0),
                                         make(3, 4, 15, 7, 1, 3), make(70, 6, 30, 3, 1, 1)};
    for (const auto& g : shapes)
        for (double density : {0.0, 0.1, 0.6, 1.0}) {
            bpr::tensor<float> w(g.weight_shape());
            index_t nonzeros = 0;
            for (auto& v : w) {
                v = r.uniform() < density ? static_cast<float>(r.uniform(0.1, 1.0)) : 0.0f;
                nonzeros += v != 0.0f;
            }
            for (index_t chunk : {0, 1, 3}) {
                k::sparse_conv2d_options options;
                options.chunk_channels = chunk;
                const auto packed = k::sparse_conv2d_weights::pack(g, w.data(), options);
                REQUIRE(packed.nnz() == nonzeros);
                CHECK(packed.bytes() >= nonzeros * 6);
                bpr::tensor<float> back(g.weight_shape(), 5.0f);
                packed.unpack(back.data());
                for (index_t i = 0; i < w.size(); ++i)
                    REQUIRE(back[i] == w[i]);
                // Every output channel appears exactly once in the row order.
                std::vector<int> seen(static_cast<std::size_t>(g.out_channels), 0);
                for (index_t o : packed.row_order)
                    if (o >= 0) ++seen[static_cast<std::size_t>(o)];
                for (int count : seen)
                    REQUIRE(count == 1);
            }
        }
}

TEST_CASE("sparse conv2d offsets are 16-bit whenever a chunk can hold them",
          "[kernels][sparse_conv2d_layout]") {
    bpr::rng r(22);
    const auto g = make(70, 4, 30, 3, 1, 1);  // 70 x 32 x 32 = 71680 floats
    bpr::tensor<float> w(g.weight_shape(), 1.0f);
    k::sparse_conv2d_options options;
    options.chunk_channels = 70;
    const auto packed = k::sparse_conv2d_weights::pack(g, w.data(), options);
    CHECK_FALSE(packed.wide);
    CHECK(packed.chunks == 2);
    CHECK(packed.chunk_channels * packed.channel_stride <= 65536 + packed.channel_stride);
    for (auto off : packed.offsets16)
        REQUIRE(off <= 63 * 1024 + 2 * 32 + 2);
    options.force_wide_offsets = true;
    const auto wide = k::sparse_conv2d_weights::pack(g, w.data(), options);
    CHECK(wide.wide);
    CHECK(wide.chunks == 1);
    CHECK(wide.bytes() > packed.bytes());
}

TEST_CASE("sparse conv2d packing rejects what it cannot pack", "[kernels][sparse_conv2d_layout]") {
    auto g = make(4, 4, 8, 3, 1, 1);
    bpr::tensor<float> w(g.weight_shape(), 1.0f);
    g.groups = 2;
    REQUIRE_THROWS_WITH(k::sparse_conv2d_weights::pack(g, w.data()), Catch::Contains("groups"));
    g.groups = 1, g.stride_w = 2;
    REQUIRE_THROWS_WITH(k::sparse_conv2d_weights::pack(g, w.data()), Catch::Contains("stride"));
}
