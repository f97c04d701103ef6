#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/kernels/conv2d_reference.hpp"
#include "bpr/kernels/sparse_conv2d.hpp"
#include "bpr/kernels/sparse_conv2d_reference.hpp"

#include "../support/random_values.hpp"

namespace {

using bpr::index_t;
namespace k = bpr::kernels;

struct sparse_case {
    index_t batch, c, o, h, w, kernel, stride, pad;
    double density;
    bool empty_rows;
};

k::conv2d_geometry sparse_geometry_of(const sparse_case& c) {
    k::conv2d_geometry g;
    g.batch = c.batch, g.in_channels = c.c, g.in_h = c.h, g.in_w = c.w, g.out_channels = c.o;
    g.kernel_h = g.kernel_w = c.kernel, g.stride_h = g.stride_w = c.stride;
    g.pad_h = g.pad_w = c.pad;
    g.validate("sparse_conv2d_test");
    return g;
}

// Uniform values in [-1, 1], kept with probability `density`; every third output row
// emptied when asked.
bpr::tensor<float> sparse_weight(const k::conv2d_geometry& g, double density, bool empty_rows,
                                 bpr::rng& r) {
    bpr::tensor<float> w(g.weight_shape());
    const index_t per_row = w.size() / g.out_channels;
    for (index_t i = 0; i < w.size(); ++i) {
        const bool keep = r.uniform() < density && !(empty_rows && (i / per_row) % 3 == 1);
        const auto v = static_cast<float>(r.uniform(-1.0, 1.0));
        w[i] = keep ? v : 0.0f;
    }
    return w;
}

// The double-precision dense convolution of the same (sparse) weight, with the epilogue.
std::vector<double> dense_oracle(const k::conv2d_geometry& g, const bpr::tensor<float>& input,
                                 const bpr::tensor<float>& weight, const k::epilogue& e) {
    std::vector<double> in(input.begin(), input.end()), w(weight.begin(), weight.end());
    std::vector<double> out(static_cast<std::size_t>(g.output_shape().numel()));
    k::conv2d_reference_forward<double>(g, in.data(), w.data(), nullptr, out.data());
    const index_t plane = g.out_h() * g.out_w();
    for (std::size_t i = 0; i < out.size(); ++i) {
        const index_t o = static_cast<index_t>(i) / plane % g.out_channels;
        double x = out[i];
        if (e.scale) x *= e.scale[o];
        if (e.bias) x += e.bias[o];
        switch (e.act) {
            case k::activation::none:
                break;
            case k::activation::relu:
                x = std::max(x, 0.0);
                break;
            case k::activation::relu6:
                x = std::min(std::max(x, 0.0), 6.0);
                break;
            case k::activation::silu:
                x = x / (1.0 + std::exp(-x));
                break;
        }
        out[i] = x;
    }
    return out;
}

// Runs the vector kernel and the scalar twin and checks both against the dense oracle.
void check_config(const sparse_case& c, bpr::rng& r, const k::sparse_conv2d_options& options = {},
                  k::activation act = k::activation::none) {
    const auto g = sparse_geometry_of(c);
    const auto weight = sparse_weight(g, c.density, c.empty_rows, r);
    const auto input = bpr_test::uniform_tensor(g.input_shape(), r);
    const auto scale = bpr_test::uniform_tensor({c.o}, r),
               bias = bpr_test::uniform_tensor({c.o}, r);
    k::epilogue e;
    if (act != k::activation::none) e = {scale.data(), bias.data(), act};
    const auto packed = k::sparse_conv2d_weights::pack(g, weight.data(), options);

    bpr::tensor<float> fast(g.output_shape(), -7.0f), twin(g.output_shape(), -7.0f);
    k::sparse_conv2d_workspace workspace;
    k::sparse_conv2d_forward(packed, c.batch, input.data(), fast.data(), e, workspace);
    k::sparse_conv2d_reference_forward(packed, c.batch, input.data(), twin.data(), e);
    const auto expected = dense_oracle(g, input, weight, e);

    INFO("batch " << c.batch << " c " << c.c << " o " << c.o << " " << c.h << "x" << c.w << " k "
                  << c.kernel << " s " << c.stride << " p " << c.pad << " density " << c.density
                  << " chunks " << packed.chunks << " wide " << packed.wide << " tile "
                  << packed.tile_vectors);
    const double margin = 2e-6 * static_cast<double>(g.patch_size()) + 1e-5;
    for (index_t i = 0; i < fast.size(); ++i) {
        REQUIRE(twin[i] == Approx(expected[static_cast<std::size_t>(i)]).margin(margin));
        REQUIRE(fast[i] == Approx(twin[i]).margin(margin));
    }
}

}  // namespace

