// Replace a file atomically: write `<path>.tmp`, fsync it, rename it over `path`, fsync the
// folder. Readers see the old file or the new one, never a mix; a crash mid-write leaves the
// old file intact and at most a stale `<path>.tmp`, which the next write overwrites.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace onenip::io {

// What `fill` gets: a sink that writes all bytes or throws, naming the file.
class FileSink {
public:
  FileSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno == EINTR) continue;
      ONENIP_CHECK(k > 0, "cannot write to '", path_, "': ", std::strerror(errno));
      p += k;
      n -= size_t(k);
    }
  }
  const std::string& path() const { return path_; }

private:
  int fd_;
  std::string path_;
};

inline std::string temp_path_for(const std::string& path) { return path + ".tmp"; }

// Write `path` atomically with `fill(FileSink&)`. If fill throws (or any step fails) the
// temporary file is removed, `path` is untouched, and the error propagates.
template <typename Fill>
void atomic_write(const std::string& path, Fill&& fill) {
  const std::string tmp = temp_path_for(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ONENIP_CHECK(fd >= 0, "cannot create '", tmp, "' (to write '", path, "'): ", std::strerror(errno));
  try {
    FileSink sink(fd, tmp);
    fill(sink);
    ONENIP_CHECK(::fsync(fd) == 0, "cannot flush '", tmp, "' to disk: ", std::strerror(errno));
    int rc = ::close(fd);
    fd = -1;
    ONENIP_CHECK(rc == 0, "cannot close '", tmp, "': ", std::strerror(errno));
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    ONENIP_CHECK(!ec, "cannot rename '", tmp, "' to '", path, "': ", ec.message());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  // Make the rename itself durable. Best effort: some file systems refuse fsync on folders.
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

// Write `size` bytes to `path` atomically; errors start with `who` (the caller, e.g. "save_png").
inline void write_file_atomically(const std::string& path, const void* data, size_t size, const char* who) {
  try {
    atomic_write(path, [&](FileSink& f) { f.write(data, size); });
  } catch (const Error& e) {
    onenip::detail::fail(who, ": ", e.what());
  }
}
inline void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes, const char* who) {
  write_file_atomically(path, bytes.data(), bytes.size(), who);
}
// Text (JSON, CSV, HTML) as it is, no newline conversion.
inline void write_file_atomically(const std::string& path, std::string_view text, const char* who) {
  write_file_atomically(path, text.data(), text.size(), who);
}

}  // namespace onenip::io
