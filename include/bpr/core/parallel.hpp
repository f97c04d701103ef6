#pragma once
// Thread control: one place that sets OpenMP's and Eigen's thread counts together.

#include <Eigen/Core>
#include <limits>

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

// Work (in vector multiply-adds, or scalar ones for scalar kernels) below which a kernel
// call stays on the calling thread even when more threads are set: a two-thread region
// and its barriers cost 10-20 us per call on the 2-vCPU Zen 5 VM, the time of roughly
// 300k vector FMAs (the sparse 256x256@14x14 layer at batch 1: 2 threads lost 7% with
// 165k per image and won 5% with 413k; ResNet-20's engine at batch 1 ran 2.7x slower on
// 2 threads than on 1 before this threshold, every layer of it being below it).
inline constexpr long long min_parallel_work = 300'000;

// Calls body(i, worker) for every i in [0, count), split statically over the threads
// (worker: the calling thread's index, to pick per-thread scratch; it never changes
// what an iteration computes). On one thread, for a single iteration, or when `work`
// (the call's total, see min_parallel_work) is too small, a plain loop on the calling
// thread: libgomp allocates a team and makes a system call for every parallel region,
// even a one-thread one, which cost ResNet-20 at 99% sparsity ~15% of its batch-1 time.
template <typename Body>
void parallel_for(index_t count, Body&& body,
                  long long work = std::numeric_limits<long long>::max()) {
    if (threads() == 1 || count <= 1 || work < min_parallel_work) {
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
