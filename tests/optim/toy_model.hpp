#pragma once
// A model of one weight vector and one bias vector, driven directly by the optimizer tests.

#include <catch2/catch.hpp>
#include <cstddef>
#include <string_view>
#include <vector>

#include "bpr/core/tensor.hpp"
#include "bpr/nn/layer.hpp"

namespace bpr_test {

struct toy_model {
    bpr::param<float> weight{{4}, bpr::param_role::weight};
    bpr::param<float> bias{{2}, bpr::param_role::bias};
    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "weight"), weight);
        f(bpr::detail::join_name(prefix, "bias"), bias);
    }
};

inline void set(bpr::tensor<float>& t, std::vector<float> values) {
    REQUIRE(static_cast<bpr::index_t>(values.size()) == t.size());
    for (std::size_t i = 0; i < values.size(); ++i)
        t[static_cast<bpr::index_t>(i)] = values[i];
}

}  // namespace bpr_test
