#pragma once
// Thread control: one place that sets OpenMP's and Eigen's thread counts together.

#include <Eigen/Core>

#include "bpr/core/shape.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace bpr {

namespace detail {

// Loops over fewer elements than this run serially: starting a parallel region costs
// more than it saves, and on a loaded machine a descheduled worker stalls them all.
inline constexpr long long min_parallel_elements = 1LL << 15;

}  // namespace detail

// Number of threads bpr's kernels use (1 without OpenMP).
inline int threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Sets the thread count of bpr's OpenMP loops and of Eigen's GEMM. Results are
// deterministic for a given seed and thread count.
inline void set_threads(int count) {
    if (count < 1) count = 1;
#ifdef _OPENMP
    omp_set_num_threads(count);
#endif
    Eigen::setNbThreads(count);
}

// Calls body(i, worker) for every i in [0, count), split statically over the threads
// (worker: the calling thread's index, to pick per-thread scratch; it never changes
// what an iteration computes). On one thread, or for a single iteration, a plain loop:
// libgomp allocates a team and makes a system call for every parallel region, even a
// one-thread one, which cost ResNet-20 at 99% sparsity ~15% of its batch-1 time.
template <typename Body>
void parallel_for(index_t count, Body&& body) {
    if (threads() == 1 || count <= 1) {
        for (index_t i = 0; i < count; ++i)
            body(i, 0);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
    for (index_t i = 0; i < count; ++i)
        body(i, omp_get_thread_num());
#else
    for (index_t i = 0; i < count; ++i)
        body(i, 0);
#endif
}

}  // namespace bpr
