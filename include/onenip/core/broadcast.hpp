/// \file
/// Broadcasting (NumPy / PyTorch rules): the shape two operands broadcast to, and the strides
/// that read an operand as if it had that shape.
#pragma once

#include <algorithm>

#include "../tensor.hpp"

namespace onenip {

/// Shape that a and b broadcast to; the error shows both shapes.
inline Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ONENIP_CHECK(da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ", shape_str(b),
                 " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

/// Strides that read a tensor of `shape`/`strides` as if it had shape `target` (0 where broadcast).
inline Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& target) {
  Shape out(target.size(), 0);
  size_t lead = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    ONENIP_CHECK(shape[i] == target[i + lead] || shape[i] == 1, "cannot broadcast shape ", shape_str(shape),
                 " to ", shape_str(target));
    out[i + lead] = shape[i] == 1 ? 0 : strides[i];
  }
  return out;
}

}  // namespace onenip
