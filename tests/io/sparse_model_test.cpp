#include "bpr/io/sparse_model.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "../sparse/tiny_model.hpp"
#include "bpr/prune/pruner.hpp"

using namespace bpr;
namespace fs = std::filesystem;

namespace {

fs::path sparse_model_temp_path(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / "bpr_sparse_model_test";
    fs::create_directories(dir);
    return dir / name;
}

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Parameters and buffers bit-identical.
template <typename Model>
void require_same_values(Model& a, Model& b) {
    std::vector<float> va, vb;
    visit_params(a, [&](std::size_t, const std::string&, param<float>& p) {
        va.insert(va.end(), p.value.begin(), p.value.end());
    });
    visit_params(b, [&](std::size_t, const std::string&, param<float>& p) {
        vb.insert(vb.end(), p.value.begin(), p.value.end());
    });
    visit_buffers(
        a, [&](const std::string&, tensor<float>& t) { va.insert(va.end(), t.begin(), t.end()); });
    visit_buffers(
        b, [&](const std::string&, tensor<float>& t) { vb.insert(vb.end(), t.begin(), t.end()); });
    REQUIRE(va == vb);
}

}  // namespace

TEST_CASE("sparse export round-trips and its size is the accounting plus the header",
          "[io][sparse_model]") {
    for (const auto format : {storage_format::csr16, storage_format::bitmap}) {
        for (const double sparsity : {0.0, 0.5, 0.9, 0.99}) {
            INFO(format_name(format) << " at " << sparsity);
            auto net = test::make_tiny_net(7);
            auto masks = mask_set<>::dense(net);
            pruner<>{}.run(net, masks, budget::sparsity(sparsity));
            const auto path = sparse_model_temp_path("round_trip.bprs");
            const std::size_t written = write_sparse_model(path, net, masks, format);
            CHECK(written == fs::file_size(path));
            CHECK(static_cast<index_t>(fs::file_size(path)) ==
                  model_bytes(net, masks, format) + static_cast<index_t>(sparse_header_bytes));

            auto loaded = test::make_tiny_net(99);  // other values, same architecture
            sparse_file_info info;
            const auto read = read_sparse_model(path, loaded, &info);
            CHECK(info.format == format);
            CHECK(static_cast<index_t>(info.nonzeros) == masks.nonzeros());
            REQUIRE(read.size() == masks.size());
            for (std::size_t i = 0; i < masks.size(); ++i)
                REQUIRE(std::ranges::equal(read[i].bits.bits(), masks[i].bits.bits()));
            require_same_values(net, loaded);
        }
    }
}

TEST_CASE("a model pruned to a byte budget exports to a file within that budget",
          "[io][sparse_model]") {
    for (const auto format : {storage_format::csr16, storage_format::bitmap})
        for (const index_t bytes : {800, 1500, 3000, 5000}) {
            INFO(format_name(format) << " " << bytes);
            auto net = test::make_tiny_net(5);
            auto masks = mask_set<>::dense(net);
            pruner<magnitude, lamp_allocation>{}.run(net, masks, budget::bytes(bytes, format));
            const auto path = sparse_model_temp_path("budget.bprs");
            write_sparse_model(path, net, masks, format);
            const auto size = static_cast<index_t>(fs::file_size(path));
            REQUIRE(size <= bytes);
            REQUIRE(bytes - size < model_cost(net, format).per_nonzero);
        }
}

TEST_CASE("masks over biases and norm parameters round-trip too", "[io][sparse_model]") {
    auto net = test::make_tiny_net(8);
    auto masks = mask_set<>::dense(net, {.weights = true, .biases = true, .norm = true});
    pruner<>{}.run(net, masks, budget::sparsity(0.8));
    const auto path = sparse_model_temp_path("roles.bprs");
    write_sparse_model(path, net, masks, storage_format::bitmap);
    CHECK(static_cast<index_t>(fs::file_size(path)) ==
          model_bytes(net, masks, storage_format::bitmap) +
              static_cast<index_t>(sparse_header_bytes));
    auto loaded = test::make_tiny_net(1);
    const auto read = read_sparse_model(path, loaded);
    CHECK(read.size() == 8);
    CHECK(read.roles().biases);
    CHECK(read.nonzeros() == masks.nonzeros());
    require_same_values(net, loaded);
}

TEST_CASE("a kept weight equal to zero stays in the mask", "[io][sparse_model]") {
    auto net = test::make_tiny_net();
    auto masks = mask_set<>::dense(net);
    net.get<2>().weight().value[0] = 0.0f;  // alive but zero, e.g. regrown with init zero
    const auto path = sparse_model_temp_path("zero_alive.bprs");
    write_sparse_model(path, net, masks, storage_format::csr16);
    auto loaded = test::make_tiny_net(3);
    CHECK(read_sparse_model(path, loaded).nonzeros() == masks.nonzeros());
}