TEST_CASE("sparse conv2d equals its scalar twin and the dense convolution",
          "[kernels][sparse_conv2d]") {
    bpr::rng r(11);
    const sparse_case cases[] = {
        {1, 3, 5, 7, 7, 3, 1, 1, 0.5, false},      {2, 4, 9, 8, 11, 3, 1, 1, 0.3, true},
        {3, 5, 6, 9, 7, 3, 2, 1, 0.4, false},      {1, 6, 7, 13, 13, 5, 1, 2, 0.2, true},
        {2, 3, 4, 12, 9, 5, 2, 2, 0.5, false},     {1, 4, 5, 15, 15, 7, 1, 3, 0.3, false},
        {1, 3, 4, 16, 17, 7, 2, 3, 0.25, true},    {2, 16, 10, 6, 6, 1, 1, 0, 0.2, false},
        {1, 8, 8, 9, 9, 1, 2, 0, 0.5, true},       {1, 32, 33, 14, 14, 3, 1, 1, 0.1, true},
        {1, 7, 3, 5, 5, 3, 1, 0, 1.0, false},      {1, 2, 3, 3, 3, 3, 1, 1, 1.0, false},
        {1, 12, 10, 33, 31, 3, 1, 1, 0.05, false}, {4, 16, 16, 4, 4, 3, 1, 1, 0.3, false},
    };
    k::sparse_conv2d_options two_channel_chunks;
    two_channel_chunks.chunk_channels = 2;
    for (const auto& c : cases) {
        check_config(c, r);
        check_config(c, r, two_channel_chunks, k::activation::relu);
    }
}

TEST_CASE("sparse conv2d handles all-zero layers, single nonzeros and empty rows",
          "[kernels][sparse_conv2d]") {
    bpr::rng r(12);
    SECTION("all-zero layer gives the epilogue of zero") {
        check_config({2, 5, 6, 8, 8, 3, 1, 1, 0.0, false}, r);
        check_config({1, 5, 6, 8, 8, 3, 2, 1, 0.0, false}, r, {}, k::activation::relu6);
    }
    SECTION("a single nonzero at every position of a 3x3 kernel") {
        const auto g = sparse_geometry_of({1, 3, 2, 6, 5, 3, 1, 1, 0.0, false});
        const auto input = bpr_test::uniform_tensor(g.input_shape(), r);
        for (index_t i = 0; i < g.weight_shape().numel(); ++i) {
            bpr::tensor<float> weight(g.weight_shape());
            weight[i] = 0.75f;
            const auto packed = k::sparse_conv2d_weights::pack(g, weight.data());
            REQUIRE(packed.nnz() == 1);
            bpr::tensor<float> out(g.output_shape());
            k::sparse_conv2d_workspace workspace;
            k::sparse_conv2d_forward(packed, 1, input.data(), out.data(), {}, workspace);
            const auto expected = dense_oracle(g, input, weight, {});
            for (index_t j = 0; j < out.size(); ++j)
                REQUIRE(out[j] == Approx(expected[static_cast<std::size_t>(j)]).margin(1e-6));
        }
    }
    SECTION("mostly empty rows at stride 2") {
        check_config({3, 6, 11, 10, 10, 3, 2, 1, 0.02, true}, r);
    }
}

TEST_CASE("sparse conv2d fuses scale, bias and activations", "[kernels][sparse_conv2d]") {
    bpr::rng r(13);
    for (auto act : {k::activation::relu, k::activation::relu6, k::activation::silu})
        check_config({2, 6, 9, 7, 9, 3, 1, 1, 0.4, true}, r, {}, act);
}

TEST_CASE("sparse conv2d splits chunks when offsets overflow 16 bits", "[kernels][sparse_conv2d]") {
    bpr::rng r(14);
    SECTION("70 channels of 32x32 padded span 71680 floats: split into 16-bit chunks") {
        const sparse_case c{1, 70, 5, 30, 30, 3, 1, 1, 0.2, false};
        k::sparse_conv2d_options options;
        options.chunk_channels = 70;  // ask for one chunk; 16 bits cannot hold it
        const auto g = sparse_geometry_of(c);
        const auto w = sparse_weight(g, 0.2, false, r);
        const auto packed = k::sparse_conv2d_weights::pack(g, w.data(), options);
        CHECK_FALSE(packed.wide);
        CHECK(packed.chunks >= 2);
        check_config(c, r, options);
    }
    SECTION("stride-2 phase planes spanning more than 65535 floats fall back to 32 bits") {
        const sparse_case c{1, 2, 3, 298, 298, 3, 2, 1, 0.5, false};
        const auto g = sparse_geometry_of(c);
        const auto w = sparse_weight(g, 0.5, false, r);
        CHECK(k::sparse_conv2d_weights::pack(g, w.data()).wide);
        check_config(c, r);
    }
    SECTION("forced 32-bit offsets give the same result") {
        k::sparse_conv2d_options options;
        options.force_wide_offsets = true;
        check_config({2, 9, 7, 9, 9, 3, 2, 1, 0.3, true}, r, options);
    }
    SECTION("one input channel per chunk") {
        k::sparse_conv2d_options options;
        options.chunk_channels = 1;
        check_config({2, 5, 9, 9, 8, 3, 1, 1, 0.3, true}, r, options);
    }
}

