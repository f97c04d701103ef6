#include <catch2/catch.hpp>

#include <vector>

#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/kernels/conv2d_reference.hpp"
#include "bpr/kernels/depthwise.hpp"

namespace {

using bpr::index_t;
namespace k = bpr::kernels;

bpr::tensor<float> random_tensor(const bpr::shape& s, bpr::rng& r, double density = 1.0) {
    bpr::tensor<float> t(s);
    for (auto& v : t) {
        const auto x = static_cast<float>(r.uniform(-1.0, 1.0));
        v = r.uniform() < density ? x : 0.0f;
    }
    return t;
}

}  // namespace

TEST_CASE("depthwise conv2d equals its twin and the grouped dense convolution",
          "[kernels][depthwise]") {
    struct config {
        index_t batch, c, h, w, kernel, stride, pad;
        double density;
    };
    const config cases[] = {{1, 3, 8, 8, 3, 1, 1, 1.0},   {2, 5, 9, 7, 3, 2, 1, 0.5},
                            {1, 4, 13, 11, 5, 1, 2, 0.3}, {3, 2, 12, 12, 5, 2, 2, 1.0},
                            {1, 6, 7, 7, 7, 1, 3, 0.0},   {2, 16, 14, 14, 3, 1, 1, 0.6},
                            {1, 3, 33, 31, 3, 2, 1, 0.8}};
    bpr::rng r(31);
    for (const auto& c : cases)
        for (bool masked : {false, true})
            for (auto act : {k::activation::none, k::activation::relu6, k::activation::silu}) {
                k::conv2d_geometry g;
                g.batch = c.batch, g.in_channels = g.out_channels = g.groups = c.c;
                g.in_h = c.h, g.in_w = c.w, g.kernel_h = g.kernel_w = c.kernel;
                g.stride_h = g.stride_w = c.stride, g.pad_h = g.pad_w = c.pad;
                const auto weight = random_tensor(g.weight_shape(), r, c.density);
                const auto input = random_tensor(g.input_shape(), r);
                const auto scale = random_tensor({c.c}, r), bias = random_tensor({c.c}, r);
                const k::epilogue e{scale.data(), bias.data(), act};
                const auto packed = k::depthwise_conv2d_weights::pack(g, weight.data(), masked);
                index_t nonzeros = 0;
                for (float v : weight)
                    nonzeros += v != 0.0f;
                CHECK(packed.nnz() == (masked ? nonzeros : weight.size()));

                bpr::tensor<float> fast(g.output_shape(), -3.0f), twin(g.output_shape(), -3.0f),
                    dense(g.output_shape());
                k::sparse_conv2d_workspace workspace;
                k::depthwise_conv2d_forward(packed, c.batch, input.data(), fast.data(), e,
                                            workspace);
                k::depthwise_conv2d_reference_forward(packed, c.batch, input.data(), twin.data(),
                                                      e);
                k::conv2d_reference_forward<float>(g, input.data(), weight.data(), nullptr,
                                                   dense.data());
                const index_t plane = g.out_h() * g.out_w();
                for (index_t i = 0; i < fast.size(); ++i) {
                    const index_t ch = i / plane % c.c;
                    const float expected = k::epilogue_scalar(e, ch, dense[i]);
                    REQUIRE(twin[i] == Approx(expected).margin(1e-5));
                    REQUIRE(fast[i] == Approx(twin[i]).margin(1e-5));
                }
            }
}

TEST_CASE("depthwise conv2d is bitwise identical for 1 and 2 threads", "[kernels][depthwise]") {
    // 7 channels of 10x10 stay on one thread (below min_parallel_work); 64 of 64x64 are
    // split across the threads.
    bpr::rng r(32);
    for (index_t channels_and_size : {7, 64}) {
        k::conv2d_geometry g;
        g.batch = 3, g.in_channels = g.out_channels = g.groups = channels_and_size;
        g.in_h = g.in_w = channels_and_size == 7 ? 10 : 64;
        g.kernel_h = g.kernel_w = 3, g.pad_h = g.pad_w = 1;
        const auto weight = random_tensor(g.weight_shape(), r);
        const auto input = random_tensor(g.input_shape(), r);
        const auto packed = k::depthwise_conv2d_weights::pack(g, weight.data(), false);
        const long long work = 3LL * packed.nnz() * packed.tiles * packed.tile_vectors;
        CHECK((work >= bpr::min_parallel_work) == (channels_and_size == 64));
        bpr::tensor<float> one(g.output_shape()), two(g.output_shape());
        k::sparse_conv2d_workspace workspace;
        const int saved = bpr::threads();
        bpr::set_threads(1);
        k::depthwise_conv2d_forward(packed, 3, input.data(), one.data(), {}, workspace);
        bpr::set_threads(2);
        k::depthwise_conv2d_forward(packed, 3, input.data(), two.data(), {}, workspace);
        bpr::set_threads(saved);
        for (index_t i = 0; i < one.size(); ++i)
            REQUIRE(one[i] == two[i]);
    }
}

TEST_CASE("depthwise packing rejects non-depthwise geometry", "[kernels][depthwise]") {
    k::conv2d_geometry g;
    g.in_channels = g.out_channels = 4, g.groups = 2, g.in_h = g.in_w = 5;
    g.kernel_h = g.kernel_w = 3;
    std::vector<float> weight(4 * 2 * 9, 1.0f);
    REQUIRE_THROWS_WITH(k::depthwise_conv2d_weights::pack(g, weight.data(), true),
                        Catch::Contains("groups"));
}
