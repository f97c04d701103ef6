// One translation unit for every model type: compiled apart, each would instantiate the
// layers they share (conv2d and its kernels, batchnorm, linear) again; 91 CPU-s here
// against 289 for six files (docs/architecture.md, "Session 17").
#include "zoo.hpp"

#include <utility>

namespace bpr_examples::zoo {

model make_model(std::string_view name, const bpr::models::model_spec& spec) {
    return bpr::models::with_model(name, spec, [](auto& built) { return model(std::move(built)); });
}

}  // namespace bpr_examples::zoo
