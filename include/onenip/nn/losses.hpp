/// \file
/// Training losses, composed from differentiable ops (so their gradients come from autograd).
///   mse_loss(a, b):   mean((a - b)^2) over all elements.
///   dice_loss(p, t):  per sample n over all non-batch dims, then the mean over the batch:
///     paper     (OneNIP Eq. 7):       1 - 2 sum(p t) / (sum p^2 + sum t^2)
///     reference (the authors' code):  1 - (sum(p t) + 1) / (sum p^2 + sum t^2 + 1)
///   The paper form is 0/0 for a sample where p and t are both all zero (a sigmoid output
///   underflows to exactly 0 in float below about -104): that sample is a perfect match, ratio
///   1, loss 0, zero gradient. The reference form gives ~0.5 for a perfect prediction, not 0
///   (no factor 2): that is what the authors trained with.
#pragma once

#include "../ops/reduce.hpp"

namespace onenip::nn {

template <typename T>
Tensor<T> mse_loss(const Tensor<T>& input, const Tensor<T>& target) {
  ONENIP_CHECK(input.shape() == target.shape(), "mse_loss: input ", shape_str(input.shape()), " and target ",
               shape_str(target.shape()), " differ in shape");
  return mean(square(sub(input, target)));
}

enum class DiceForm { paper, reference };

inline const char* dice_form_name(DiceForm f) { return f == DiceForm::paper ? "paper" : "reference"; }

/// p, t: (N, ...), such as (N, 1, H, W) probabilities and masks.
template <typename T>
Tensor<T> dice_loss(const Tensor<T>& p, const Tensor<T>& t, DiceForm form) {
  ONENIP_CHECK(p.dim() >= 2 && p.shape() == t.shape(), "dice_loss: prediction ", shape_str(p.shape()), " and target ",
               shape_str(t.shape()), " must have the same shape (N, ...) with at least 2 dims");
  const int64_t n = p.size(0);
  Tensor<T> pf = p.reshape({n, -1}), tf = t.reshape({n, -1});
  Tensor<T> inter = sum(mul(pf, tf), {1});                              // (N)
  Tensor<T> denom = add(sum(square(pf), {1}), sum(square(tf), {1}));    // (N)
  Tensor<T> ratio;
  if (form == DiceForm::paper) {
    // `empty`: 1 where the denominator is 0 (then the numerator is too), 0 where it is a normal
    // number; constant, so the gradient there is 0 rather than 0/0.
    const T to_one = T(1) / std::numeric_limits<T>::min();
    Tensor<T> empty = T(1) - clamp(mul(denom.detach(), to_one), T(0), T(1));
    ratio = div(add(mul(inter, T(2)), empty), add(denom, empty));
  } else {
    ratio = div(add(inter, T(1)), add(denom, T(1)));
  }
  return T(1) - mean(ratio);
}

}  // namespace onenip::nn
