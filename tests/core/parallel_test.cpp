#include <catch2/catch.hpp>

#include <vector>

#include "bpr/core/parallel.hpp"

using bpr::index_t;

TEST_CASE("parallel_for visits every index once, with a valid worker", "[core][parallel]") {
    const int saved = bpr::threads();
    for (int threads : {1, 2}) {
        bpr::set_threads(threads);
        for (index_t count : {0, 1, 2, 7, 100}) {
            INFO("threads " << threads << " count " << count);
            std::vector<int> visits(static_cast<std::size_t>(count), 0);
            std::vector<int> workers(static_cast<std::size_t>(count), -1);
            bpr::parallel_for(count, [&](index_t i, int worker) {
                ++visits[static_cast<std::size_t>(i)];
                workers[static_cast<std::size_t>(i)] = worker;
            });
            for (index_t i = 0; i < count; ++i) {
                CHECK(visits[static_cast<std::size_t>(i)] == 1);
                CHECK(workers[static_cast<std::size_t>(i)] >= 0);
                CHECK(workers[static_cast<std::size_t>(i)] < threads);
            }
            // One thread, or a single iteration, runs inline: all on worker 0.
            if (threads == 1 || count == 1)
                for (int w : workers)
                    CHECK(w == 0);
        }
    }
    bpr::set_threads(saved);
}

#ifdef _OPENMP
TEST_CASE("parallel_for splits statically across two threads", "[core][parallel]") {
    const int saved = bpr::threads();
    bpr::set_threads(2);
    // The static schedule gives thread 0 the first half: the same split as the
    // `omp parallel for schedule(static)` it replaced, so per-thread partial sums (conv
    // backward-weight) are reduced in the same order.
    std::vector<int> workers(10, -1);
    bpr::parallel_for(
        10, [&](index_t i, int worker) { workers[static_cast<std::size_t>(i)] = worker; });
    bpr::set_threads(saved);
    for (index_t i = 0; i < 5; ++i)
        CHECK(workers[static_cast<std::size_t>(i)] == 0);
    for (index_t i = 5; i < 10; ++i)
        CHECK(workers[static_cast<std::size_t>(i)] == 1);
    // Too little work for a parallel region: the calling thread does it all.
    bpr::set_threads(2);
    std::vector<int> small(10, -1);
    bpr::parallel_for(
        10, [&](index_t i, int worker) { small[static_cast<std::size_t>(i)] = worker; },
        bpr::min_parallel_work - 1);
    bpr::set_threads(saved);
    for (int w : small)
        CHECK(w == 0);
}
#endif
