/// \file
/// Shapes and strides: lists of int64 sizes, PyTorch's dimension order.
#pragma once

#include <cstdint>
#include <vector>

namespace onenip {

using Shape = std::vector<int64_t>;

inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

/// Row-major (C-order) strides for a shape.
inline Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i] > 0 ? s[i] : 1;
  }
  return st;
}

}  // namespace onenip