TEST_CASE("sparse conv2d aligned tap groups are used where the layout allows and stay exact",
          "[kernels][sparse_conv2d]") {
    bpr::rng r(16);
    const index_t lanes = static_cast<index_t>(xsimd::batch<float>::size);
    // 14x14 with a 3x3 kernel pads rows to 16 floats: with 16 lanes one tile of 14
    // vectors ends on a row end, and taps kx = 1, 2 are the shifts. 12x12 with 5x5 and
    // 10x10 with 7x7 also pad to 16 (shifts 1-4 and 1-6).
    const sparse_case grouped[] = {
        {1, 24, 9, 14, 14, 3, 1, 1, 0.3, true},
        {2, 20, 7, 12, 12, 5, 1, 2, 0.2, false},
        {1, 12, 5, 10, 10, 7, 1, 3, 0.3, false},
    };
    for (const auto& c : grouped) {
        const auto g = sparse_geometry_of(c);
        const auto weight = sparse_weight(g, c.density, c.empty_rows, r);
        const auto packed = k::sparse_conv2d_weights::pack(g, weight.data());
        INFO("kernel " << c.kernel << " lanes " << lanes << " tile " << packed.tile_vectors
                       << " tiles " << packed.tiles);
        if (lanes == 16) {
            REQUIRE(packed.tap_shifts.size() == static_cast<std::size_t>(c.kernel - 1));
            index_t in_groups = 0;
            for (const auto& seg : packed.segments)
                for (auto n : seg.group_size)
                    in_groups += n;
            CHECK(in_groups > packed.nnz() / 2);
        }
        std::vector<float> round_trip(static_cast<std::size_t>(weight.size()));
        packed.unpack(round_trip.data());
        CHECK(std::equal(round_trip.begin(), round_trip.end(), weight.begin()));
        for (index_t min_entries : {0, 1, 2, 5}) {
            k::sparse_conv2d_options options;
            options.min_group_entries = min_entries;
            check_config(c, r, options, k::activation::relu);
        }
        k::sparse_conv2d_options small_chunks;
        small_chunks.chunk_channels = 3;
        check_config(c, r, small_chunks, k::activation::silu);
    }
    SECTION("no shifts when they would move real positions across a tile's end") {
        for (const auto& c : {sparse_case{1, 4, 4, 30, 30, 3, 1, 1, 0.5, false},
                              sparse_case{1, 4, 4, 32, 32, 3, 1, 1, 0.5, false},
                              sparse_case{1, 4, 4, 14, 14, 3, 2, 1, 0.5, false}}) {
            const auto g = sparse_geometry_of(c);
            const auto weight = sparse_weight(g, c.density, c.empty_rows, r);
            const auto packed = k::sparse_conv2d_weights::pack(g, weight.data());
            CHECK(packed.tap_shifts.empty());
            check_config(c, r);
        }
    }
}

// The shift of aligned tap groups, on the default arch and on a narrower one that
// takes the portable path.
template <class Arch>
void check_add_shifted() {
    using batch = xsimd::batch<float, Arch>;
    constexpr std::size_t lanes = batch::size, T = 3;
    for (index_t m = 1; m < static_cast<index_t>(lanes); ++m) {
        alignas(64) float part_values[T * lanes], acc_values[T * lanes];
        for (std::size_t i = 0; i < T * lanes; ++i)
            part_values[i] = static_cast<float>(i + 1), acc_values[i] = 1000.0f;
        batch part[T], acc[T];
        for (std::size_t t = 0; t < T; ++t) {
            part[t] = batch::load_aligned(part_values + t * lanes);
            acc[t] = batch::load_aligned(acc_values + t * lanes);
        }
        k::detail::add_shifted<Arch, T>(acc, part, m);
        for (std::size_t t = 0; t < T; ++t)
            acc[t].store_aligned(acc_values + t * lanes);
        for (std::size_t i = 0; i < T * lanes; ++i) {
            const std::size_t from = i + static_cast<std::size_t>(m);
            const float expected = 1000.0f + (from < T * lanes ? part_values[from] : 0.0f);
            INFO("lanes " << lanes << " m " << m << " position " << i);
            REQUIRE(acc_values[i] == expected);
        }
    }
}

