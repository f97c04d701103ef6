// Compile-fail: a pruning criterion (it ranks alive weights) used as a regrowth score.
#include "bpr/pipeline/stages.hpp"

#ifdef BPR_FAILTEST_OK
using stage = bpr::score<bpr::gradient_momentum>;
#else
using stage = bpr::score<bpr::magnitude>;
#endif

int main() {
    stage s;
    (void)s;
}
