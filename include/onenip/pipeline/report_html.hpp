/// \file
/// Small HTML helpers of the report: percentages, base64 for embedded PNGs, escaping.
#pragma once

#include <cmath>
#include <cstdint>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

namespace onenip::pipeline::detail {

inline std::string pct(double v) {
  if (std::isnan(v)) return "n/a";
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << 100 * v;
  return os.str();
}
inline std::string base64(const std::vector<uint8_t>& in) {
  static const char* tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = uint32_t(in[i]) << 16 | (i + 1 < in.size() ? uint32_t(in[i + 1]) << 8 : 0) |
                 (i + 2 < in.size() ? in[i + 2] : 0);
    out += tab[v >> 18 & 63];
    out += tab[v >> 12 & 63];
    out += i + 1 < in.size() ? tab[v >> 6 & 63] : '=';
    out += i + 2 < in.size() ? tab[v & 63] : '=';
  }
  return out;
}
inline std::string html_escape(const std::string& s) {
  std::string o;
  for (char ch : s) o += ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;" : std::string(1, ch);
  return o;
}
}  // namespace onenip::pipeline::detail