TEST_CASE("aligned tap groups shift lanes across vectors exactly", "[kernels][sparse_conv2d]") {
    check_add_shifted<xsimd::default_arch>();
#if XSIMD_WITH_AVX2
    check_add_shifted<xsimd::avx2>();
#endif
#if XSIMD_WITH_SSE2
    check_add_shifted<xsimd::sse2>();
#endif
}

TEST_CASE("sparse conv2d is bitwise identical for 1 and 2 threads", "[kernels][sparse_conv2d]") {
    bpr::rng r(15);
    // The small layer stays on one thread (below min_parallel_work); the large one takes
    // the shared-image path at batch 1 and splits images at batch 3.
    // 14x14 stride 1 uses aligned tap groups with 16 lanes.
    for (index_t batch : {1, 3})
        for (index_t stride : {1, 2})
            for (index_t size : {9, 14, 20}) {
                const bool large = size > 9;
                const sparse_case c =
                    large ? sparse_case{batch,
                                        size == 14 ? 96 : 64,
                                        size == 14 ? 128 : 96,
                                        size,
                                        size,
                                        3,
                                        stride,
                                        1,
                                        1.0,
                                        false}
                          : sparse_case{batch, 12, 13, 9, 9, 3, stride, 1, 0.3, true};
                const auto g = sparse_geometry_of(c);
                const auto weight = sparse_weight(g, c.density, c.empty_rows, r);
                const auto input = bpr_test::uniform_tensor(g.input_shape(), r);
                const auto packed = k::sparse_conv2d_weights::pack(g, weight.data());
                CHECK((static_cast<long long>(packed.nnz()) * packed.tiles * packed.tile_vectors >=
                       bpr::min_parallel_work) == large);
                bpr::tensor<float> one(g.output_shape()), two(g.output_shape());
                k::sparse_conv2d_workspace workspace;
                const int saved = bpr::threads();
                bpr::set_threads(1);
                k::sparse_conv2d_forward(packed, batch, input.data(), one.data(), {}, workspace);
                bpr::set_threads(2);
                k::sparse_conv2d_forward(packed, batch, input.data(), two.data(), {}, workspace);
                bpr::set_threads(saved);
                for (index_t i = 0; i < one.size(); ++i)
                    REQUIRE(one[i] == two[i]);
            }
}

TEST_CASE("the vectorized stride-2 input copy equals the scalar one", "[kernels][sparse_conv2d]") {
    // Widths 1-40 cover rows of fewer than one, exactly one and between one and two
    // vectors of outputs per phase; pads 0-3 both parities of the first column.
    bpr::rng r(17);
    for (index_t pad = 0; pad <= 3; ++pad)
        for (index_t width = 1; width <= 40; ++width)
            for (index_t height : {1, 6}) {
                k::conv2d_geometry g;
                g.batch = 1, g.in_channels = 3, g.out_channels = 2, g.in_h = height, g.in_w = width;
                g.kernel_h = g.kernel_w = 1, g.stride_h = g.stride_w = 2;
                g.pad_h = g.pad_w = pad;
                const auto layout = k::sparse_input_layout::make(
                    g, static_cast<index_t>(xsimd::batch<float>::size), "stride-2 copy test");
                const auto image = bpr_test::uniform_tensor(g.input_shape(), r);
                std::vector<float> fast(static_cast<std::size_t>(layout.input_size), 0.0f),
                    scalar(fast);
                k::detail::sparse_pack_channels<xsimd::default_arch>(layout, image.data(),
                                                                     fast.data(), 0, 3);
                k::detail::sparse_pack_input_channels(layout, image.data(), scalar.data(), 0, 3);
                INFO("pad " << pad << " width " << width << " height " << height);
                CHECK(fast == scalar);
            }
}

TEST_CASE("sparse conv2d rejects mismatched packing", "[kernels][sparse_conv2d]") {
    const auto g = sparse_geometry_of({1, 2, 2, 5, 5, 3, 1, 1, 1.0, false});
    bpr::tensor<float> weight(g.weight_shape(), 1.0f), input(g.input_shape()),
        out(g.output_shape());
    k::sparse_conv2d_options options;
    options.lanes = 3;
    const auto packed = k::sparse_conv2d_weights::pack(g, weight.data(), options);
    k::sparse_conv2d_workspace workspace;
    REQUIRE_THROWS_WITH(
        k::sparse_conv2d_forward(packed, 1, input.data(), out.data(), {}, workspace),
        Catch::Contains("lanes"));
}
