/// \file
/// Reverse-mode automatic differentiation over a dynamic graph.
///
/// Every differentiable op that sees an input requiring grad records a Node: the edges to
/// the nodes of its inputs and a backward function mapping dL/d(output) to dL/d(input_i).
/// backward() walks the nodes in topological order with an explicit queue (no recursion,
/// so graphs of any depth are fine), sums the gradients arriving at each node, and
/// accumulates (+=) into .grad at the leaves.
///
/// Backward functions run with grad mode off: there is no double backward.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <utility>

#include "tensor.hpp"

namespace onenip {

// ---- grad mode ----
namespace detail {
inline bool& grad_mode_flag() {
  thread_local bool enabled = true;
  return enabled;
}
}  // namespace detail

inline bool grad_enabled() { return detail::grad_mode_flag(); }

/// RAII: no graph is recorded while one is alive (inference, optimiser steps, init).
class NoGradGuard {
public:
  NoGradGuard() : prev_(detail::grad_mode_flag()) { detail::grad_mode_flag() = false; }
  ~NoGradGuard() { detail::grad_mode_flag() = prev_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
  bool prev_;
};

/// A tensor kept for backward, with the storage version it had when saved. Reading it
/// after an in-place write to the same storage raises, naming the op that saved it.
template <typename T>
class SavedTensor {
public:
  SavedTensor() = default;
  SavedTensor(Tensor<T> t, const char* op) : t_(std::move(t)), op_(op) {
    if (t_.defined()) version_ = t_.version();
  }
  const Tensor<T>& get() const {
    ONENIP_CHECK(!t_.defined() || t_.version() == version_, "a tensor saved for the backward of '", op_,
                 "' was modified in place (version ", version_, " -> ", t_.version(),
                 "); clone it before writing to it");
    return t_;
  }
  void reset() { t_ = Tensor<T>(); }

private:
  Tensor<T> t_;
  uint64_t version_ = 0;
  const char* op_ = "";
};

/// One op in the autograd graph: the edges to its inputs' nodes and the function mapping
/// dL/d(output) to dL/d(input_i).
template <typename T>
struct Node {
  using BackwardFn = std::function<std::vector<Tensor<T>>(const Tensor<T>& grad_output)>;
  std::string name;
  /// One edge per input: the node the gradient flows on to (null: that input needs no grad).
  std::vector<std::shared_ptr<Node<T>>> next;
  BackwardFn backward;
  Shape output_shape;
  /// Leaf sink: set on the accumulator node of a leaf tensor (the leaf may be gone by backward).
  bool accumulates = false;
  std::weak_ptr<TensorImpl<T>> leaf;
  /// Non-leaf whose .grad was requested with retain_grad().
  std::weak_ptr<TensorImpl<T>> retained;

