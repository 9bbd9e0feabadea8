// matmul: 1-D promotion, batch broadcasting, transposed operands, gradients.
#include "helpers.hpp"

using namespace onenip;
using testing::check_close;
using testing::check_gradients;
using testing::check_values;

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

TEST_CASE("batched and broadcast matmul against a triple loop, strided operands") {
  auto a = randn<double>({4, 5, 6}), b = randn<double>({4, 6, 3});
  check_close(matmul(a, b), naive_bmm(a, b), 1e-12);
  // transposed views are used without copies and give the same result
  auto bt = randn<double>({4, 3, 6});
  check_close(matmul(a, bt.transpose(1, 2)), naive_bmm(a, bt.transpose(1, 2).contiguous()), 1e-12);
  auto at = randn<double>({4, 6, 5});
  check_close(matmul(at.transpose(1, 2), b), naive_bmm(at.transpose(1, 2).contiguous(), b), 1e-12);
  // broadcasting a single matrix over the batch: [4,5,6] @ [6,3]
  auto w = randn<double>({6, 3});
  check_close(matmul(a, w), naive_bmm(a, w.unsqueeze(0).expand({4, 6, 3}).contiguous()), 1e-12);
  // [2,1,5,6] @ [3,6,2] -> [2,3,5,2]
  auto x = randn<double>({2, 1, 5, 6}), y = randn<double>({3, 6, 2});
  CHECK(matmul(x, y).shape() == Shape{2, 3, 5, 2});
  // a sliced (non-unit outer stride) operand
  auto big = randn<double>({5, 10});
  check_close(matmul(big.narrow(1, 2, 6), w), matmul(big.narrow(1, 2, 6).contiguous(), w), 1e-12);
}

TEST_CASE("large float matmul matches double") {
  auto a = randn<double>({64, 300}), b = randn<double>({300, 70});
  auto ref = matmul(a, b);
  auto got = cast<double>(matmul(cast<float>(a), cast<float>(b)));
  check_close(got, ref, 1e-3, 1e-4);
}

TEST_CASE("matmul gradients, including broadcast batch dims and vectors") {
  check_gradients([](auto& in) { return matmul(in[0], in[1]); }, {randn<double>({3, 4}), randn<double>({4, 2})});
  check_gradients([](auto& in) { return matmul(in[0], in[1]); }, {randn<double>({2, 3, 4}), randn<double>({4, 2})});
  check_gradients([](auto& in) { return matmul(in[0], in[1]); },
                  {randn<double>({2, 1, 3, 4}), randn<double>({3, 4, 2})});
  check_gradients([](auto& in) { return matmul(in[0], in[1]); }, {randn<double>({4}), randn<double>({4, 2})});
  check_gradients([](auto& in) { return matmul(in[0], in[1]); }, {randn<double>({3, 4}), randn<double>({4})});
  check_gradients([](auto& in) { return matmul(in[0].transpose(0, 1), in[1]); },
                  {randn<double>({4, 3}), randn<double>({4, 2})});
}
