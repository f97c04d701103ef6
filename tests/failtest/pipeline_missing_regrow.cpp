// Compile-fail: a pipeline whose third stage scores instead of regrowing.
#include "bpr/pipeline/pipeline.hpp"

#ifdef BPR_FAILTEST_OK
using recipe = bpr::pipeline<bpr::prune_to_budget<>, bpr::score<bpr::taylor>,
                             bpr::regrow<bpr::top_k, bpr::init_dense>>;
#else
using recipe =
    bpr::pipeline<bpr::prune_to_budget<>, bpr::score<bpr::taylor>, bpr::score<bpr::taylor>>;
#endif

int main() {
    recipe r;
    (void)r;
}
