#include "bpr/data/any_format.hpp"

#include <catch2/catch.hpp>

#include "test_files.hpp"

using Catch::Matchers::Contains;
using namespace bpr_test;
using bpr::data::format;
using bpr::data::subset_kind;

TEST_CASE("load recognises the three layouts", "[data][any_format]") {
    temp_dir root;
    bytes record;
    append_cifar_record(record, 4, 0);
    write_file(root / "cifar/test_batch.bin", record);
    write_gz(root / "fashion/t10k-images-idx3-ubyte.gz", idx_images(3, 2, 2));
    write_gz(root / "fashion/t10k-labels-idx1-ubyte.gz", idx_labels({1, 2, 3}));
    write_png(root / "folders/train/a/x.png", 4, 4, 3, 0);
    write_png(root / "folders/test/a/y.png", 4, 4, 3, 1);
    write_png(root / "folders/test/b/z.png", 4, 4, 3, 2);

    CHECK(bpr::data::detect_format(root / "cifar") == format::cifar10_binary);
    CHECK(bpr::data::detect_format(root / "fashion") == format::mnist_idx);
    CHECK(bpr::data::detect_format(root / "folders") == format::image_folder);

    CHECK(bpr::data::load(root / "cifar", subset_kind::test).labels == std::vector<int>{4});
    const auto idx = bpr::data::load(root / "fashion", subset_kind::test);
    CHECK(idx.size() == 3);
    CHECK(idx.class_names.at(0) == "T-shirt/top");
    const auto folders = bpr::data::load(root / "folders", subset_kind::test);
    CHECK(folders.labels == std::vector<int>{0, 1});
    CHECK(bpr::data::load(root / "folders", subset_kind::train).size() == 1);

    std::filesystem::create_directories(root / "other");
    CHECK_THROWS_WITH(bpr::data::detect_format(root / "other"),
                      Contains("other") && Contains("no known dataset layout"));
    CHECK_THROWS_WITH(bpr::data::load(root / "missing", subset_kind::train),
                      Contains("missing") && Contains("does not exist"));
}
