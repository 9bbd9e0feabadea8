// Replays inputs through the fuzz targets without libFuzzer, in the normal build:
//   fuzz_regressions TARGET DIR   feeds every file in DIR to TARGET (fuzz/fuzz_<target>.cpp)
// Fails (exit 1) when an input escapes with anything but onenip::Error (the targets catch that
// one), when DIR holds no input, or when the target is unknown; a crash fails it too. Run under
// ASan + UBSan (tests/run.sh sanitize) it also catches the memory errors the inputs once caused.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz_target.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_regressions TARGET DIR\n");
    return 2;
  }
  auto& all = onenip::fuzz::targets();
  auto target = all.find(argv[1]);
  if (target == all.end()) {
    std::fprintf(stderr, "fuzz_regressions: no target '%s'\n", argv[1]);
    return 1;
  }
  std::vector<std::filesystem::path> inputs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(argv[2], ec))
    if (e.is_regular_file()) inputs.push_back(e.path());
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::fprintf(stderr, "fuzz_regressions: no inputs in '%s'%s\n", argv[2], ec ? " (cannot read it)" : "");
    return 1;
  }
  int failed = 0;
  for (const auto& p : inputs) {
    std::ifstream f(p, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    try {
      target->second(bytes.data(), bytes.size());
      std::printf("ok   %s\n", p.filename().c_str());
    } catch (const std::exception& e) {
      std::printf("FAIL %s: escaped with an exception other than onenip::Error: %s\n", p.filename().c_str(), e.what());
      ++failed;
    }
  }
  std::printf("%zu inputs, %d failed\n", inputs.size(), failed);
  return failed ? 1 : 0;
}
