// Sparse model files against the hostile-input matrix: empty, every truncation length,
// every header field off by one, absurd sizes, every flipped bit (FNV-1a checksum),
// NaN weights and broken structure behind a valid checksum, the wrong model.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "../sparse/tiny_model.hpp"
#include "bpr/io/sparse_model.hpp"
#include "bpr/prune/pruner.hpp"
#include "hostile.hpp"

namespace {

const std::string file_name = "hostile.bprs";

std::string good_file(bpr::storage_format format) {
    bpr_hostile::temp_folder dir("sparse_model");
    auto net = bpr::test::make_tiny_net(3);
    auto masks = bpr::mask_set<>::dense(net);
    bpr::pruner<>{}.run(net, masks, bpr::budget::sparsity(0.95));
    bpr::write_sparse_model(dir / "good.bprs", net, masks, format);
    return bpr_hostile::read_bytes(dir / "good.bprs");
}

auto parse_tiny_net_file(const std::string& bytes) {
    auto model = bpr::test::make_tiny_net(9);
    return bpr::parse_sparse_model(bytes, model, file_name);
}

// Recomputes the checksum so that a change reaches the checks behind it.
std::string resealed(std::string bytes) {
    bpr::detail::fnv1a h;
    h.add(bytes.data(), 56);
    h.add(bytes.data() + 64, bytes.size() - 64);
    std::memcpy(bytes.data() + 56, &h.hash, 8);
    return bytes;
}

template <typename V>
std::string with(std::string bytes, std::size_t offset, V value) {
    std::memcpy(bytes.data() + offset, &value, sizeof value);
    return bytes;
}

template <typename V>
V field(const std::string& bytes, std::size_t offset) {
    V value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

}  // namespace

TEST_CASE("sparse model: empty and every truncation length", "[hostile][sparse_model]") {
    for (const auto format : {bpr::storage_format::csr16, bpr::storage_format::bitmap}) {
        const std::string good = good_file(format);
        REQUIRE_NOTHROW(parse_tiny_net_file(good));
        BPR_REQUIRE_REJECTS(parse_tiny_net_file(""), "hostile.bprs: the file is empty");
        for (std::size_t length = 1; length < good.size(); ++length) {
            const std::string message =
                bpr_hostile::error_of([&] { parse_tiny_net_file(good.substr(0, length)); });
            const bool named = message.rfind(file_name + ": ", 0) == 0;
            const bool says = message.find(length < 64 ? "shorter than the 64-byte header"
                                                       : "(truncated)") != std::string::npos;
            if (!named || !says) FAIL("length " << length << ": " << message);
        }
        BPR_REQUIRE_REJECTS(parse_tiny_net_file(good + '\0'), "hostile.bprs: file has",
                            "(trailing bytes)");
    }
}

TEST_CASE("sparse model: every header field off by one names the field",
          "[hostile][sparse_model]") {
    const std::string good = good_file(bpr::storage_format::csr16);
    const auto u32 = [&](std::size_t at) { return field<std::uint32_t>(good, at); };
    const auto u64 = [&](std::size_t at) { return field<std::uint64_t>(good, at); };
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 0, 'C')), "hostile.bprs: field 'magic'");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 8, u32(8) + 1)), "hostile.bprs: version 2",
                        "field 'version'");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 8, u32(8) - 1)), "version 0");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 12, std::uint32_t{3})), "format 3",
                        "field 'format'");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 12, std::uint32_t{0})), "format 0");
    // Roles 1 -> 2 is a valid code for another role set: the prunable count disagrees.
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 16, u32(16) + 1)), "field 'prunable count'");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 16, std::uint32_t{8})), "field 'roles'");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 20, u32(20) + 1)), "field 'parameter count'",
                        "file of another model");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 24, u32(24) - 1)), "field 'prunable count'");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 28, u32(28) + 1)), "field 'buffer count'");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 32, u64(32) + 1)), "field 'fingerprint'");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 40, u64(40) + 1)),
                        "field 'payload bytes' is");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 40, u64(40) - 1)),
                        "field 'payload bytes' is");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 48, u64(48) + 1)),
                        "field 'payload bytes' is");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 56, u64(56) + 1)),
                        "field 'checksum' does not match");
    // Absurd sizes: 2^40 nonzeros and 2^40 payload bytes, refused before any allocation.
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 40, std::uint64_t{1} << 40)),
                        "field 'nonzeros' is 1099511627776, more than the model's");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(with(good, 48, std::uint64_t{1} << 40)),
                        "field 'payload bytes' is 1099511627776");
}

TEST_CASE("sparse model: every flipped bit is caught", "[hostile][sparse_model]") {
    for (const auto format : {bpr::storage_format::csr16, bpr::storage_format::bitmap}) {
        const std::string good = good_file(format);
        for (std::size_t byte = 0; byte < good.size(); ++byte)
            for (int bit = 0; bit < 8; ++bit) {
                std::string flipped = good;
                flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
                const std::string message =
                    bpr_hostile::error_of([&] { parse_tiny_net_file(flipped); });
                if (message.rfind(file_name + ": ", 0) != 0)
                    FAIL("byte " << byte << " bit " << bit << ": " << message);
            }
    }
}

TEST_CASE("sparse model: broken structure and NaN weights behind a valid checksum",
          "[hostile][sparse_model]") {
    const std::string csr = good_file(bpr::storage_format::csr16);
    // conv1.weight: 8 rows, one csr16 segment each: 9 row pointers, then the columns.
    const auto nonzeros = field<std::uint32_t>(csr, 64 + 8 * 4);
    REQUIRE(nonzeros > 1);
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(resealed(with(csr, 64 + 4, nonzeros + 1))),
                        "hostile.bprs: conv1.weight row pointer 2", "is below the previous one");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(resealed(with(csr, 64 + 9 * 4, std::uint16_t{27}))),
                        "hostile.bprs: conv1.weight column index 27", "out of range or order");
    // The first stored value of conv1.weight follows its row pointers and columns.
    const std::size_t first_value = 64 + 9 * 4 + 2 * nonzeros;
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(resealed(with(csr, first_value, std::nanf("")))),
                        "hostile.bprs: field 'conv1.weight values' has nan at position",
                        "NaN and Inf weights are not accepted");
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(resealed(with(csr, csr.size() - 4, -INFINITY))),
                        "field 'conv2.bn.running_mean values' has -inf at position 15");

    const std::string bitmap = good_file(bpr::storage_format::bitmap);
    // More kept bits than stored values: the decoder runs out of payload.
    BPR_REQUIRE_REJECTS(parse_tiny_net_file(resealed(with(bitmap, 64, std::uint8_t{0xff}))),
                        "hostile.bprs: truncated at byte", "while reading");

    auto mlp = bpr::test::make_tiny_mlp();
    BPR_REQUIRE_REJECTS(bpr::parse_sparse_model(csr, mlp, file_name),
                        "hostile.bprs: field 'parameter count' 8", "file of another model");
}
