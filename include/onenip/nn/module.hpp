/// \file
/// Module<T>: named parameters, buffers and child modules, as torch.nn.Module.
///
/// Names are dotted paths like PyTorch state-dict keys ("blocks.0.conv.weight"), in PyTorch's
/// order: a module's own entries in registration order, then each child's, depth first. So
/// weights exported from a PyTorch model with the same structure load without renaming.
///
/// A layer registers its tensors in its constructor and keeps the returned handles:
///   weight = this->register_parameter("weight", randn<T>({out, in}));
///   fc = this->register_module("fc", std::make_shared<Linear<T>>(4, 8));
/// Loading copies values into those tensors in place, so the handles stay valid; never
/// reassign a registered handle (write into it with copy_ instead).
#pragma once

#include <cxxabi.h>

#include <algorithm>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "../ops/elementwise.hpp"

namespace onenip::nn {

template <typename T>
using NamedTensors = std::vector<std::pair<std::string, Tensor<T>>>;

/// What a non-strict load left out (a strict load raises instead).
struct LoadResult {
  std::vector<std::string> missing;     ///< in the module, not in the source
  std::vector<std::string> unexpected;  ///< in the source, not in the module
};

/// Named tensors to load from: their names, each one's shape (checked before anything is
/// copied), and the tensor itself (fetched only when copied, one at a time).
template <typename T>
struct TensorSource {
  std::string description;  ///< for messages: "the state dict", "'w.safetensors'"
  std::vector<std::string> names;
  std::function<Shape(const std::string&)> shape;
  std::function<Tensor<T>(const std::string&)> fetch;
};

/// The base of every layer: named parameters, buffers and child modules, as torch.nn.Module
/// (names, order and state dicts as PyTorch's; see module.hpp).
template <typename T>
class Module {
public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  ///< parameters are shared handles: a copy would alias them
  Module& operator=(const Module&) = delete;

  /// The class name without namespaces or template arguments ("Linear"); override to rename.
  virtual std::string type_name() const {
    const char* mangled = typeid(*this).name();
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
    std::string s = status == 0 && d ? d.get() : mangled;
    if (auto lt = s.find('<'); lt != std::string::npos) s.resize(lt);
    if (auto c = s.rfind("::"); c != std::string::npos) s = s.substr(c + 2);
    return s;
  }
  /// The layer's arguments as to_string() shows them, such as "in=4, out=8".
  virtual std::string extra_repr() const { return ""; }

  // ---- registration ----
  /// `t` itself becomes the parameter (a contiguous leaf); requires_grad is set on it.
  Tensor<T> register_parameter(const std::string& name, Tensor<T> t, bool requires_grad = true) {
    check_new_name(name, "register_parameter");
    ONENIP_CHECK(t.defined(), type_name(), ".register_parameter('", name, "'): undefined tensor");
    ONENIP_CHECK(t.is_leaf(), type_name(), ".register_parameter('", name, "'): the tensor has a grad_fn; register a leaf (detach() it)");
    ONENIP_CHECK(t.is_contiguous(), type_name(), ".register_parameter('", name, "'): the tensor of shape ",
                 shape_str(t.shape()), " is not contiguous; pass t.contiguous()");
    t.set_requires_grad(requires_grad);
    params_.emplace_back(name, t);
    return t;
  }
  /// A tensor that is state but not trained (running statistics, say). Non-persistent buffers
  /// (precomputed tables) are left out of state_dict().
  Tensor<T> register_buffer(const std::string& name, Tensor<T> t, bool persistent = true) {
    check_new_name(name, "register_buffer");
    ONENIP_CHECK(t.defined(), type_name(), ".register_buffer('", name, "'): undefined tensor");
    buffers_.push_back({name, t, persistent});
    return t;
  }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    static_assert(std::is_base_of_v<Module<T>, M>, "register_module: not a Module of the same scalar type");
    check_new_name(name, "register_module");
    ONENIP_CHECK(m != nullptr, type_name(), ".register_module('", name, "'): null module");
    children_.emplace_back(name, m);
    return m;
  }

