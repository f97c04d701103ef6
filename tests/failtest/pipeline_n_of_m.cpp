// Compile-fail: a pipeline that would regrow an N:M mask (a revived weight could break
// the pattern), instead of failing at run time in the middle of a step.
#include "bpr/pipeline/pipeline.hpp"

#ifdef BPR_FAILTEST_OK
using granularity = bpr::unstructured;
#else
using granularity = bpr::n_of_m<2, 4>;
#endif
using recipe = bpr::pipeline<
    bpr::prune_to_budget<bpr::magnitude, bpr::global_allocation, bpr::one_shot, granularity>,
    bpr::score<bpr::gradient_magnitude>, bpr::regrow<>>;

int main() {
    recipe r;
    (void)r;
}
