// matmul: values by hand; through the op harness: the triple loop, 1-D promotion, batch
// broadcasting, transposed and sliced operands, float against double, gradients.
#include "op_harness.hpp"

using namespace onenip;
using testing::check_values;
using testing::normal;
using testing::Op;
using testing::strided;
using testing::transposed;

namespace {
// Triple loop reference for [B, M, K] x [B, K, N] (contiguous).
TensorD naive_bmm(const TensorD& a, const TensorD& b) {
  int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  TensorD out = zeros<double>({B, M, N});
  for (int64_t q = 0; q < B; ++q)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += a.at({q, i, k}) * b.at({q, k, j});
        out.at_ref({q, i, j}) = s;
      }
  return out;
}
}  // namespace

TEST_CASE("matmul values") {
  auto a = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = tensor<float>({1, 0, 0, 1, 1, 1}, {3, 2});
  check_values(matmul(a, b), {4, 5, 10, 11});
  check_values(matmul(a, tensor<float>({1, 1, 1})), {6, 15});           // matrix @ vector
  check_values(matmul(tensor<float>({1, 1}), a), {5, 7, 9});             // vector @ matrix
  CHECK(matmul(tensor<float>({1, 2}), tensor<float>({3, 4})).item() == 11);  // dot
}

using testing::In;

namespace {
const auto mm = []<class T>(const In<T>& x) { return matmul(x[0], x[1]); };
// [B, M, K] x [B, K, N] against the triple loop (operands broadcast first)
const auto loops = [](const In<double>& x) {
  Shape batch = broadcast_shapes(Shape(x[0].shape().begin(), x[0].shape().end() - 2),
                                 Shape(x[1].shape().begin(), x[1].shape().end() - 2));
  auto full = [&](const TensorD& t) {
    Shape s = batch;
    s.push_back(t.size(-2)), s.push_back(t.size(-1));
    return t.expand(s).contiguous().reshape({-1, t.size(-2), t.size(-1)});
  };
  Shape out = batch;
  out.push_back(x[0].size(-2)), out.push_back(x[1].size(-1));
  return naive_bmm(full(x[0]), full(x[1])).reshape(out);
};
}  // namespace

TEST_CASE("matmul through the op harness: the triple loop, batched, broadcast, strided and transposed operands") {
  Op("bmm", mm).in({4, 5, 6}).in({4, 6, 3}).ref(loops).check();
  Op("bmm, B transposed", mm).in({4, 5, 6}).in({4, 6, 3}, normal(), transposed(1, 2)).ref(loops).check();
  Op("bmm, A transposed", mm).in({4, 5, 6}, normal(), transposed(1, 2)).in({4, 6, 3}).ref(loops).check();
  Op("matrix broadcast over the batch", mm).in({4, 5, 6}).in({6, 3}).ref(loops).check();
  Op("batch dims broadcast [2,1,5,6] @ [3,6,2]", mm).in({2, 1, 5, 6}).in({3, 6, 2}).ref(loops).check();
  Op("expanded batch operand", mm).in({4, 5, 6}).in({4, 6, 3}, normal(), testing::broadcast(0)).ref(loops).check();
  Op("sliced operand (outer stride)", mm).in({5, 6}, normal(), testing::padded(1, 4)).in({6, 3}).ref(loops).check();
  Op("strided operand", mm).in({5, 6}, normal(), strided(1, 2)).in({6, 3}).ref(loops).check();
  Op("matrix @ matrix", mm).in({3, 4}).in({4, 2}).ref(loops).check();
}

TEST_CASE("matmul through the op harness: 1-D promotion, a broadcast matrix, a transposed operand") {
  Op("[2,3,4] @ [4,2]", mm).in({2, 3, 4}).in({4, 2}).check();
  Op("vector @ matrix", mm).in({4}).in({4, 2}).check();
  Op("matrix @ vector", mm).in({3, 4}).in({4}).check();
  Op("transposed operand", mm).in({3, 4}, normal(), transposed(0, 1)).in({4, 2}).check();
}

TEST_CASE("large float matmul matches double") {
  // float accumulation over K = 300
  Op("large [64,300] @ [300,70]", mm).in({64, 300}).in({300, 70}).ftol(1e-3, 1e-4).directions(4).check();
}
