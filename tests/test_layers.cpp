// nn layers: initialisers, MultiheadAttention against its formula, the encoder layer, MLP,
// parameter names and counts.
#include <onenip/nn/transformer.hpp>

#include "helpers.hpp"

using namespace onenip;

TEST_CASE("initialisers: xavier and kaiming bounds, PyTorch's Linear default") {
  Generator g(1);
  auto w = Tensor<double>::empty({64, 32});
  nn::init::xavier_uniform_(w, g);
  double a = std::sqrt(6.0 / (64 + 32));
  CHECK(max(w).item() <= a);
  CHECK(min(w).item() >= -a);
  CHECK(max(w).item() > 0.9 * a);  // fills the range
  auto k = Tensor<double>::empty({16, 8, 3, 3});
  nn::init::kaiming_uniform_(k, g, std::sqrt(5.0));
  CHECK(max(abs(k)).item() <= 1.0 / std::sqrt(8.0 * 9));
  nn::Linear<double> lin(10, 4, true, g);
  CHECK(max(abs(lin.bias)).item() <= 1.0 / std::sqrt(10.0));
  CHECK_THROWS_WITH_AS(nn::init::fans({3}), doctest::Contains("rank >= 2"), Error);
}

TEST_CASE("MultiheadAttention equals its formula with positions on queries and keys only") {
  Generator g(2);
  auto noise = std::make_shared<Generator>(3);
  nn::MultiheadAttention<double> mha(8, 2, 0.0, noise, g);
  auto x = randn<double>({2, 5, 8}, 0., 1., g), kv = randn<double>({2, 6, 8}, 0., 1., g);
  auto pq = randn<double>({5, 8}, 0., 1., g), pk = randn<double>({6, 8}, 0., 1., g);
  auto out = mha.forward(x, kv, pq, pk);
  // by hand: per head softmax((x+pq) Wq^T (kv+pk) Wk^T / sqrt(4)) (kv Wv^T), concatenated, out_proj
  auto W = mha.in_proj_weight, b = mha.in_proj_bias;
  auto q = linear(x + pq, W.narrow(0, 0, 8), b.narrow(0, 0, 8));
  auto k = linear(kv + pk, W.narrow(0, 8, 8), b.narrow(0, 8, 8));
  auto v = linear(kv, W.narrow(0, 16, 8), b.narrow(0, 16, 8));
  std::vector<TensorD> heads;
  for (int h = 0; h < 2; ++h) {
    auto qh = q.narrow(2, 4 * h, 4), kh = k.narrow(2, 4 * h, 4), vh = v.narrow(2, 4 * h, 4);
    heads.push_back(matmul(softmax(matmul(qh, kh.transpose(1, 2)) * 0.5, -1), vh));
  }
  auto expect = linear(cat(heads, 2), mha.out_proj->weight, mha.out_proj->bias);
  testing::check_close(out, expect, 1e-12, 1e-12);
  std::vector<std::string> names;
  for (auto& [n, t] : mha.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK_THROWS_WITH_AS(nn::MultiheadAttention<double>(10, 3, 0.0, noise, g), doctest::Contains("divisible"), Error);
}

TEST_CASE("encoder layer and MLP: gradients check, dropout only in training, parameter count") {
  Generator g(4);
  auto noise = std::make_shared<Generator>(5);
  nn::TransformerEncoderLayer<double> layer(8, 2, 16, 0.0, noise, g);
  // attn 4*8*8+4*8, lin1 8*16+16, lin2 16*8+8, two norms 2*16
  CHECK(layer.num_parameters(true) == (256 + 32) + (128 + 16) + (128 + 8) + 32);
  auto pos = randn<double>({3, 8}, 0., 1., g);
  testing::check_gradients([&](auto& in) { return layer.forward(in[0], pos, {}); }, {randn<double>({2, 3, 8}, 0., 1., g)});
  nn::MLP<double> mlp(8, 16, 4, g);
  auto x = randn<double>({3, 8}, 0., 1., g);
  testing::check_close(mlp.forward(x), linear(relu(linear(x, mlp.lin1->weight, mlp.lin1->bias)), mlp.lin2->weight,
                                                 mlp.lin2->bias), 0, 0);
  nn::TransformerEncoderLayer<double> noisy(8, 2, 16, 0.5, noise, g);
  auto y = randn<double>({2, 3, 8}, 0., 1., g);
  noisy.eval();
  testing::check_close(noisy.forward(y, pos, {}), noisy.forward(y, pos, {}), 0, 0);
  noisy.train();
  auto a = noisy.forward(y, pos, {}), b = noisy.forward(y, pos, {});
  CHECK(max(abs(a - b)).item() > 0);  // fresh dropout masks
}
