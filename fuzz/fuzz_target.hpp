// One fuzz target: ONENIP_FUZZ_TARGET(name) { ... } feeds `data`/`size` to one of the library's
// readers. The body catches onenip::Error only (a refusal with a message is the correct answer
// to a bad file); any other exception, a crash, a leak or a hang is a finding.
//
// Built two ways: with clang's libFuzzer (fuzz/run.sh, build-fuzz/) the body becomes
// LLVMFuzzerTestOneInput; in the normal build (ONENIP_FUZZ_REGRESSION, fuzz/regress.cpp) it
// registers under its name, and the regression test replays fuzz/regressions/<name>/ through it.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace onenip::fuzz {

using TargetFn = int (*)(const uint8_t* data, size_t size);

inline std::map<std::string, TargetFn>& targets() {
  static std::map<std::string, TargetFn> all;
  return all;
}
inline bool register_target(const char* name, TargetFn fn) { return targets().emplace(name, fn).second; }

// A scratch folder for the readers that take a path: one per process (libFuzzer runs the
// inputs one after another in one process), on tmpfs when there is one. Removed at exit.
class Scratch {
public:
  Scratch() {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : std::filesystem::temp_directory_path();
    static int count = 0;
    dir_ = base / ("onenip_fuzz_" + std::to_string(::getpid()) + "_" + std::to_string(count++));
    std::filesystem::create_directories(dir_);
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::filesystem::path& dir() const { return dir_; }
  // Writes the bytes to `rel` (creating folders) and returns its path.
  std::string write(const std::string& rel, const uint8_t* data, size_t size) const {
    auto p = dir_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
    return p.string();
  }

private:
  std::filesystem::path dir_;
};

}  // namespace onenip::fuzz

#ifdef ONENIP_FUZZ_REGRESSION
#define ONENIP_FUZZ_TARGET(name)                                                                   \
  static int name##_one_input(const uint8_t* data, size_t size);                                   \
  [[maybe_unused]] static const bool name##_registered = ::onenip::fuzz::register_target(#name, name##_one_input); \
  static int name##_one_input(const uint8_t* data, size_t size)
#else
#define ONENIP_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
#endif
