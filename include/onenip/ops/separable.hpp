/// \file
/// Separable linear maps of image planes: y = A_h · x · A_wᵀ for every [H, W] plane of an
/// [N, C, H, W] tensor, with A_h [Ho, H] and A_w [Wo, W] sparse. Average pooling, global average
/// pooling, bilinear and nearest resizing and Gaussian blur are all such maps; they differ only in
/// the two 1-D matrices. The backward is the adjoint, gx = A_hᵀ · g · A_w, so nothing but the two
/// small matrices is kept for it.
#pragma once

#include <memory>
#include <vector>

#include "../autograd.hpp"
#include "../kernels/separable.hpp"
#include "views.hpp"

namespace onenip {

template <typename T> using AxisMap = kernels::AxisMap<T>;

namespace detail {

// Apply the map (or its adjoint) to every plane of a contiguous [N, C, *, *] tensor.
template <typename T>
Tensor<T> separable_apply(const Tensor<T>& x, const AxisMap<T>& ah, const AxisMap<T>& aw, bool adjoint) {
  const int64_t out_h = adjoint ? ah.in : ah.out, out_w = adjoint ? aw.in : aw.out;
  Tensor<T> y = Tensor<T>::empty({x.size(0), x.size(1), out_h, out_w}, x.device());
  kernels::separable<T>({x.device(), x.size(0) * x.size(1), &ah, &aw, adjoint, x.data_ptr(), y.data_ptr()});
  return y;
}

// The differentiable op: y = A_h · x · A_wᵀ per plane of x [N, C, H, W] (any strides: copied to a
// contiguous buffer first). Callers have checked x's rank and that the maps fit its H and W.
template <typename T>
Tensor<T> separable_map(const Tensor<T>& x, std::shared_ptr<const AxisMap<T>> ah, std::shared_ptr<const AxisMap<T>> aw,
                        const char* name) {
  Tensor<T> out = separable_apply(x.detach().contiguous(), *ah, *aw, false);
  return record<T>(out, name, {x}, [ah, aw](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{separable_apply(g.contiguous(), *ah, *aw, true)};
  });
}

}  // namespace detail
}  // namespace onenip
