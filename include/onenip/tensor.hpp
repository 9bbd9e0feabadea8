/// \file
/// Tensor<T>: a strided view onto reference-counted storage, plus the autograd fields.
///
/// A Tensor is a cheap handle (one shared_ptr). Copying a Tensor aliases it, as in PyTorch.
/// Views (reshape, permute, narrow, expand, ...) share the storage and differ only in
/// shape / strides / offset. Strides are in elements, not bytes.
///
/// The operations are free functions in ops/*.hpp; the member functions declared at the
/// bottom of the class are thin forwards to them, defined in those headers. Include
/// <onenip/onenip.hpp> (or the ops headers you use) before calling them.
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <type_traits>
#include <vector>

#include "core/device.hpp"
#include "core/error.hpp"
#include "core/shape.hpp"

namespace onenip {

/// Python-style dimension: -1 is the last. Names the argument in the error.
inline int64_t wrap_dim(int64_t dim, int64_t rank, const char* what = "dim") {
  int64_t r = rank == 0 ? 1 : rank;
  ONENIP_CHECK(dim >= -r && dim < r, what, " ", dim, " is out of range for a tensor of rank ", rank);
  return dim < 0 ? dim + r : dim;
}

/// A block of elements on one device: memory from the device's allocator (released to it when
/// the storage goes), or memory owned elsewhere that `owner` keeps alive (a memory-mapped file,
/// say). `version` counts in-place writes so autograd can detect a saved tensor being modified.
template <typename T>
struct Storage {
  T* data = nullptr;
  int64_t size = 0;
  Device device = Device::CPU;
  uint64_t version = 0;
  std::shared_ptr<void> owner;
  Allocator* allocator = nullptr;  ///< set when the memory came from it
  size_t bytes = 0;

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (allocator) allocator->deallocate(data, bytes);
  }

  /// n uninitialised elements from the device's allocator (core/device.hpp).
  static std::shared_ptr<Storage> allocate(int64_t n, Device device = Device::CPU) {
    auto s = std::make_shared<Storage>();
    s->size = n;
    s->device = device;
    s->bytes = size_t(n > 0 ? n : 0) * sizeof(T);
    Allocator& alloc = allocator_for(device);
    s->data = static_cast<T*>(alloc.allocate(s->bytes));
    s->allocator = &alloc;
    return s;
  }
  /// Wrap host memory owned elsewhere (no copy). `keep_alive` is released with the storage.
  static std::shared_ptr<Storage> wrap(T* data, int64_t n, std::shared_ptr<void> keep_alive) {
    auto s = std::make_shared<Storage>();
    s->data = data;
    s->size = n;
    s->owner = std::move(keep_alive);
    return s;
  }
};

template <typename T> struct Node;
template <typename T> class Tensor;

/// Autograd state of one tensor. Leaves that require grad accumulate into `grad`;
/// non-leaves point at the node that produced them.
template <typename T>
struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;                 ///< non-leaf that keeps its .grad (retain_grad())
  std::shared_ptr<Tensor<T>> grad;           ///< accumulated gradient, same shape as the tensor
  std::shared_ptr<Node<T>> grad_fn;          ///< producer; null for leaves
  std::shared_ptr<Node<T>> grad_accumulator; ///< leaf sink, created on first use
};

template <typename T>
struct TensorImpl {
  std::shared_ptr<Storage<T>> storage;
  Shape shape, strides;
  int64_t offset = 0;
  std::unique_ptr<AutogradMeta<T>> autograd;  ///< null until something asks for grad

  AutogradMeta<T>& meta() {
    if (!autograd) autograd = std::make_unique<AutogradMeta<T>>();
    return *autograd;
  }
};

