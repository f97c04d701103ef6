#pragma once
// Shared checks for the model zoo tests: PyTorch name/shape parity, one training step.

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "bpr/core/rng.hpp"
#include "bpr/core/tensor.hpp"
#include "bpr/nn/init.hpp"
#include "bpr/nn/layer.hpp"

#include "../support/random_values.hpp"

namespace bpr_test {

inline std::string dims(const bpr::shape& s) {
    std::string text;
    for (int axis = 0; axis < s.rank(); ++axis) {
        if (axis > 0) text += ',';
        text += std::to_string(s[axis]);
    }
    return text;
}

// "param NAME d0,d1,..." for every parameter, then "buffer NAME ..." for every buffer:
// the format tools/reference_models.py --dump writes for the PyTorch reference.
template <typename Model>
std::vector<std::string> describe(Model& model) {
    std::vector<std::string> lines;
    bpr::visit_params(model, [&](std::size_t, const std::string& name, auto& p) {
        lines.push_back("param " + name + " " + dims(p.value.shape()));
    });
    bpr::visit_buffers(model, [&](const std::string& name, auto& t) {
        lines.push_back("buffer " + name + " " + dims(t.shape()));
    });
    return lines;
}

// tests/data_files/models/<name>.txt, written by tools/reference_models.py --dump.
inline std::vector<std::string> reference_description(const std::string& name) {
    // Appended piece by piece: GCC 12 at -O3 reports a false -Warray-bounds for
    // `string(literal) + ...` chains, depending on the literal's length (the checkout path).
    std::string path = BPR_TEST_DATA_DIR;
    path += "/models/";
    path += name;
    path += ".txt";
    std::ifstream in(path);
    REQUIRE(in.good());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

template <typename T>
bool all_finite(const bpr::tensor<T>& t) {
    for (T v : t)
        if (!std::isfinite(v)) return false;
    return true;
}

// Initializes, runs one train-mode forward of `input_shape` and a backward with a random
// output gradient; requires the expected output shape and, for every parameter, a
// finite gradient that is not all zero.
template <typename Model>
void check_training_step(Model& model, const bpr::shape& input_shape,
                         const bpr::shape& expected_output, std::uint64_t seed = 1) {
    using T = typename Model::value_type;
    bpr::rng generator(seed);
    bpr::initialize(model, generator);
    bpr::tensor<T> x(input_shape), y, dy, dx;
    fill_uniform(x, generator);
    model.forward(x, y, bpr::mode::train);
    REQUIRE(y.shape() == expected_output);
    dy.resize(y.shape());
    fill_uniform(dy, generator);
    model.backward(x, y, dy, dx);
    REQUIRE(dx.shape() == input_shape);
    CHECK(all_finite(dx));
    bpr::visit_params(model, [&](std::size_t, const std::string& name, auto& p) {
        double largest = 0.0;
        bool finite = true;
        for (T v : p.grad) {
            finite = finite && std::isfinite(v);
            largest = std::max(largest, static_cast<double>(std::abs(v)));
        }
        INFO(name);
        CHECK(finite);
        CHECK(largest > 0.0);
    });
}

// One eval-mode forward of zeros-and-noise input; requires the output shape.
template <typename Model>
void check_inference(Model& model, const bpr::shape& input_shape,
                     const bpr::shape& expected_output) {
    using T = typename Model::value_type;
    bpr::rng generator(2);
    bpr::tensor<T> x(input_shape), y;
    fill_uniform(x, generator);
    model.forward(x, y, bpr::mode::eval);
    REQUIRE(y.shape() == expected_output);
    CHECK(all_finite(y));
}

}  // namespace bpr_test
