/// \file
/// operator<< for tensors: shape, then values (the first and last few along each dim).
#pragma once

#include <iomanip>
#include <ostream>

#include "ops/views.hpp"

namespace onenip {

namespace detail {
template <typename T>
void print_rec(std::ostream& os, const Tensor<T>& t, Shape& idx, size_t d, int edge) {
  if (d == t.shape().size()) {
    os << std::setw(10) << t.at(idx);
    return;
  }
  int64_t n = t.shape()[d];
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * edge && i == edge) {
      os << (d + 1 == t.shape().size() ? " ..." : "\n ...");
      i = n - edge - 1;
      continue;
    }
    idx[d] = i;
    if (i > 0) os << (d + 1 == t.shape().size() ? ", " : ",\n ");
    print_rec(os, t, idx, d + 1, edge);
  }
  os << "]";
}
}  // namespace detail

template <typename T>
std::ostream& operator<<(std::ostream& os, const Tensor<T>& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  os << "Tensor" << shape_str(t.shape()) << (sizeof(T) == 4 ? " float32" : " float64");
  if (t.requires_grad()) os << " requires_grad";
  os << "\n";
  Shape idx(t.shape().size(), 0);
  detail::print_rec(os, t, idx, 0, 3);
  return os;
}

}  // namespace onenip
