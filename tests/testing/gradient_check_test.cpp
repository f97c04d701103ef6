#include "bpr/testing/gradient_check.hpp"

#include <catch2/catch.hpp>

#include "bpr/core/rng.hpp"
#include "bpr/nn/activation.hpp"
#include "bpr/nn/batchnorm.hpp"
#include "bpr/nn/conv2d.hpp"
#include "bpr/nn/flatten.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/linear.hpp"
#include "bpr/nn/pool.hpp"
#include "bpr/nn/sequential.hpp"

namespace {

// y = w * x^2 elementwise with one scalar parameter w, whose backward can be broken
// on purpose: the checker must notice.
enum class fault { none, input_gradient, param_gradient };

template <fault Fault>
class square_layer {
  public:
    using value_type = double;

    square_layer() : w_({1}, bpr::param_role::weight) { w_.value[0] = 0.7; }

    bpr::shape output_shape(const bpr::shape& in) const { return in; }

    void forward(const bpr::tensor<double>& in, bpr::tensor<double>& out, bpr::mode) {
        out.resize(in.shape());
        for (bpr::index_t i = 0; i < in.size(); ++i)
            out[i] = w_.value[0] * in[i] * in[i];
    }

    void backward(const bpr::tensor<double>& in, const bpr::tensor<double>&,
                  const bpr::tensor<double>& grad_out, bpr::tensor<double>& grad_in) {
        grad_in.resize(in.shape());
        double gw = 0;
        for (bpr::index_t i = 0; i < in.size(); ++i) {
            grad_in[i] = 2 * w_.value[0] * in[i] * grad_out[i];
            gw += in[i] * in[i] * grad_out[i];
        }
        if constexpr (Fault == fault::input_gradient) grad_in[3] *= 1.01;
        if constexpr (Fault == fault::param_gradient) gw *= 0.999;
        w_.grad[0] = gw;
    }

    template <typename F>
    void for_each_param(std::string_view prefix, F&& f) {
        f(bpr::detail::join_name(prefix, "w"), w_);
    }

  private:
    bpr::param<double> w_;
};

}  // namespace

TEST_CASE("check_gradients passes a correct backward", "[testing][gradient_check]") {
    bpr::rng r(1);
    square_layer<fault::none> l;
    const auto report = bpr::testing::check_gradients(l, {2, 5}, r);
    INFO(report.str());
    CHECK(report.max_relative_error < 1e-8);
    CHECK(report.entries_checked == 11);
}

TEST_CASE("check_gradients catches a wrong input gradient", "[testing][gradient_check]") {
    bpr::rng r(2);
    square_layer<fault::input_gradient> l;
    const auto report = bpr::testing::check_gradients(l, {2, 5}, r);
    INFO(report.str());
    CHECK(report.max_relative_error > 1e-3);
    CHECK(report.worst_tensor == "input");
    CHECK(report.worst_index == 3);
    CHECK_THAT(report.str(), Catch::Matchers::Contains("input[3]"));
}

TEST_CASE("check_gradients catches a wrong parameter gradient", "[testing][gradient_check]") {
    bpr::rng r(3);
    square_layer<fault::param_gradient> l;
    const auto report = bpr::testing::check_gradients(l, {3, 4}, r);
    INFO(report.str());
    CHECK(report.max_relative_error > 1e-4);
    CHECK(report.worst_tensor == "w");
    CHECK(report.worst_index == 0);
}

TEST_CASE("check_gradients catches batchnorm differentiated as if in eval mode",
          "[testing][gradient_check]") {
    // Forward with batch statistics, backward forgetting their dependence on x: only a
    // checker that really differentiates the train-mode forward sees the difference.
    struct stale_batchnorm : bpr::batchnorm<double> {
        using bpr::batchnorm<double>::batchnorm;
        void backward(const bpr::tensor<double>& in, const bpr::tensor<double>& out,
                      const bpr::tensor<double>& grad_out, bpr::tensor<double>& grad_in) {
            bpr::tensor<double> scratch;
            forward(in, scratch, bpr::mode::eval);  // marks the last forward as eval
            bpr::batchnorm<double>::backward(in, out, grad_out, grad_in);
        }
    };
    bpr::rng r(4);
    stale_batchnorm bn(2, 0.0);  // momentum 0: running stats stay at mean 0, var 1
    const auto report = bpr::testing::check_gradients(bn, {3, 2, 2, 2}, r);
    INFO(report.str());
    CHECK(report.max_relative_error > 1e-2);
}

TEST_CASE("check_gradients probes a random subset when asked", "[testing][gradient_check]") {
    bpr::rng r(5);
    bpr::linear<double> fc(6, 5);
    bpr::initialize(fc, r, bpr::init_scheme::pytorch_default);
    bpr::testing::gradient_check_options options;
    options.max_entries_per_tensor = 4;
    const auto report = bpr::testing::check_gradients(fc, {3, 6}, r, options);
    CHECK(report.entries_checked == 4 + 4 + 4);
    CHECK(report.max_relative_error < 1e-6);
}

TEST_CASE("a small CNN passes the gradient check end to end", "[testing][gradient_check]") {
    using net_t = bpr::sequential<bpr::named<"conv1", bpr::conv2d<double>>,
                                  bpr::named<"bn1", bpr::batchnorm<double>>, bpr::relu<double>,
                                  bpr::max_pool2d<double>, bpr::named<"conv2", bpr::conv2d<double>>,
                                  bpr::silu<double>, bpr::global_avg_pool<double>,
                                  bpr::flatten<double>, bpr::named<"fc", bpr::linear<double>>>;
    net_t net(bpr::conv2d<double>(2, 4, 3, 1, 1), bpr::batchnorm<double>(4), bpr::relu<double>{},
              bpr::max_pool2d<double>(2), bpr::conv2d<double>(4, 4, 3, 1, 1, 2, true),
              bpr::silu<double>{}, bpr::global_avg_pool<double>{}, bpr::flatten<double>{},
              bpr::linear<double>(4, 3));
    bpr::rng r(6);
    bpr::initialize(net, r, bpr::init_scheme::pytorch_default);
    const auto report = bpr::testing::check_gradients(net, {3, 2, 6, 6}, r);
    INFO(report.str());
    // Composition multiplies round-off and relu / max-pool kinks inside the network are
    // not kept away from 0, so the bound is looser than for single layers.
    CHECK(report.max_relative_error < 1e-5);
    CHECK(report.entries_checked == 3 * 2 * 6 * 6 + bpr::count_params(net));
}
