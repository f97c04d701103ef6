// CIFAR-10 binary batches against the hostile-input matrix. The format has no header:
// its only structure is the 3,073-byte record, so truncation anywhere and labels out of
// range are what can be wrong (and flipped bits in a .gz, caught by gzip's CRC-32).
#include <algorithm>
#include <span>
#include <string>

#include "../data/test_files.hpp"
#include "bpr/data/cifar10.hpp"
#include "hostile.hpp"

using bpr_test::bytes;

TEST_CASE("cifar10: empty, every truncation length and labels off by one", "[hostile][cifar10]") {
    bytes good;
    bpr_test::append_cifar_record(good, 9, 0);
    bpr_test::append_cifar_record(good, 0, 1);
    auto parse = [](const bytes& b) {
        return bpr::data::parse_cifar10(std::span<const unsigned char>(b), "hostile.bin");
    };
    REQUIRE(parse(good).size() == 2);
    BPR_REQUIRE_REJECTS(parse(bytes{}), "hostile.bin: the file is empty");
    for (std::size_t length = 1; length < good.size(); ++length) {
        if (length == 3073) continue;  // one whole record is a valid file
        const bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length));
        const std::string message = bpr_hostile::error_of([&] { parse(cut); });
        if (message.find("hostile.bin: file size is") == std::string::npos ||
            message.find("not a multiple of the record size 3073") == std::string::npos)
            FAIL("length " << length << ": " << message);
    }
    bytes label = good;
    label[3073] = 10;
    BPR_REQUIRE_REJECTS(parse(label), "hostile.bin: label of record 1 is 10, outside [0, 10)");
    label[3073] = 255;
    BPR_REQUIRE_REJECTS(parse(label), "label of record 1 is 255");
}

TEST_CASE("cifar10 .gz: truncated or flipped streams are errors naming the file",
          "[hostile][cifar10]") {
    bpr_hostile::temp_folder dir("cifar");
    bytes good;
    bpr_test::append_cifar_record(good, 4, 0);
    bpr_test::write_gz(dir / "good.bin", good);
    const std::string gz = bpr_hostile::read_bytes(dir / "good.bin");
    const auto bad = dir / "data_batch_1.bin";
    for (std::size_t length = 0; length < gz.size(); length += 3) {
        bpr_hostile::write_bytes(bad, gz.substr(0, length));
        BPR_REQUIRE_REJECTS(bpr::data::load_cifar10_files({bad}), bad.string() + ": ");
    }
    // As for IDX: a flip passes only if it changed no decoded byte (padding bits).
    const auto original = bpr::data::load_cifar10_files({dir / "good.bin"});
    for (std::size_t at = 10; at < gz.size(); ++at) {
        std::string flipped = gz;
        flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
        bpr_hostile::write_bytes(bad, flipped);
        try {
            const auto loaded = bpr::data::load_cifar10_files({bad});
            if (loaded.labels != original.labels ||
                !std::equal(loaded.images.begin(), loaded.images.end(), original.images.begin()))
                FAIL("byte " << at << ": changed data was accepted");
        } catch (const bpr::error& e) {
            if (std::string(e.what()).rfind(bad.string() + ": ", 0) != 0)
                FAIL("byte " << at << ": " << e.what());
        }
    }
}
