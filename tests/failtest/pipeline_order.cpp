// Compile-fail: a pipeline whose stages are in the wrong order.
#include "bpr/pipeline/pipeline.hpp"

#ifdef BPR_FAILTEST_OK
using recipe =
    bpr::pipeline<bpr::prune_to_budget<>, bpr::score<bpr::gradient_magnitude>, bpr::regrow<>>;
#else
using recipe =
    bpr::pipeline<bpr::score<bpr::gradient_magnitude>, bpr::prune_to_budget<>, bpr::regrow<>>;
#endif

int main() {
    recipe r;
    (void)r;
}