  bool needs_input_grad(size_t i) const { return i < next.size() && next[i] != nullptr; }

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// Freeing a long chain would recurse once per node and overflow the stack (a 100000-deep
  /// graph does under AddressSanitizer): nodes this one alone owns are freed from a list instead.
  ~Node() {
    std::vector<std::shared_ptr<Node>> owned;
    auto take = [&owned](std::vector<std::shared_ptr<Node>>& edges) {
      for (auto& e : edges)
        if (e && e.use_count() == 1) owned.push_back(std::move(e));
    };
    take(next);
    while (!owned.empty()) {
      std::shared_ptr<Node> n = std::move(owned.back());
      owned.pop_back();
      take(n->next);
    }  // n is freed here, its owned edges already moved out
  }
};

/// The node a gradient for `t` should be sent to: its producer, or the leaf's accumulator.
template <typename T>
std::shared_ptr<Node<T>> gradient_edge(const Tensor<T>& t) {
  if (!t.defined() || !t.impl()->autograd) return nullptr;
  auto& m = *t.impl()->autograd;
  if (m.grad_fn) return m.grad_fn;
  if (!m.requires_grad) return nullptr;
  if (!m.grad_accumulator) {
    m.grad_accumulator = std::make_shared<Node<T>>();
    m.grad_accumulator->name = "AccumulateGrad";
    m.grad_accumulator->accumulates = true;
    m.grad_accumulator->leaf = t.impl_ptr();
    m.grad_accumulator->output_shape = t.shape();
  }
  return m.grad_accumulator;
}

/// Does any of these inputs need a graph recorded?
template <typename T>
bool any_requires_grad(std::initializer_list<const Tensor<T>*> inputs) {
  if (!grad_enabled()) return false;
  for (auto* t : inputs)
    if (t->defined() && t->impl()->autograd && (t->impl()->autograd->requires_grad || t->impl()->autograd->grad_fn))
      return true;
  return false;
}
template <typename T>
bool any_requires_grad(const std::vector<Tensor<T>>& inputs) {
  if (!grad_enabled()) return false;
  for (auto& t : inputs)
    if (t.defined() && t.impl()->autograd && (t.impl()->autograd->requires_grad || t.impl()->autograd->grad_fn))
      return true;
  return false;
}

/// Attach a node producing `out` from `inputs`. `fn` returns one gradient per input
/// (an undefined Tensor where an input needs none). No-op when no input requires grad.
template <typename T>
Tensor<T> record(Tensor<T> out, const char* name, const std::vector<Tensor<T>>& inputs,
                 typename Node<T>::BackwardFn fn) {
  if (!any_requires_grad(inputs)) return out;
  auto node = std::make_shared<Node<T>>();
  node->name = name;
  node->next.reserve(inputs.size());
  for (auto& in : inputs) node->next.push_back(gradient_edge(in));
  node->backward = std::move(fn);
  node->output_shape = out.shape();
  auto& m = out.impl()->meta();
  m.grad_fn = std::move(node);
  m.requires_grad = true;
  return out;
}

// ---- the engine ----
template <typename T> Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b);
template <typename T> Tensor<T> ones_like(const Tensor<T>& a);

namespace detail {
// Whether g can become a .grad as it is: nothing else refers to it or its memory (no other
// handle, view or saved tensor, so a later add_ into it changes nothing else), the memory is
// the library's own, and it is one dense block. PyTorch's AccumulateGrad takes such a gradient
// the same way; copying it costs a read and a write of every parameter's gradient per step.
template <typename T>
bool can_take(const Tensor<T>& g) {
  const auto& impl = g.impl_ptr();
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && impl->storage->allocator != nullptr &&
         impl->offset == 0 && impl->storage->size == g.numel() && g.is_contiguous() &&
         !(impl->autograd && (impl->autograd->requires_grad || impl->autograd->grad_fn));
}

// g into .grad: added to an existing one, else taken (can_take) or copied (it may alias
// another buffer).
template <typename T>
void accumulate_into(const std::shared_ptr<TensorImpl<T>>& impl, Tensor<T> g) {
  auto& m = impl->meta();
  ONENIP_CHECK(g.shape() == impl->shape, "gradient of shape ", shape_str(g.shape()),
               " for a tensor of shape ", shape_str(impl->shape));
  if (m.grad) {
    m.grad->add_(g);  // accumulate: grads from earlier backward() calls are kept
  } else {
    m.grad = std::make_shared<Tensor<T>>(can_take(g) ? std::move(g) : g.clone());
  }
}
}  // namespace detail

/// Back-propagate from `root`. `grad_output` defaults to 1 for a one-element root.
template <typename T>
void run_backward(const Tensor<T>& root, Tensor<T> grad_output, bool retain_graph) {
  ONENIP_CHECK(root.requires_grad(), "backward(): the tensor does not require grad (no input was marked ",
               "requires_grad, or it was computed under NoGradGuard)");
  if (!grad_output.defined()) {
    ONENIP_CHECK(root.numel() == 1, "backward(): grad_output can only be omitted for a one-element tensor; got shape ",
                 shape_str(root.shape()));
    grad_output = ones_like(root);
  }
  ONENIP_CHECK(grad_output.shape() == root.shape(), "backward(): grad_output shape ", shape_str(grad_output.shape()),
               " does not match the tensor's ", shape_str(root.shape()));
  auto root_node = gradient_edge(root);

  // 1. Count, for every node reachable from the root, how many edges point at it.
  std::unordered_map<Node<T>*, int> pending;
  std::vector<Node<T>*> stack{root_node.get()};
  pending[root_node.get()] = 0;
  while (!stack.empty()) {
    Node<T>* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next) {
      if (!e) continue;
      auto [it, fresh] = pending.try_emplace(e.get(), 0);
      ++it->second;
      if (fresh) stack.push_back(e.get());
    }
  }

  // 2. Process nodes whose every consumer has sent its gradient (Kahn's algorithm).
  NoGradGuard no_grad;
  std::unordered_map<Node<T>*, Tensor<T>> grads;
  grads[root_node.get()] = grad_output;
  std::vector<Node<T>*> ready{root_node.get()};
  while (!ready.empty()) {
    Node<T>* n = ready.back();
    ready.pop_back();
    Tensor<T> g = std::move(grads[n]);
    grads.erase(n);
    if (n->accumulates) {  // a leaf destroyed before backward() simply gets nothing
      if (auto leaf = n->leaf.lock(); leaf && g.defined()) detail::accumulate_into(leaf, std::move(g));
      continue;
    }
    if (auto kept = n->retained.lock(); kept && g.defined()) detail::accumulate_into(kept, g);
    ONENIP_CHECK(n->backward, "backward through '", n->name,
                 "' a second time: its saved tensors were freed; pass retain_graph=true to the first backward()");
    std::vector<Tensor<T>> in_grads;
    if (g.defined()) in_grads = n->backward(g);
    if (!retain_graph) n->backward = nullptr;  // frees the saved tensors now
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node<T>* nx = n->next[i].get();
      if (!nx) continue;
      if (i < in_grads.size() && in_grads[i].defined()) {
        auto it = grads.find(nx);
        if (it == grads.end() || !it->second.defined()) {
          grads[nx] = in_grads[i];
        } else {
          it->second = add(it->second, in_grads[i]);
        }
      } else {
        grads.try_emplace(nx);  // keep the slot so the node still runs
      }
      if (--pending[nx] == 0) ready.push_back(nx);
    }
  }
}

/// Back-propagate from this tensor, accumulating into .grad of the leaves that require grad;
/// `grad_output` may be omitted for a one-element tensor (it is 1 then). The graph's saved
/// tensors are freed unless `retain_graph`.
template <typename T>
void Tensor<T>::backward(const Tensor<T>& grad_output, bool retain_graph) const {
  run_backward(*this, grad_output, retain_graph);
}

template <typename T>
Tensor<T>& Tensor<T>::retain_grad() {
  checked().meta().retains_grad = true;
  if (grad_fn()) grad_fn()->retained = impl_ptr();
  return *this;
}

/// Same data, no history. Shares storage, as in PyTorch.
template <typename T>
Tensor<T> Tensor<T>::detach() const {
  return Tensor<T>::from_storage(storage(), shape(), strides(), offset());
}

}  // namespace onenip
