#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "bpr/train/progress.hpp"

TEST_CASE("format_duration", "[train][progress]") {
    CHECK(bpr::format_duration(0) == "0:00");
    CHECK(bpr::format_duration(42.4) == "0:42");
    CHECK(bpr::format_duration(725) == "12:05");
    CHECK(bpr::format_duration(3723) == "1:02:03");
    CHECK(bpr::format_duration(-1) == "?");
    CHECK(bpr::format_duration(1.0 / 0.0) == "?");
}

TEST_CASE("progress_line writes plain lines when not on a terminal", "[train][progress]") {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    bpr::progress_line line(file);
    CHECK_FALSE(line.interactive());
    line.update("live 1", true);
    line.finish("epoch 1/2 done");
    line.update("live 2", true);
    line.finish("epoch 2/2 done");
    std::rewind(file);
    std::string text;
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, file) != nullptr)
        text += buffer;
    std::fclose(file);
    CHECK(text == "epoch 1/2 done\nepoch 2/2 done\n");

    bpr::progress_line silent(nullptr);
    silent.update("x", true);
    silent.finish("y");  // no stream: nothing to do, no crash
}
