#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/kernels/epilogue.hpp"

namespace k = bpr::kernels;

TEST_CASE("vector epilogue equals the scalar formula", "[kernels][epilogue]") {
    bpr::rng r(51);
    const float scale[] = {0.5f, -2.0f}, bias[] = {0.25f, 3.0f};
    for (auto act :
         {k::activation::none, k::activation::relu, k::activation::relu6, k::activation::silu})
        for (bool with_scale : {false, true})
            for (bool with_bias : {false, true})
                for (bpr::index_t count : {1, 7, 16, 37}) {
                    const k::epilogue e{with_scale ? scale : nullptr, with_bias ? bias : nullptr,
                                        act};
                    std::vector<float> data(static_cast<std::size_t>(count));
                    for (auto& v : data)
                        v = static_cast<float>(r.uniform(-10.0, 10.0));
                    const auto original = data;
                    k::apply_epilogue(e, 1, data.data(), count);
                    for (std::size_t i = 0; i < data.size(); ++i)
                        REQUIRE(data[i] ==
                                Approx(k::epilogue_scalar(e, 1, original[i])).margin(1e-5));
                }
}

TEST_CASE("epilogue formulas", "[kernels][epilogue]") {
    const float scale[] = {2.0f}, bias[] = {-1.0f};
    CHECK(k::epilogue_scalar({scale, bias, k::activation::none}, 0, 3.0f) == 5.0f);
    CHECK(k::epilogue_scalar({scale, bias, k::activation::relu}, 0, 0.25f) == 0.0f);
    CHECK(k::epilogue_scalar({scale, bias, k::activation::relu6}, 0, 4.0f) == 6.0f);
    CHECK(k::epilogue_scalar({nullptr, nullptr, k::activation::silu}, 0, 1.0f) ==
          Approx(1.0 / (1.0 + std::exp(-1.0))));
    CHECK(k::epilogue{}.is_identity());
    CHECK_FALSE(k::epilogue{scale, nullptr, k::activation::none}.is_identity());
}
