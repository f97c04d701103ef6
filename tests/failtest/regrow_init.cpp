// Compile-fail: a regrow stage whose init is not a bpr::regrow_init.
#include "bpr/pipeline/stages.hpp"

#ifdef BPR_FAILTEST_OK
using stage = bpr::regrow<bpr::top_k, bpr::init_kaiming>;
#else
using stage = bpr::regrow<bpr::top_k, bpr::magnitude>;
#endif

int main() {
    stage s;
    (void)s;
}
