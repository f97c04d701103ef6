// Checkpoints through their public save/load functions only (the format belongs to
// io/checkpoint.hpp and may change): empty, every truncation length, every flipped
// byte, the wrong model. Whatever the layout, each must be a bpr::error naming the
// file, and a failed load must leave the model unchanged.
#include <string>

#include "../sparse/tiny_model.hpp"
#include "bpr/io/checkpoint.hpp"
#include "hostile.hpp"

namespace {

std::vector<float> values_of(bpr::test::tiny_mlp& mlp) {
    std::vector<float> out;
    bpr::visit_params(mlp, [&](std::size_t, const std::string&, auto& p) {
        out.insert(out.end(), p.value.begin(), p.value.end());
    });
    return out;
}

}  // namespace

TEST_CASE("checkpoint: empty, every truncation length and every flipped byte",
          "[hostile][checkpoint]") {
    bpr_hostile::temp_folder dir("checkpoint");
    auto saved = bpr::test::make_tiny_mlp(4);
    bpr::save_checkpoint(dir / "good.ckpt", saved, {.epoch = 2, .step = 7});
    const std::string good = bpr_hostile::read_bytes(dir / "good.ckpt");
    auto model = bpr::test::make_tiny_mlp(5);
    const std::vector<float> before = values_of(model);
    const auto bad = dir / "bad.ckpt";
    for (std::size_t length = 0; length < good.size(); ++length) {
        bpr_hostile::write_bytes(bad, good.substr(0, length));
        const std::string message =
            bpr_hostile::error_of([&] { bpr::load_checkpoint(bad, model); });
        if (message.rfind(bad.string() + ": ", 0) != 0)
            FAIL("length " << length << ": " << message);
    }
    for (std::size_t at = 0; at < good.size(); ++at) {
        std::string flipped = good;
        flipped[at] = static_cast<char>(flipped[at] ^ 0x04);
        bpr_hostile::write_bytes(bad, flipped);
        const std::string message =
            bpr_hostile::error_of([&] { bpr::load_checkpoint(bad, model); });
        if (message.rfind(bad.string() + ": ", 0) != 0) FAIL("byte " << at << ": " << message);
    }
    CHECK(values_of(model) == before);
    bpr_hostile::write_bytes(bad, std::string());
    BPR_REQUIRE_REJECTS(bpr::load_checkpoint(bad, model), bad.string() + ": ");

    auto other = bpr::test::make_tiny_net(1);
    BPR_REQUIRE_REJECTS(bpr::load_checkpoint(dir / "good.ckpt", other),
                        (dir / "good.ckpt").string() + ": ", "conv1.weight");
}
