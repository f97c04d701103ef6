// The zoo models of bpr-train, bpr-prune, bpr-regrow and bpr-convert, built by name
// behind bpr::any_layer, in one translation unit of their own (zoo.cpp): each model's
// forward and backward is compiled once for all these programs, and each program's
// trainer, pruners and pipeline once for all models instead of once per model type
// (docs/architecture.md, "Session 17"). bpr-infer needs the concrete types
// (infer::compile walks them) and keeps bpr::models::with_model.
#pragma once

#include <string_view>

#include "bpr/nn/any_layer.hpp"
#include "bpr/nn/models/catalog.hpp"

namespace bpr_examples::zoo {

using model = bpr::any_layer<float>;

// Builds the zoo model `name` (bpr::models::model_names) for `spec`, with zero
// parameters, as bpr::models::with_model would; an unknown name throws bpr::error.
model make_model(std::string_view name, const bpr::models::model_spec& spec);

}  // namespace bpr_examples::zoo