  // ---- iteration ----
  /// Each parameter once, under its first name (tied weights appear once, as in PyTorch).
  NamedTensors<T> named_parameters(bool recurse = true) const {
    NamedTensors<T> out;
    std::set<const TensorImpl<T>*> seen;
    visit("", recurse, [&](const std::string& prefix, const Module& m) {
      for (auto& [n, t] : m.params_)
        if (seen.insert(t.impl()).second) out.emplace_back(prefix + n, t);
    });
    return out;
  }
  NamedTensors<T> named_buffers(bool recurse = true) const {
    NamedTensors<T> out;
    visit("", recurse, [&](const std::string& prefix, const Module& m) {
      for (auto& b : m.buffers_) out.emplace_back(prefix + b.name, b.tensor);
    });
    return out;
  }
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  /// Every module, depth first, this one first under the name "".
  std::vector<std::pair<std::string, const Module*>> named_modules() const {
    std::vector<std::pair<std::string, const Module*>> out;
    visit("", true, [&](const std::string& prefix, const Module& m) {
      out.emplace_back(prefix.empty() ? prefix : prefix.substr(0, prefix.size() - 1), &m);
    });
    return out;
  }
  std::vector<Tensor<T>> parameters(bool recurse = true) const { return values(named_parameters(recurse)); }
  std::vector<Tensor<T>> trainable_parameters() const {
    std::vector<Tensor<T>> out;
    for (auto& [n, t] : named_parameters())
      if (t.requires_grad()) out.push_back(t);
    return out;
  }
  std::vector<Tensor<T>> buffers(bool recurse = true) const { return values(named_buffers(recurse)); }

