/// \file
/// Replace a file atomically: write `<path>.tmp`, fsync it, rename it over `path`, fsync the
/// folder. Readers see the old file or the new one, never a mix; a crash mid-write leaves the
/// old file intact and at most a stale `<path>.tmp`, which the next write overwrites.
///
/// Test-only fault injection: `ONENIP_FAULT_WRITE="<name>:<bytes>:<action>"` (read once) makes the
/// atomic write of every file whose temporary path contains `<name>` misbehave exactly:
///   kill    write `<bytes>` bytes of it, then raise SIGKILL (a run killed mid-write, at a known byte)
///   enospc  write `<bytes>` bytes, then fail as a full disk does (errno ENOSPC)
///   eacces  refuse to create it, as an unwritable folder does (`<bytes>` unused); root ignores
///           folder permissions, so tests use this instead of chmod
/// A file shorter than `<bytes>` is written whole. Unset (always, outside tests) it costs one
/// pointer test per write.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"

namespace onenip::io {

namespace detail {
struct WriteFault {
  enum Action { kill, enospc, eacces };
  std::string name;
  uint64_t bytes = 0;
  Action action = kill;
};

// ONENIP_FAULT_WRITE parsed once; a malformed value is an error at the first write.
inline const WriteFault* write_fault() {
  static const std::optional<WriteFault> fault = []() -> std::optional<WriteFault> {
    const char* env = std::getenv("ONENIP_FAULT_WRITE");
    if (env == nullptr || *env == '\0') return std::nullopt;
    const std::string v = env;
    const size_t a = v.rfind(':'), b = a == std::string::npos || a == 0 ? std::string::npos : v.rfind(':', a - 1);
    ONENIP_CHECK(b != std::string::npos, "ONENIP_FAULT_WRITE='", v, "': expected <name>:<bytes>:kill|enospc|eacces");
    WriteFault f;
    f.name = v.substr(0, b);
    f.bytes = std::strtoull(v.c_str() + b + 1, nullptr, 10);
    const std::string action = v.substr(a + 1);
    ONENIP_CHECK(action == "kill" || action == "enospc" || action == "eacces", "ONENIP_FAULT_WRITE='", v,
                 "': the action must be kill, enospc or eacces");
    f.action = action == "kill" ? WriteFault::kill : action == "enospc" ? WriteFault::enospc : WriteFault::eacces;
    return f;
  }();
  return fault ? &*fault : nullptr;
}
inline const WriteFault* write_fault_for(const std::string& path) {
  const WriteFault* f = write_fault();
  return f != nullptr && path.find(f->name) != std::string::npos ? f : nullptr;
}
}  // namespace detail

/// Throw "<what>: <reason>", adding that `target` (the file an atomic write was replacing) is
/// unchanged when it exists. `err` is the errno of the failed call, read before anything else runs.
[[noreturn]] inline void fail_write(const std::string& what, int err, const std::string& target) {
  std::error_code ec;
  const bool kept = !target.empty() && std::filesystem::exists(target, ec);
  onenip::detail::fail(what, ": ", std::strerror(err), kept ? "; '" + target + "' is unchanged" : std::string());
}

/// What `fill` gets: a sink that writes all bytes or throws, naming the file (and `target`, the
/// file it will replace).
class FileSink {
public:
  FileSink(int fd, std::string path, std::string target = "")
      : fd_(fd), path_(std::move(path)), target_(std::move(target)), fault_(detail::write_fault_for(path_)) {}
  void write(const void* data, size_t n) {
    if (fault_ != nullptr && written_ + n > fault_->bytes) {  // test-only: see the top of the file
      write_all(data, size_t(fault_->bytes - written_));
      if (fault_->action == detail::WriteFault::kill) std::raise(SIGKILL);
      fail_write("cannot write to '" + path_ + "'", ENOSPC, target_);
    }
    write_all(data, n);
  }
  const std::string& path() const { return path_; }

private:
  void write_all(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    written_ += n;
    while (n > 0) {
      ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) fail_write("cannot write to '" + path_ + "'", errno, target_);
      p += k;
      n -= size_t(k);
    }
  }

  int fd_;
  std::string path_, target_;
  const detail::WriteFault* fault_;  ///< null unless a test injects a fault into this file
  uint64_t written_ = 0;
};

inline std::string temp_path_for(const std::string& path) { return path + ".tmp"; }

/// Write `path` atomically with `fill(FileSink&)`. If fill throws (or any step fails) the
/// temporary file is removed, `path` is untouched, and the error propagates.
template <typename Fill>
void atomic_write(const std::string& path, Fill&& fill) {
  const std::string tmp = temp_path_for(path);
  const detail::WriteFault* fault = detail::write_fault_for(tmp);
  int fd = fault != nullptr && fault->action == detail::WriteFault::eacces
               ? (errno = EACCES, -1)  // test-only: an unwritable folder
               : ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ONENIP_CHECK(fd >= 0, "cannot create '", tmp, "' (to write '", path, "'): ", std::strerror(errno));
  try {
    FileSink sink(fd, tmp, path);
    fill(sink);
    if (::fsync(fd) != 0) fail_write("cannot flush '" + tmp + "' to disk", errno, path);
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) fail_write("cannot close '" + tmp + "'", errno, path);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) fail_write("cannot rename '" + tmp + "' to '" + path + "'", ec.value(), path);
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

/// Write `size` bytes to `path` atomically; errors start with `who` (the caller, such as "save_png").
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
/// Text (JSON, CSV, HTML) as it is, no newline conversion.
inline void write_file_atomically(const std::string& path, std::string_view text, const char* who) {
  write_file_atomically(path, text.data(), text.size(), who);
}

}  // namespace onenip::io
