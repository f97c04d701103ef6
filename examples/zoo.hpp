// The zoo models of bpr-train, bpr-prune, bpr-regrow, bpr-convert and bpr-infer, built by
// name behind bpr::any_layer, in one translation unit of their own (zoo.cpp): each model's
// forward and backward is compiled once for all these programs, and each program's
// trainer, pruners, pipeline and engine code once for all models instead of once per
// model type (docs/architecture.md, "Session 17").
#pragma once

#include <string_view>

#include "bpr/infer/builder.hpp"
#include "bpr/infer/engine.hpp"
#include "bpr/nn/any_layer.hpp"
#include "bpr/nn/models/catalog.hpp"

namespace bpr_examples::zoo {

using model = bpr::any_layer<float>;

// Builds the zoo model `name` (bpr::models::model_names) for `spec`, with zero
// parameters, as bpr::models::with_model would; an unknown name throws bpr::error.
model make_model(std::string_view name, const bpr::models::model_spec& spec);

// bpr::infer::compile on the concrete model inside `m`, which make_model built.
bpr::infer::engine compile_engine(model& m, bpr::infer::value_shape input,
                                  const bpr::infer::compile_options& options);

}  // namespace bpr_examples::zoo
