// bpr-convert: move a model between PyTorch (safetensors) and bpr, and run it.
//
// Commands (MODEL is lenet5, resnet20 or vgg16, built as tools/reference_models.py
// builds them: lenet5 for 1x28x28 images, the others for 3x32x32):
//   bpr-convert logits --model M --weights W.safetensors --inputs X.safetensors --out L.safetensors
//       eval-mode forward pass of the tensor "input" [N, C, H, W]; writes "logits" [N, classes]
//   bpr-convert prune --model M --weights W.safetensors --sparsity 0.9 --out P.safetensors
//       [--torch-names]   one-shot global magnitude pruning of the weights (not biases,
//       not batchnorm); writes "<p>" + "<p>_mask", or "<p>_orig" + "<p>_mask" with
//       --torch-names (load it after torch.nn.utils.prune.identity)
//   bpr-convert to-checkpoint --model M --weights W.safetensors --out C.ckpt
//   bpr-convert from-checkpoint --model M --checkpoint C.ckpt --out W.safetensors
//   bpr-convert from-sparse --model M --sparse F.bprs --out W.safetensors [--torch-names]
//       e.g. the model.bprs that bpr-regrow writes, with its masks
// Every error is a bpr::error naming the file, the tensor and the value; exit code 1.

#include <cstdio>
#include <map>
#include <string>
#include <string_view>

#include "bpr/core/error.hpp"
#include "bpr/io/checkpoint.hpp"
#include "bpr/io/safetensors.hpp"
#include "bpr/io/sparse_model.hpp"
#include "bpr/prune/pruner.hpp"
#include "bpr/sparse/budget.hpp"
#include "zoo.hpp"

namespace {

constexpr const char* usage =
    "usage: bpr-convert COMMAND --model lenet5|resnet20|vgg16 [options]\n"
    "  logits          --weights W.safetensors --inputs X.safetensors --out L.safetensors\n"
    "  prune           --weights W.safetensors --sparsity S --out P.safetensors [--torch-names]\n"
    "  to-checkpoint   --weights W.safetensors --out C.ckpt\n"
    "  from-checkpoint --checkpoint C.ckpt --out W.safetensors\n"
    "  from-sparse     --sparse F.bprs --out W.safetensors [--torch-names]\n";

struct options {
    std::string command;
    std::map<std::string, std::string> values;
    bool torch_names = false;

    const std::string& need(const std::string& flag) const {
        const auto it = values.find(flag);
        BPR_REQUIRE(it != values.end(), "bpr-convert ", command, ": missing ", flag);
        return it->second;
    }
};

options parse(int argc, char** argv) {
    BPR_REQUIRE(argc >= 2, "bpr-convert: missing COMMAND");
    options o;
    o.command = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--torch-names") {
            o.torch_names = true;
            continue;
        }
        BPR_REQUIRE(flag.rfind("--", 0) == 0 && i + 1 < argc, "bpr-convert: flag '", flag,
                    "' needs a value");
        o.values[flag] = argv[++i];
    }
    return o;
}

template <typename Model>
void run(Model& model, const options& o) {
    const bpr::safetensors_save_options save{
        .mask_names = o.torch_names ? bpr::safetensors_mask_names::torch_prune
                                    : bpr::safetensors_mask_names::suffix};
    if (o.command == "logits") {
        bpr::load_safetensors(o.need("--weights"), model);
        const auto inputs = bpr::safetensors_file::read(o.need("--inputs"));
        const bpr::tensor<float> input = inputs.to_tensor<float>("input");
        bpr::tensor<float> logits;
        model.forward(input, logits, bpr::mode::eval);
        bpr::safetensors_writer out;
        out.add("logits", logits);
        out.write(o.need("--out"));
        std::printf("logits %s -> %s\n", logits.shape().str().c_str(), o.need("--out").c_str());
    } else if (o.command == "prune") {
        bpr::load_safetensors(o.need("--weights"), model);
        auto masks = bpr::mask_set<>::dense(model);
        const double sparsity = std::stod(o.need("--sparsity"));
        bpr::pruner<> pruner;
        pruner.run(model, masks, bpr::budget::sparsity(sparsity));
        bpr::save_safetensors(o.need("--out"), model, &masks, save);
        std::printf("pruned to sparsity %.4f (%lld of %lld weights alive) -> %s\n",
                    masks.sparsity(), static_cast<long long>(masks.nonzeros()),
                    static_cast<long long>(masks.total()), o.need("--out").c_str());
    } else if (o.command == "to-checkpoint") {
        bpr::load_safetensors(o.need("--weights"), model);
        bpr::save_checkpoint(o.need("--out"), model);
        std::printf("checkpoint -> %s\n", o.need("--out").c_str());
    } else if (o.command == "from-checkpoint") {
        bpr::load_checkpoint(o.need("--checkpoint"), model);
        bpr::save_safetensors(o.need("--out"), model);
        std::printf("safetensors -> %s\n", o.need("--out").c_str());
    } else if (o.command == "from-sparse") {
        const auto masks = bpr::read_sparse_model(o.need("--sparse"), model);
        bpr::save_safetensors(o.need("--out"), model, &masks, save);
        std::printf("sparsity %.4f -> %s\n", masks.sparsity(), o.need("--out").c_str());
    } else {
        bpr::detail::fail("bpr-convert: unknown command '", o.command, "'");
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc >= 2 &&
            (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
            std::fputs(usage, stdout);
            return 0;
        }
        const options o = parse(argc, argv);
        const std::string& name = o.need("--model");
        // Behind bpr::any_layer (examples/zoo.hpp): run() is compiled once for the three.
        BPR_REQUIRE(name == "lenet5" || name == "resnet20" || name == "vgg16",
                    "bpr-convert: --model is '", name, "', expected lenet5, resnet20 or vgg16");
        const bpr::models::model_spec spec =
            name == "lenet5" ? bpr::models::model_spec{.in_channels = 1, .image_size = 28}
                             : bpr::models::model_spec{};
        bpr_examples::zoo::model model = bpr_examples::zoo::make_model(name, spec);
        run(model, o);
        return 0;
    } catch (const bpr::error& e) {
        std::fprintf(stderr, "bpr-convert: %s\n%s", e.what(), usage);
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bpr-convert: %s\n", e.what());
        return 1;
    }
}
