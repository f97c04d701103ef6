#include <catch2/catch.hpp>

#include <vector>

#include "bpr/core/parallel.hpp"
#include "bpr/core/rng.hpp"
#include "bpr/kernels/sparse_linear.hpp"

namespace {

using bpr::index_t;
namespace k = bpr::kernels;

std::vector<float> random_values(index_t count, bpr::rng& r, double density = 1.0) {
    std::vector<float> v(static_cast<std::size_t>(count));
    for (auto& x : v) {
        const auto value = static_cast<float>(r.uniform(-1.0, 1.0));
        x = r.uniform() < density ? value : 0.0f;
    }
    return v;
}

}  // namespace

TEST_CASE("sparse linear equals its twin and the dense product", "[kernels][sparse_linear]") {
    struct config {
        index_t batch, in, out;
        double density;
        bool wide;
    };
    const config cases[] = {{1, 7, 5, 0.5, false},      {3, 33, 10, 0.2, false},
                            {16, 64, 9, 0.1, false},    {17, 40, 13, 0.3, true},
                            {70, 129, 21, 0.05, false}, {32, 20, 6, 0.0, false},
                            {40, 16, 4, 1.0, true},     {2, 300, 7, 0.5, false},
                            {1, 203, 3, 1.0, true}};  // long rows: the four-way loop and its tail
    bpr::rng r(41);
    for (const auto& c : cases)
        for (auto act : {k::activation::none, k::activation::relu, k::activation::silu}) {
            auto weight = random_values(c.in * c.out, r, c.density);
            for (index_t i = 0; i < c.in; ++i)  // an empty row
                weight[static_cast<std::size_t>(i)] = 0.0f;
            const auto input = random_values(c.batch * c.in, r);
            const auto scale = random_values(c.out, r), bias = random_values(c.out, r);
            const k::epilogue e{scale.data(), bias.data(), act};
            const auto packed = k::sparse_linear_weights::pack(c.out, c.in, weight.data(), c.wide);
            CHECK(packed.wide == c.wide);

            std::vector<float> back(weight.size(), 9.0f);
            packed.unpack(back.data());
            REQUIRE(back == weight);

            std::vector<float> fast(static_cast<std::size_t>(c.batch * c.out), -2.0f);
            std::vector<float> twin(fast.size(), -2.0f);
            k::sparse_linear_workspace workspace;
            k::sparse_linear_forward(packed, c.batch, input.data(), fast.data(), e, workspace);
            k::sparse_linear_reference_forward(packed, c.batch, input.data(), twin.data(), e);
            // One and two threads give the same bits (the SpMV has a serial path).
            std::vector<float> other_threads(fast.size(), -3.0f);
            const int threads_before = bpr::threads();
            bpr::set_threads(threads_before == 1 ? 2 : 1);
            k::sparse_linear_forward(packed, c.batch, input.data(), other_threads.data(), e,
                                     workspace);
            bpr::set_threads(threads_before);
            REQUIRE(other_threads == fast);
            for (index_t n = 0; n < c.batch; ++n)
                for (index_t o = 0; o < c.out; ++o) {
                    double sum = 0;
                    for (index_t i = 0; i < c.in; ++i)
                        sum += double(weight[static_cast<std::size_t>(o * c.in + i)]) *
                               input[static_cast<std::size_t>(n * c.in + i)];
                    const float expected = k::epilogue_scalar(e, o, static_cast<float>(sum));
                    const auto at = static_cast<std::size_t>(n * c.out + o);
                    REQUIRE(twin[at] == Approx(expected).margin(1e-5));
                    REQUIRE(fast[at] == Approx(twin[at]).margin(1e-5));
                }
        }
}

TEST_CASE("sparse linear uses 32-bit columns beyond 65536 inputs", "[kernels][sparse_linear]") {
    const index_t in = 70000, out = 2;
    std::vector<float> weight(static_cast<std::size_t>(in * out), 0.0f);
    weight[69999] = 2.0f, weight[static_cast<std::size_t>(in + 65536)] = -1.0f;
    const auto packed = k::sparse_linear_weights::pack(out, in, weight.data());
    REQUIRE(packed.wide);
    REQUIRE(packed.column(0) == 69999);
    REQUIRE(packed.column(1) == 65536);
    std::vector<float> x(static_cast<std::size_t>(in), 0.0f), y(2);
    x[69999] = 3.0f, x[65536] = 5.0f;
    k::sparse_linear_workspace workspace;
    k::sparse_linear_forward(packed, 1, x.data(), y.data(), {}, workspace);
    CHECK(y[0] == 6.0f);
    CHECK(y[1] == -5.0f);
}

TEST_CASE("sparse linear is bitwise identical for 1 and 2 threads above the parallel threshold",
          "[kernels][sparse_linear]") {
    // 600 x 600 dense: 360k multiply-adds per image, enough for parallel_for to split the
    // rows (small layers stay on one thread), for the SpMV (batch 1) and the SpMM.
    bpr::rng r(43);
    const index_t in = 600, out = 600;
    const auto weight = random_values(in * out, r);
    const auto packed = k::sparse_linear_weights::pack(out, in, weight.data());
    REQUIRE(packed.nnz() >= bpr::min_parallel_work);
    const int saved = bpr::threads();
    for (index_t batch : {1, 20}) {
        const auto input = random_values(batch * in, r);
        std::vector<float> one(static_cast<std::size_t>(batch * out)), two(one.size());
        k::sparse_linear_workspace workspace;
        bpr::set_threads(1);
        k::sparse_linear_forward(packed, batch, input.data(), one.data(), {}, workspace);
        bpr::set_threads(2);
        k::sparse_linear_forward(packed, batch, input.data(), two.data(), {}, workspace);
        CHECK(one == two);
    }
    bpr::set_threads(saved);
}
