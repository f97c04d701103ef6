// One translation unit for every model type: compiled apart, each would instantiate the
// layers they share (conv2d and its kernels, batchnorm, linear) again; 88 CPU-s here
// against 289 for six files (docs/architecture.md, "Session 17").
#include "zoo.hpp"

#include <optional>
#include <type_traits>
#include <utility>

#include "bpr/core/error.hpp"
#include "bpr/infer/compile.hpp"

namespace bpr_examples::zoo {

namespace {

template <typename... Models>
struct type_list {};

// Every type bpr::models::with_model builds (make_model checks that none is missing), so
// that compile_engine can find the one inside an any_layer.
using zoo_types =
    type_list<bpr::models::lenet5_model<float>,
              bpr::models::resnet_cifar_model<float, bpr::models::resnet_shortcut::pad>,
              bpr::models::resnet_cifar_model<float, bpr::models::resnet_shortcut::projection>,
              bpr::models::vgg16_model<float>, bpr::models::densenet_model<float>,
              bpr::models::efficientnet_model<float>>;

template <typename Model, typename... Models>
constexpr bool listed(type_list<Models...>) {
    return (std::is_same_v<Model, Models> || ...);
}

}  // namespace

model make_model(std::string_view name, const bpr::models::model_spec& spec) {
    return bpr::models::with_model(name, spec, [](auto& built) {
        using built_type = std::remove_cvref_t<decltype(built)>;
        static_assert(listed<built_type>(zoo_types{}), "a zoo model type missing from zoo_types");
        return model(std::move(built));
    });
}

bpr::infer::engine compile_engine(model& m, bpr::infer::value_shape input,
                                  const bpr::infer::compile_options& options) {
    std::optional<bpr::infer::engine> compiled;
    auto try_type = [&]<typename Model>() {
        if (Model* concrete = m.target<Model>(); concrete != nullptr && !compiled)
            compiled.emplace(bpr::infer::compile(*concrete, input, options));
    };
    [&]<typename... Models>(type_list<Models...>) {
        (try_type.template operator()<Models>(), ...);
    }(zoo_types{});
    BPR_REQUIRE(compiled.has_value(), "zoo::compile_engine: the model is not one of the zoo's");
    return std::move(*compiled);
}

}  // namespace bpr_examples::zoo
