/// \file
/// Errors: one exception type, and a check macro whose message is built with <<.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace onenip {

/// The one exception type onenip throws; ONENIP_CHECK builds its message.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void stream_all(std::ostringstream&) {}
template <typename A, typename... R>
void stream_all(std::ostringstream& os, const A& a, const R&... r) {
  os << a;
  stream_all(os, r...);
}
template <typename... A>
[[noreturn]] void fail(const A&... parts) {
  std::ostringstream os;
  stream_all(os, parts...);
  throw Error(os.str());
}
}  // namespace detail

/// Shapes print as [2, 3, 4] in every message.
inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace onenip

/// ONENIP_CHECK(cond, "what", value, "more") throws onenip::Error with the parts concatenated.
#define ONENIP_CHECK(cond, ...)                                  \
  do {                                                           \
    if (!(cond)) ::onenip::detail::fail(__VA_ARGS__);            \
  } while (0)