/// An n-dimensional array of float or double: a cheap handle (copies alias) to a strided view of
/// shared storage, with the autograd fields. The ops are free functions in ops/; see tensor.hpp.
template <typename T>
class Tensor {
  static_assert(std::is_floating_point_v<T>, "Tensor<T> supports float and double");

public:
  using Scalar = T;
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl<T>> impl) : impl_(std::move(impl)) {}

  // ---- creation (uninitialised / from storage) ----
  static Tensor empty(const Shape& shape, Device device = Device::CPU) {
    for (int64_t d : shape) ONENIP_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
    return from_storage(Storage<T>::allocate(numel_of(shape), device), shape, contiguous_strides(shape), 0);
  }
  static Tensor from_storage(std::shared_ptr<Storage<T>> st, Shape shape, Shape strides, int64_t offset) {
    auto impl = std::make_shared<TensorImpl<T>>();
    impl->storage = std::move(st);
    impl->shape = std::move(shape);
    impl->strides = std::move(strides);
    impl->offset = offset;
    return Tensor(std::move(impl));
  }
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
    ONENIP_CHECK(int64_t(values.size()) == numel_of(shape), "from_vector: ", values.size(),
                 " values do not fill shape ", shape_str(shape));
    Tensor t = empty(shape);
    if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(T));
    return t;
  }

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return checked().shape; }
  const Shape& strides() const { return checked().strides; }
  int64_t offset() const { return checked().offset; }
  int64_t dim() const { return int64_t(shape().size()); }
  int64_t size(int64_t d) const { return shape()[wrap_dim(d, dim())]; }
  int64_t stride(int64_t d) const { return strides()[wrap_dim(d, dim())]; }
  int64_t numel() const { return numel_of(shape()); }
  Device device() const { return checked().storage->device; }
  const std::shared_ptr<Storage<T>>& storage() const { return checked().storage; }
  TensorImpl<T>* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl<T>>& impl_ptr() const { return impl_; }
  bool same_storage(const Tensor& o) const { return storage() == o.storage(); }

  bool is_contiguous() const {
    const auto& s = shape();
    const auto& st = strides();
    int64_t expect = 1;
    for (size_t i = s.size(); i-- > 0;) {
      if (s[i] == 1) continue;
      if (st[i] != expect) return false;
      expect *= s[i];
    }
    return true;
  }

  /// Host pointer to element [0,...,0]; a tensor on another device is an error (copy it with
  /// .cpu() first).
  T* data() const {
    ONENIP_CHECK(device() == Device::CPU, "host access to a tensor of shape ", shape_str(shape()), " on ",
                 device_name(device()), "; copy it to the cpu first (.cpu())");
    return data_ptr();
  }
  /// Pointer to element [0,...,0] in the device's memory, for kernels (kernels/).
  T* data_ptr() const { return checked().storage->data + checked().offset; }
  /// Element by multi-index (slow; for tests and printing).
  T at(const Shape& idx) const { return data()[linear_offset(idx)]; }
  T& at_ref(const Shape& idx) { return data()[linear_offset(idx)]; }
  T item() const {
    ONENIP_CHECK(numel() == 1, "item(): tensor has ", numel(), " elements, shape ", shape_str(shape()));
    if (device() != Device::CPU) return cpu().item();  // copies the one value back (and waits for it)
    return data()[0];
  }
  int64_t linear_offset(const Shape& idx) const {
    ONENIP_CHECK(int64_t(idx.size()) == dim(), "index of rank ", idx.size(), " for tensor of shape ",
                 shape_str(shape()));
    int64_t off = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      ONENIP_CHECK(idx[i] >= 0 && idx[i] < shape()[i], "index ", shape_str(idx), " out of bounds for shape ",
                   shape_str(shape()));
      off += idx[i] * strides()[i];
    }
    return off;
  }

  /// In-place writes must call this so saved-for-backward checks see them.
  void bump_version() const { ++checked().storage->version; }
  uint64_t version() const { return checked().storage->version; }

  // ---- autograd fields ----
  bool requires_grad() const { return impl_ && impl_->autograd && impl_->autograd->requires_grad; }
  Tensor& set_requires_grad(bool on = true) {
    ONENIP_CHECK(is_leaf() || !on, "set_requires_grad: only leaf tensors can be marked; this one has a grad_fn");
    checked().meta().requires_grad = on;
    return *this;
  }
  bool is_leaf() const { return !(impl_ && impl_->autograd && impl_->autograd->grad_fn); }
  const std::shared_ptr<Node<T>>& grad_fn() const {
    static const std::shared_ptr<Node<T>> none;
    return impl_ && impl_->autograd ? impl_->autograd->grad_fn : none;
  }
  /// The accumulated gradient (undefined Tensor if none has arrived yet).
  Tensor grad() const {
    if (impl_ && impl_->autograd && impl_->autograd->grad) return *impl_->autograd->grad;
    return Tensor();
  }
  void set_grad(const Tensor& g) { checked().meta().grad = g.defined() ? std::make_shared<Tensor>(g) : nullptr; }
  /// Forget the accumulated gradient (PyTorch's set_to_none=True).
  void zero_grad() {
    if (impl_ && impl_->autograd) impl_->autograd->grad.reset();
  }

  // ---- defined in autograd.hpp ----
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;
  Tensor& retain_grad();  ///< keep .grad on a non-leaf after backward
  Tensor detach() const;

  // ---- views, defined in ops/views.hpp ----
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor contiguous() const;
  Tensor clone() const;
  /// A copy on `device` (this tensor itself when it is there already); differentiable.
  Tensor to(Device device) const;
  Tensor cpu() const { return to(Device::CPU); }
  Tensor cuda() const { return to(Device::CUDA); }  ///< needs a CUDA backend linked (onenip::cuda)

  // ---- in-place, defined in ops/elementwise.hpp (not differentiable; for optimisers and init) ----
  Tensor& fill_(T value);
  Tensor& zero_() { return fill_(T(0)); }
  Tensor& copy_(const Tensor& src);
  Tensor& add_(const Tensor& other, T alpha = T(1));
  Tensor& mul_(T value);

private:
  TensorImpl<T>& checked() const {
    ONENIP_CHECK(impl_ != nullptr, "use of an undefined (empty) Tensor");
    return *impl_;
  }
  std::shared_ptr<TensorImpl<T>> impl_;
};

using TensorF = Tensor<float>;
using TensorD = Tensor<double>;

}  // namespace onenip
