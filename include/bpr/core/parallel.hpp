#pragma once
// Thread control: one place that sets OpenMP's and Eigen's thread counts together.

#include <Eigen/Core>

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

}  // namespace bpr