TEST_CASE("csr16 splits rows wider than 65536 columns", "[io][sparse_model]") {
    using wide = sequential<named<"w", test::tiny_dense<float>>>;
    wide net{test::tiny_dense<float>(70000, 2)};
    test::randomize(net, 5);
    auto masks = mask_set<>::dense(net);
    std::vector<std::uint8_t> bits(140000, 0);
    for (std::size_t i : {0ul, 65535ul, 65536ul, 69999ul, 70000ul, 135536ul, 139999ul})
        bits[i] = 1;
    masks[0].bits.set_bits(bits);
    masks.apply(net);
    const auto path = sparse_model_temp_path("wide.bprs");
    write_sparse_model(path, net, masks, storage_format::csr16);
    // 2 rows x 2 segments: 5 row pointers; bias dense.
    CHECK(fs::file_size(path) == sparse_header_bytes + 4 * 5 + 6 * 7 + 4 * 2);
    wide loaded{test::tiny_dense<float>(70000, 2)};
    const auto read = read_sparse_model(path, loaded);
    CHECK(std::ranges::equal(read[0].bits.bits(), bits));
    require_same_values(net, loaded);
}

TEST_CASE("structured masks read back with their granularity", "[io][sparse_model]") {
    auto net = test::make_tiny_net();
    auto masks = mask_set<channel>::dense(net);
    pruner<magnitude, global_allocation, one_shot, channel>{}.run(net, masks,
                                                                  budget::sparsity(0.5));
    const auto path = sparse_model_temp_path("channel.bprs");
    write_sparse_model(path, net, masks, storage_format::bitmap);
    auto loaded = test::make_tiny_net(2);
    CHECK(read_sparse_model<channel>(path, loaded).nonzeros() == masks.nonzeros());
    auto again = test::make_tiny_net(2);
    auto unstructured_masks = mask_set<>::dense(again);
    pruner<>{}.run(again, unstructured_masks, budget::sparsity(0.5));
    write_sparse_model(path, again, unstructured_masks, storage_format::bitmap);
    CHECK_THROWS_WITH(read_sparse_model<channel>(path, loaded), Catch::Contains("channel"));
}

TEST_CASE("corrupt, truncated and foreign files are errors naming file and field",
          "[io][sparse_model]") {
    auto net = test::make_tiny_net();
    auto masks = mask_set<>::dense(net);
    pruner<>{}.run(net, masks, budget::sparsity(0.9));
    const auto path = sparse_model_temp_path("good.bprs");
    write_sparse_model(path, net, masks, storage_format::csr16);
    const std::string good = slurp(path);
    const auto bad = sparse_model_temp_path("bad.bprs");
    auto loaded = test::make_tiny_net();
    auto expect_error = [&](const std::string& bytes, const std::string& text) {
        spit(bad, bytes);
        CHECK_THROWS_WITH(read_sparse_model(bad, loaded),
                          Catch::Contains(bad.string()) && Catch::Contains(text));
    };

    expect_error(good.substr(0, 10), "shorter than the 64-byte header");
    expect_error(good.substr(0, good.size() - 1), "truncated");
    expect_error(good + "x", "trailing bytes");
    std::string bytes = good;
    bytes[0] = 'X';
    expect_error(bytes, "magic");
    bytes = good;
    bytes[8] = 2;
    expect_error(bytes, "version 2");
    bytes = good;
    bytes[12] = 9;
    expect_error(bytes, "format 9");
    bytes = good;
    bytes[40] ^= 1;  // nonzeros
    expect_error(bytes, "payload bytes");
    bytes = good;
    bytes[good.size() - 3] ^= 0x40;  // a buffer value
    expect_error(bytes, "checksum");
    bytes = good;
    bytes[64 + 2] ^= 1;  // first row pointer, checksum fixed below to reach the parser
    {
        detail::fnv1a h;
        h.add(bytes.data(), 56);
        h.add(bytes.data() + 64, bytes.size() - 64);
        std::memcpy(bytes.data() + 56, &h.hash, 8);
    }
    expect_error(bytes, "conv1.weight row pointer 0");

    auto mlp = test::make_tiny_mlp();
    CHECK_THROWS_WITH(read_sparse_model(path, mlp), Catch::Contains("another model"));
    using renamed_net = sequential<named<"conv1", test::tiny_conv_params<8, 3, 3>>,
                                   named<"conv2", test::tiny_conv_params<16, 8, 3>>,
                                   named<"head", test::tiny_dense<float>>>;
    renamed_net renamed{test::tiny_conv_params<8, 3, 3>{}, test::tiny_conv_params<16, 8, 3>{},
                        test::tiny_dense<float>(16, 10)};
    CHECK_THROWS_WITH(read_sparse_model(path, renamed), Catch::Contains("fingerprint"));
    CHECK_THROWS_WITH(read_sparse_model(sparse_model_temp_path("missing.bprs"), loaded),
                      Catch::Contains("cannot open"));
}
