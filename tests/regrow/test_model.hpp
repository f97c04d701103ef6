#pragma once
// A hand-made model for regrowth tests: two weight matrices and a bias, whose
// "gradients" are set by the test, so scores can be checked by hand.

#include <string_view>

#include "bpr/nn/layer.hpp"

namespace bpr::testing {

struct regrow_probe_model {
    param<float> a{shape{2, 3}, param_role::weight};  // index 0
    param<float> bias{shape{2}, param_role::bias};    // index 1
    param<float> b{shape{4, 2}, param_role::weight};  // index 2
    tensor<float> stats{shape{2}};                    // a buffer, like running_mean

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "a"), a);
        f(detail::join_name(prefix, "bias"), bias);
        f(detail::join_name(prefix, "b"), b);
    }
    template <typename F>
    void for_each_buffer(std::string_view prefix, F&& f) {
        f(detail::join_name(prefix, "stats"), stats);
    }
};

}  // namespace bpr::testing
