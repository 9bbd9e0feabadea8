/// \file
/// The frozen backbone's interface (docs/onenip.md, section 1): a pretrained network that maps images
/// [N, 3, S, S] to a few intermediate maps ("taps") at strides 2..16, and the neck that resizes
/// each tap to S/16 (bilinear, align_corners = true: point-sampled, no antialiasing) and
/// concatenates them along channels -> [N, C, S/16, S/16].
///
/// Frozen means: eval-mode batch norm (folded into the convolutions at load time), no dropout or
/// drop-connect, and no autograd graph: every forward runs under NoGradGuard, so the outputs
/// never require grad, whatever the inputs.
#pragma once

#include <exception>
#include <numeric>
#include <string>
#include <vector>

#include "../autograd.hpp"
#include "../core/parallel.hpp"
#include "../ops/join.hpp"
#include "../ops/resize.hpp"
#include "normalization.hpp"

namespace onenip::models {

/// How a backbone is built from its weights.
struct BackboneOptions {
  bool fold_bn = true;  ///< false: the unfolded reference path (blocks.hpp), for tests
};

/// The frozen backbone's interface: images [N, 3, S, S] to features [N, C, S/16, S/16].
template <typename T>
class FeatureExtractor {
public:
  virtual ~FeatureExtractor() = default;

  virtual std::string name() const = 0;
  virtual std::vector<int64_t> tap_channels() const = 0;
  virtual std::vector<int64_t> tap_strides() const = 0;
  virtual Normalization normalization() const = 0;

  /// Moves the weights to `device` (as nn::Module::to); images given later must be there too.
  virtual void to(Device device) = 0;
  Device device() const { return device_; }

  /// Sum of the tap channels: the C of features().
  int64_t channels() const {
    auto c = tap_channels();
    return std::accumulate(c.begin(), c.end(), int64_t(0));
  }

  /// images [N, 3, H, W], normalised -> one map per tap, [N, tap_channels()[i], ~H/s_i, ~W/s_i].
  std::vector<Tensor<T>> taps(const Tensor<T>& images) const {
    check_images(images, 1);
    auto per_image = for_each_image(images, [&](const Tensor<T>& one) { return forward_taps(one); });
    std::vector<Tensor<T>> out;
    for (size_t k = 0; k < per_image[0].size(); ++k) out.push_back(cat(column(per_image, k), 0));
    return out;
  }

  /// images [N, 3, H, W] (H, W multiples of 16) -> [N, channels(), H/16, W/16]: every tap resized
  /// to H/16 x W/16 (bilinear, align_corners = true), concatenated in tap order.
  Tensor<T> features(const Tensor<T>& images) const {
    check_images(images, 16);
    const int64_t h = images.size(2) / 16, w = images.size(3) / 16;
    auto per_image = for_each_image(images, [&](const Tensor<T>& one) {
      std::vector<Tensor<T>> maps = forward_taps(one);
      for (auto& m : maps)
        if (m.size(2) != h || m.size(3) != w) m = resize_bilinear(m, h, w, true);
      return std::vector<Tensor<T>>{cat(maps, 1)};
    });
    return cat(column(per_image, 0), 0);
  }

protected:
  Device device_ = Device::CPU;

  /// The network on a batch [n, 3, H, W] (checked): the taps. Runs with grad mode off.
  virtual std::vector<Tensor<T>> forward_taps(const Tensor<T>& images) const = 0;

  /// images must be [N, 3, H, W] with N >= 1 and H, W positive multiples of `multiple`.
  void check_images(const Tensor<T>& images, int64_t multiple) const {
    ONENIP_CHECK(images.defined(), name(), ": the images are an undefined tensor");
    ONENIP_CHECK(images.device() == device_, name(), ": the images are on ", device_name(images.device()),
                 ", the weights on ", device_name(device_), " (move one with .to())");
    const Shape& s = images.shape();
    ONENIP_CHECK(s.size() == 4 && s[0] >= 1 && s[1] == 3 && s[2] >= 1 && s[3] >= 1, name(),
                 ": images must be [N, 3, H, W] with N, H, W >= 1, got ", shape_str(s));
    ONENIP_CHECK(s[2] % multiple == 0 && s[3] % multiple == 0, name(), ": image height and width must be multiples of ",
                 multiple, " (the features have stride 16), got images ", shape_str(s));
  }

  /// f(image [1, 3, H, W]) -> tensors, for every image, under NoGradGuard, on detached inputs.
  /// One image at a time keeps the intermediate maps small (in cache, and below the allocator's
  /// mmap threshold, so they are not page-faulted in afresh at every layer); with several images
  /// and threads, each thread takes whole images (no synchronisation inside the network), and
  /// one image alone is split inside each op instead.
  template <typename F>
  std::vector<std::vector<Tensor<T>>> for_each_image(const Tensor<T>& images, F&& f) const {
    const Tensor<T> x = images.detach();
    if (x.device() != Device::CPU) {  // a device runs the whole batch at once (its kernels split the work)
      NoGradGuard no_grad;
      return {f(x)};
    }
    const int64_t N = x.size(0);
    std::vector<std::vector<Tensor<T>>> out(static_cast<size_t>(N));
    std::vector<std::exception_ptr> errors(static_cast<size_t>(N));
    auto one = [&](int64_t i) {
      NoGradGuard no_grad;  // grad mode is per thread
      try {
        out[size_t(i)] = f(x.narrow(0, i, 1));
      } catch (...) {
        errors[size_t(i)] = std::current_exception();
      }
    };
    auto range = [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) one(i);
    };
    if (N > 1 && num_threads() > 1) parallel_for(N, 1, range);
    else range(0, N);
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    return out;
  }

  /// Tensor k of every image's result.
  static std::vector<Tensor<T>> column(const std::vector<std::vector<Tensor<T>>>& per_image, size_t k) {
    std::vector<Tensor<T>> c;
    for (const auto& r : per_image) c.push_back(r.at(k));
    return c;
  }
};

}  // namespace onenip::models