  // ---- modes and gradients ----
  virtual void train(bool on = true) {
    training_ = on;
    for (auto& [n, c] : children_) c->train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad() {
    for (auto& p : parameters()) p.zero_grad();
  }
  /// Freeze (false) or unfreeze (true) every parameter of this module and its children.
  void set_requires_grad(bool on) {
    for (auto& p : parameters()) p.set_requires_grad(on);
  }
  /// Move every parameter and buffer to `device` in place, as PyTorch's module.to(device): the
  /// handles the module (and anyone else) holds now refer to the copy. Gradients are dropped;
  /// build optimisers after moving.
  void to(Device device) {
    auto move = [device](Tensor<T>& t) {
      if (!t.defined() || t.device() == device) return;
      Tensor<T> copy = t.detach().to(device).contiguous();
      auto& impl = *t.impl_ptr();
      impl.storage = copy.impl_ptr()->storage;
      impl.shape = copy.shape(), impl.strides = copy.strides(), impl.offset = copy.offset();
      t.zero_grad();
    };
    for (auto& t : parameters()) move(t);
    for (auto& t : buffers()) move(t);
  }

  int64_t num_parameters(bool trainable_only = false) const {
    int64_t n = 0;
    for (auto& [name, t] : named_parameters())
      if (!trainable_only || t.requires_grad()) n += t.numel();
    return n;
  }

  // ---- state ----
  /// Parameters and persistent buffers, module by module in registration order. The tensors
  /// share storage with the module's (detached: no autograd history).
  NamedTensors<T> state_dict() const {
    NamedTensors<T> out;
    visit("", true, [&](const std::string& prefix, const Module& m) {
      for (auto& [n, t] : m.params_) out.emplace_back(prefix + n, t.detach());
      for (auto& b : m.buffers_)
        if (b.persistent) out.emplace_back(prefix + b.name, b.tensor.detach());
    });
    return out;
  }

  /// Copy values into the module's tensors in place. Shapes must match. With strict, names
  /// must match exactly; the error lists every missing and unexpected name and every shape
  /// mismatch, and nothing is copied unless everything checks out.
  LoadResult load_state_dict(const NamedTensors<T>& sd, bool strict = true) {
    auto by_name = std::make_shared<std::map<std::string, Tensor<T>>>();
    TensorSource<T> src{"the state dict", {}, {}, {}};
    for (auto& [n, t] : sd) {
      ONENIP_CHECK(by_name->emplace(n, t).second, "load_state_dict: the state dict has '", n, "' twice");
      src.names.push_back(n);
    }
    src.shape = [by_name](const std::string& n) { return by_name->at(n).shape(); };
    src.fetch = [by_name](const std::string& n) { return by_name->at(n); };
    return load_from(src, strict);
  }
  LoadResult load_state_dict(const std::map<std::string, Tensor<T>>& sd, bool strict = true) {
    return load_state_dict(NamedTensors<T>(sd.begin(), sd.end()), strict);
  }
  LoadResult load_from(const TensorSource<T>& src, bool strict = true);

  /// safetensors files with state-dict names (defined in nn/serialize.hpp).
  LoadResult load(const std::string& path, bool strict = true);
  void save(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;

  // ---- printing ----
  /// PyTorch-style nested repr: "Net(\n  (fc): Linear(in=4, out=8)\n)".
  std::string to_string() const {
    std::string s = type_name() + "(" + extra_repr();
    if (children_.empty()) return s + ")";
    if (!extra_repr().empty()) s += "\n";
    for (auto& [n, c] : children_) {
      std::string child = c->to_string();
      for (size_t p = child.find('\n'); p != std::string::npos; p = child.find('\n', p + 1)) child.insert(p + 1, "  ");
      s += (s.back() == '(' ? "\n" : "") + std::string("  (") + n + "): " + child + "\n";
    }
    return s + ")";
  }
  /// A table of modules (indented by depth), type, parameters in the subtree and how many of
  /// them train, then the totals. max_depth < 0: all levels.
  std::string summary(int max_depth = -1) const;

protected:
  struct Buffer {
    std::string name;
    Tensor<T> tensor;
    bool persistent;
  };

private:
  bool has_name(const std::string& n) const {
    for (auto& p : params_) if (p.first == n) return true;
    for (auto& b : buffers_) if (b.name == n) return true;
    for (auto& c : children_) if (c.first == n) return true;
    return false;
  }
  void check_new_name(const std::string& name, const char* what) const {
    ONENIP_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ".", what, ": invalid name '",
                 name, "' (must be non-empty, without '.')");
    ONENIP_CHECK(!has_name(name), type_name(), ".", what, ": the name '", name, "' is already taken");
  }
  /// f(prefix, module) for this module and (recurse) every descendant, depth first; prefix is
  /// "" or ends in '.'.
  template <typename F>
  void visit(const std::string& prefix, bool recurse, F&& f) const {
    f(prefix, *this);
    if (!recurse) return;
    for (auto& [n, c] : children_) c->visit(prefix + n + ".", true, f);
  }
  static std::vector<Tensor<T>> values(const NamedTensors<T>& named) {
    std::vector<Tensor<T>> out;
    for (auto& nt : named) out.push_back(nt.second);
    return out;
  }

  NamedTensors<T> params_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

namespace detail {
inline std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}
inline std::string plural(size_t n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }
// 3540265 -> "3,540,265"
inline std::string thousands(int64_t n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string s = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}
}  // namespace detail

template <typename T>
LoadResult Module<T>::load_from(const TensorSource<T>& src, bool strict) {
  NamedTensors<T> own = state_dict();
  std::set<std::string> available(src.names.begin(), src.names.end()), own_names;
  LoadResult r;
  std::vector<std::string> mismatched;
  for (auto& [name, t] : own) {
    own_names.insert(name);
    if (!available.count(name)) {
      r.missing.push_back(name);
      continue;
    }
    Shape s = src.shape(name);
    if (s != t.shape()) mismatched.push_back(name + " is " + shape_str(t.shape()) + " in the module, " + shape_str(s) + " in the source");
  }
  for (auto& n : src.names)
    if (!own_names.count(n)) r.unexpected.push_back(n);
  const bool names_bad = strict && (!r.missing.empty() || !r.unexpected.empty());
  if (names_bad || !mismatched.empty()) {
    std::string msg = "loading " + type_name() + " from " + src.description + " failed:";
    if (strict && !r.missing.empty())
      msg += "\n  missing " + detail::plural(r.missing.size(), "tensor") + " (in the module, not in the source): " +
             detail::join_names(r.missing);
    if (strict && !r.unexpected.empty())
      msg += "\n  unexpected " + detail::plural(r.unexpected.size(), "tensor") + " (in the source, not in the module): " +
             detail::join_names(r.unexpected);
    for (auto& m : mismatched) msg += "\n  shape mismatch: " + m;
    throw Error(msg);
  }
  NoGradGuard ng;
  for (auto& [name, t] : own)
    if (available.count(name)) t.copy_(src.fetch(name));
  return r;
}

template <typename T>
std::string Module<T>::summary(int max_depth) const {
  struct Row { std::string name, type; int64_t params, trainable; };
  std::vector<Row> rows;
  size_t wname = 6, wtype = 4;
  for (auto& [name, m] : named_modules()) {
    int depth = name.empty() ? 0 : 1 + int(std::count(name.begin(), name.end(), '.'));
    if (max_depth >= 0 && depth > max_depth) continue;
    std::string leaf = name.empty() ? "(root)" : name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
    rows.push_back({std::string(size_t(2 * depth), ' ') + leaf, m->type_name(), m->num_parameters(), m->num_parameters(true)});
    wname = std::max(wname, rows.back().name.size());
    wtype = std::max(wtype, rows.back().type.size());
  }
  auto pad = [](std::string s, size_t w, bool right) {
    std::string fill(w > s.size() ? w - s.size() : 0, ' ');
    return right ? fill + s : s + fill;
  };
  std::string out = pad("module", wname, false) + "  " + pad("type", wtype, false) + "  " + pad("params", 12, true) +
                    "  " + pad("trainable", 12, true) + "\n";
  for (auto& r : rows)
    out += pad(r.name, wname, false) + "  " + pad(r.type, wtype, false) + "  " + pad(detail::thousands(r.params), 12, true) +
           "  " + pad(detail::thousands(r.trainable), 12, true) + "\n";
  int64_t buffer_elems = 0;
  for (auto& b : buffers()) buffer_elems += b.numel();
  return out + "total: " + detail::thousands(num_parameters()) + " parameters (" +
         detail::thousands(num_parameters(true)) + " trainable), " + detail::thousands(buffer_elems) +
         (buffer_elems == 1 ? " buffer element\n" : " buffer elements\n");
}

}  // namespace onenip::nn

#include "serialize.hpp"
