// conv2d and conv_transpose2d: PyTorch fixtures (float and double, contiguous and not); through
// the op harness float against double, gradient checks, and the fast paths (depthwise,
// pointwise, column blocks) against the general im2col path; TF "same" padding, argument errors.
#include "conv_fixture.hpp"
#include "op_harness.hpp"

#include <onenip/ops/fused_conv.hpp>

using namespace onenip;
using testing::check_case_all;
using testing::check_close;
using testing::In;
using testing::none;
using testing::normal;
using testing::Op;
using testing::OpFn;
using testing::transposed;

namespace {

// PyTorch-side options of each conv2d fixture case (see export_conv_fixtures.py; its TF "same"
// paddings come from its own same_tf, so these cases also cross-check same_padding_tf).
struct ConvCase {
  const char* name;
  Conv2dOptions opt;
};
const ConvCase conv_cases[] = {
    {"conv_plain", {}},
    {"conv_stride2", {{2, 2}, {1, 1, 1, 1}, {1, 1}, 1}},
    {"conv_same_s2", {{2, 2}, same_padding_tf(8, 7, 3, 3, {2, 2}), {1, 1}, 1}},
    {"conv_dilation", {{1, 1}, {1, 2, 0, 1}, {2, 3}, 1}},
    {"conv_groups2", {{1, 1}, {1, 1, 1, 1}, {1, 1}, 2}},
    {"conv_dw3", {{1, 1}, {1, 1, 1, 1}, {1, 1}, 5}},
    {"conv_dw3_s2", {{2, 2}, same_padding_tf(8, 9, 3, 3, {2, 2}), {1, 1}, 4}},
    {"conv_dw5", {{1, 1}, {2, 2, 2, 2}, {1, 1}, 3}},
    {"conv_dw5_s2", {{2, 2}, same_padding_tf(9, 10, 5, 5, {2, 2}), {1, 1}, 3}},
    {"conv_1x1_nobias", {}},
    {"conv_1x1_s2", {{2, 2}, {0, 0, 0, 0}, {1, 1}, 1}},
};

struct ConvTCase {
  const char* name;
  ConvTranspose2dOptions opt;
};
const ConvTCase convt_cases[] = {
    {"convt_k2s2", {{2, 2}, {0, 0}, {0, 0}, {1, 1}, 1}},
    {"convt_general", {{2, 2}, {1, 1}, {1, 1}, {1, 1}, 2}},
    {"convt_dilation", {{1, 1}, {1, 1}, {1, 1}, {2, 2}, 1}},  // output_padding >= stride, < dilation
};

// Block-diagonal dense weight [C, C, kh, kw] equal to the depthwise weight w [C, 1, kh, kw]:
// the same conv through the general (groups = 1) path.
TensorD dense_from_depthwise(const TensorD& w) {
  int64_t C = w.size(0), kh = w.size(2), kw = w.size(3);
  TensorD d = zeros<double>({C, C, kh, kw});
  for (int64_t c = 0; c < C; ++c) d.select(0, c).select(0, c).copy_(w.select(0, c).select(0, 0));
  return d;
}

}  // namespace

TEST_CASE("same_padding_tf") {
  using P = std::array<int64_t, 4>;
  CHECK(same_padding_tf(224, 224, 3, 3, {2, 2}) == P{0, 1, 0, 1});
  CHECK(same_padding_tf(112, 112, 3, 3, {1, 1}) == P{1, 1, 1, 1});
  CHECK(same_padding_tf(8, 7, 3, 3, {2, 2}) == P{0, 1, 1, 1});
  CHECK(same_padding_tf(9, 10, 5, 5, {2, 2}) == P{2, 2, 1, 2});
  CHECK(same_padding_tf(56, 56, 5, 5, {2, 2}) == P{1, 2, 1, 2});
  CHECK(same_padding_tf(14, 14, 1, 1, {1, 1}) == P{0, 0, 0, 0});
  CHECK(same_padding_tf(10, 10, 3, 3, {1, 1}, {2, 2}) == P{2, 2, 2, 2});
  CHECK(same_padding_tf(380, 380, 3, 3, {2, 2}) == P{0, 1, 0, 1});
  CHECK_THROWS_WITH_AS(same_padding_tf(0, 5, 3, 3, {1, 1}), doctest::Contains("positive"), Error);
}

TEST_CASE("conv2d matches PyTorch (float and double, contiguous and not)") {
  for (const auto& c : conv_cases) {
    Conv2dOptions opt = c.opt;
    check_case_all(c.name, {"x", "w", "b"}, [opt](auto tag) {
      using T = decltype(tag);
      return OpFn<T>([opt](const std::vector<Tensor<T>>& in) { return conv2d(in[0], in[1], in[2], opt); });
    });
  }
}

TEST_CASE("conv_transpose2d matches PyTorch (float and double, contiguous and not)") {
  for (const auto& c : convt_cases) {
    ConvTranspose2dOptions opt = c.opt;
    check_case_all(c.name, {"x", "w", "b"}, [opt](auto tag) {
      using T = decltype(tag);
      return OpFn<T>([opt](const std::vector<Tensor<T>>& in) { return conv_transpose2d(in[0], in[1], in[2], opt); });
    });
  }
}

TEST_CASE("conv2d through the op harness: float, gradients, every path") {
  struct G {
    const char* name;
    Shape x, w;
    Conv2dOptions opt;
    bool bias;
  };
  const G cases[] = {
      {"3x3", {2, 3, 5, 6}, {4, 3, 3, 3}, {}, true},
      {"TF same, stride 2", {1, 2, 7, 6}, {3, 2, 3, 3}, {{2, 2}, {0, 1, 1, 1}, {1, 1}, 1}, true},
      {"dilation, stride 1x2", {1, 2, 7, 8}, {2, 2, 3, 2}, {{1, 2}, {2, 1, 0, 2}, {2, 3}, 1}, false},
      {"groups", {1, 4, 5, 5}, {6, 2, 3, 3}, {{1, 1}, {1, 1, 1, 1}, {1, 1}, 2}, true},
      {"depthwise 3x3 s2", {2, 3, 6, 5}, {3, 1, 3, 3}, {{2, 2}, {0, 1, 1, 1}, {1, 1}, 3}, true},
      {"depthwise 5x5", {1, 2, 7, 7}, {2, 1, 5, 5}, {{1, 1}, {2, 2, 2, 2}, {1, 1}, 2}, true},
      {"depthwise, general loops", {1, 2, 7, 8}, {2, 1, 3, 2}, {{2, 1}, {1, 0, 2, 1}, {2, 2}, 2}, true},
      {"pointwise", {2, 3, 4, 3}, {5, 3, 1, 1}, {}, false},
      {"1x1 strided, padded", {1, 3, 5, 4}, {2, 3, 1, 1}, {{2, 2}, {1, 0, 0, 1}, {1, 1}, 1}, true},
      // Odd sizes: the weight gradient (270 > 256 elements: by tiles) sums its 144 pixels in
      // several runs on cuda.
      {"odd sizes, 144 pixels", {2, 3, 9, 8}, {10, 3, 3, 3}, {{1, 1}, {1, 1, 1, 1}, {1, 1}, 1}, true},
      // Over 64 input and output channels: several row tiles of cuda's implicit GEMMs.
      {"65 -> 66 channels", {1, 65, 2, 3}, {66, 65, 1, 1}, {}, false},
      {"depthwise, planes over 256 pixels", {1, 2, 17, 16}, {2, 1, 3, 3}, {{1, 1}, {1, 1, 1, 1}, {1, 1}, 2}, true},
  };
  for (const auto& c : cases) {
    Conv2dOptions opt = c.opt;
    std::string name = std::string("conv2d ") + c.name;
    auto declare = [&](testing::Layout layout, const std::string& tag) {
      if (c.bias)
        return Op(name + tag, [opt]<class T>(const In<T>& x) { return conv2d(x[0], x[1], x[2], opt); })
            .in(c.x, normal(), layout).in(c.w).in({c.w[0]});
      return Op(name + tag, [opt]<class T>(const In<T>& x) { return conv2d(x[0], x[1], none(x), opt); })
          .in(c.x, normal(), layout).in(c.w);
    };
    declare({}, "").seed(7).check();
    declare(transposed(1, 3), ", channels-last input").seed(7).check();
  }
}

TEST_CASE("conv_transpose2d through the op harness") {
  struct G {
    const char* name;
    Shape x, w;
    ConvTranspose2dOptions opt;
  };
  const G cases[] = {
      {"k2 s2", {2, 3, 3, 2}, {3, 2, 2, 2}, {{2, 2}, {0, 0}, {0, 0}, {1, 1}, 1}},
      {"groups, output padding", {1, 4, 3, 3}, {4, 1, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, {1, 1}, 2}},
      {"dilation", {1, 2, 3, 4}, {2, 2, 3, 2}, {{1, 2}, {1, 0}, {1, 1}, {2, 1}, 1}},
      {"depthwise", {1, 3, 3, 3}, {3, 1, 3, 3}, {{2, 2}, {1, 1}, {0, 1}, {1, 1}, 3}},
  };
  for (const auto& c : cases) {
    ConvTranspose2dOptions opt = c.opt;
    auto f = [opt]<class T>(const In<T>& x) { return conv_transpose2d(x[0], x[1], x[2], opt); };
    Op(std::string("conv_transpose2d ") + c.name, f).in(c.x).in(c.w).in({c.w[1] * c.opt.groups}).seed(8).check();
    Op(std::string("conv_transpose2d ") + c.name + ", channels-last input", f)
        .in(c.x, normal(), transposed(1, 3)).in(c.w).in({c.w[1] * c.opt.groups}).seed(8).check();
  }
}

TEST_CASE("depthwise path equals the general im2col path with a block-diagonal weight") {
  for (auto [k, s] : {std::pair<int64_t, int64_t>{3, 1}, {3, 2}, {5, 2}, {5, 1}}) {
    Conv2dOptions dw{{s, s}, same_padding_tf(13, 11, k, k, {s, s}), {1, 1}, 6};
    Conv2dOptions dense = dw;
    dense.groups = 1;
    Op("depthwise " + std::to_string(k) + "x" + std::to_string(k) + " s" + std::to_string(s),
       [dw]<class T>(const In<T>& x) { return conv2d(x[0], x[1], x[2], dw); })
        .in({2, 6, 13, 11}).in({6, 1, k, k}).in({6})
        .ref([dense](const In<double>& x) { return conv2d(x[0], dense_from_depthwise(x[1]), x[2], dense); })
        .directions(8).seed(3).check();
  }
}

TEST_CASE("depthwise fast path (3x3 / 5x5, stride 1 / 2) equals the general depthwise loops") {
  // every padding from 0 to K-1 on each side, odd and even sizes, all three passes
  Generator gen(9);
  for (int64_t K : {3, 5})
    for (int64_t S : {1, 2})
      for (int64_t pad = 0; pad < K; ++pad) {
        kernels::ConvGeom g;
        g.N = 2, g.C = g.O = g.groups = 3, g.H = 9 + pad, g.W = 8 + 2 * pad % 3, g.kh = g.kw = K, g.sh = g.sw = S;
        g.pt = pad, g.pb = (pad + 1) % K, g.pl = (pad + 2) % K, g.pr = K - 1 - pad;
        g.finish();
        REQUIRE(kernels::cpu::depthwise_fast_ok(g));
        INFO("K ", K, " S ", S, " pads ", g.pt, " ", g.pb, " ", g.pl, " ", g.pr);
        auto x = randn<double>({g.N, g.C, g.H, g.W}, 0.0, 1.0, gen), w = randn<double>({3, 1, K, K}, 0.0, 1.0, gen);
        auto b = randn<double>({3}, 0.0, 1.0, gen), go = randn<double>({g.N, g.C, g.Ho, g.Wo}, 0.0, 1.0, gen);
        auto y1 = zeros<double>(go.shape()), y2 = zeros<double>(go.shape());
        kernels::cpu::depthwise_fast_forward(g, x.data(), w.data(), b.data(), y1.data());
        kernels::cpu::depthwise_forward_loops(g, x.data(), w.data(), b.data(), y2.data());
        check_close(y1, y2, 1e-12);
        auto gx1 = zeros<double>(x.shape()), gx2 = zeros<double>(x.shape());
        kernels::cpu::depthwise_fast_grad_input(g, go.data(), w.data(), gx1.data());
        kernels::cpu::depthwise_grad_input_loops(g, go.data(), w.data(), gx2.data());
        check_close(gx1, gx2, 1e-12);
        auto gw1 = zeros<double>(w.shape()), gw2 = zeros<double>(w.shape());
        kernels::cpu::depthwise_fast_grad_weight(g, x.data(), go.data(), gw1.data());
        kernels::cpu::depthwise_grad_weight_loops(g, x.data(), go.data(), gw2.data());
        check_close(gw1, gw2, 1e-12);
      }
}

TEST_CASE("pointwise path equals a matmul, and the strided 1x1 the pointwise conv of the subsampled input") {
  const auto conv = []<class T>(const In<T>& x) { return conv2d(x[0], x[1], none(x)); };
  Op("pointwise vs matmul", conv).in({3, 5, 4, 6}).in({7, 5, 1, 1})
      .ref([](const In<double>& x) {
        return matmul(x[1].reshape({7, 5}), x[0].reshape({3, 5, 24})).reshape({3, 7, 4, 6});
      }, true)
      .seed(4).check();
  // 1x1 with stride 2 takes im2col
  Op("1x1 stride 2 vs subsampled pointwise", []<class T>(const In<T>& x) {
    return conv2d(x[0], x[1], none(x), {{2, 2}, {0, 0, 0, 0}, {1, 1}, 1});
  }).in({3, 5, 4, 6}).in({7, 5, 1, 1})
      .ref([](const In<double>& x) { return conv2d(x[0].slice(2, 0, 4, 2).slice(3, 0, 6, 2), x[1], TensorD()); }, true)
      .seed(4).check();
}

TEST_CASE("conv2d over several column blocks, serial and batch-parallel, equals the depthwise path") {
  // A 250x250 map with 2 input channels (the second one's weights zero) needs two column
  // blocks; one channel alone takes the direct depthwise loops: same values and gradients.
  for (int64_t N : {1, 3}) {
    Conv2dOptions opt{{1, 1}, {1, 1, 1, 1}, {1, 1}, 1};
    Op("two column blocks, N = " + std::to_string(N), [opt]<class T>(const In<T>& x) {
      return conv2d(x[0], cat<T>({x[1], zeros<T>({1, 1, 3, 3}).to(x[1].device())}, 1), none(x), opt);
    }).in({N, 2, 250, 250}).in({1, 1, 3, 3})
        .ref([opt](const In<double>& x) { return conv2d(x[0].narrow(1, 0, 1), x[1], TensorD(), opt); }, true)
        .dtol(1e-9, 1e-9).ftol(2e-5, 2e-5, 1e-4).directions(4).seed(5).check();  // float sums of 190k terms
  }
}

TEST_CASE("conv2d computes only the gradients that are needed, and records nothing without grad") {
  Generator gen(6);
  auto x = randn<double>({1, 2, 5, 5}, 0.0, 1.0, gen), w = randn<double>({3, 2, 3, 3}, 0.0, 1.0, gen);
  auto wl = w.clone().set_requires_grad();
  auto y = conv2d(x, wl, TensorD());
  sum(y).backward();
  CHECK(wl.grad().defined());
  CHECK_FALSE(x.grad().defined());
  {
    NoGradGuard ng;
    CHECK_FALSE(conv2d(x, wl, TensorD()).requires_grad());
  }
  auto b = zeros<double>({3}).set_requires_grad();
  auto y2 = conv_transpose2d(x.narrow(1, 0, 2), zeros<double>({2, 3, 2, 2}), b, {{2, 2}, {0, 0}, {0, 0}, {1, 1}, 1});
  sum(y2).backward();
  testing::check_values(b.grad(), {100, 100, 100});  // every output pixel of each channel: 10x10
}

TEST_CASE("conv argument errors name the problem and show the shapes") {
  auto x = zeros<float>({1, 4, 6, 6});
  auto w = zeros<float>({2, 4, 3, 3});
  auto none = TensorF();
  CHECK_THROWS_WITH_AS(conv2d(zeros<float>({4, 6, 6}), w, none), doctest::Contains("4-D [N, C, H, W], got shape [4, 6, 6]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros<float>({2, 3, 3, 3}), none), doctest::Contains("weight [2, 3, 3, 3] expects 3 input channels"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros<float>({2, 2, 3, 3}), none, {{1, 1}, {0, 0, 0, 0}, {1, 1}, 3}),
                       doctest::Contains("not divisible by groups = 3"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros<float>({3, 2, 3, 3}), none, {{1, 1}, {0, 0, 0, 0}, {1, 1}, 2}),
                       doctest::Contains("output channels 3"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, zeros<float>({3})), doctest::Contains("bias must have shape [2], got [3]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros<float>({2, 4, 7, 3}), none), doctest::Contains("larger than the padded input 6x6"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, none, {{1, 1}, {0, 0, 0, 0}, {4, 1}, 1}), doctest::Contains("kernel 9x3"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, none, {{0, 1}, {0, 0, 0, 0}, {1, 1}, 1}), doctest::Contains("stride must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, none, {{1, 1}, {0, -1, 0, 0}, {1, 1}, 1}), doctest::Contains("padding must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose2d(x, zeros<float>({3, 2, 2, 2}), none), doctest::Contains("expects 3 input channels, input [1, 4, 6, 6] has 4"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose2d(x, zeros<float>({4, 2, 2, 2}), none, {{2, 2}, {0, 0}, {2, 0}, {1, 1}, 1}),
                       doctest::Contains("output_padding 2 must be smaller than stride 2 or dilation 1"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose2d(x, zeros<float>({4, 2, 2, 2}), zeros<float>({4})), doctest::Contains("bias must have shape [2]"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose2d(zeros<float>({1, 4, 1, 1}), zeros<float>({4, 2, 1, 1}), none, {{1, 1}, {1, 1}, {0, 0}, {1, 1}, 1}),
                       doctest::Contains("is empty"), Error);
}

// The fused inference kernels (ops/fused_conv.hpp): no autograd, so forward only; the harness
// checks float against double and every other device against the CPU.
TEST_CASE("fused inference convolutions through the op harness") {
  const std::pair<Activation, const char*> acts[] = {
      {Activation::None, "none"}, {Activation::ReLU6, "relu6"}, {Activation::Swish, "swish"}};
  for (auto [act, name] : acts) {
    Op(std::string("fused_activation_ ") + name, [act]<class T>(const In<T>& x) {
      NoGradGuard ng;
      Tensor<T> y = x[0].clone();
      fused_activation_(y, act);
      return y;
    }).constant({3, 5, 7}, normal(2, 4)).no_grad().check();
    // 66 outputs, 70 pixels: two row and two column tiles of the GEMM, with tails.
    Op(std::string("fused_pointwise_conv_ ") + name + ", residual", [act]<class T>(const In<T>& x) {
      NoGradGuard ng;
      Tensor<T> y = zeros<T>({66, 7, 10}).to(x[0].device());
      fused_pointwise_conv_(y, x[0], x[1], x[2], act, x[3]);
      return y;
    }).constant({17, 7, 10}).constant({66, 17}).constant({66}, normal(2, 2)).constant({66, 7, 10}).no_grad().check();
    // 300 input channels: two K blocks (256 + 44) of the float GEMM's weights packed once.
    Op(std::string("fused_pointwise_conv_ ") + name + ", 300 input channels", [act]<class T>(const In<T>& x) {
      NoGradGuard ng;
      Tensor<T> y = zeros<T>({13, 5, 8}).to(x[0].device());
      fused_pointwise_conv_(y, x[0], x[1], x[2], act, Tensor<T>());
      return y;
    }).constant({300, 5, 8}).constant({13, 300}).constant({13}).no_grad().check();
    for (bool means : {false, true}) {
      Op(std::string("fused_depthwise_conv_ ") + name + (means ? ", means" : ""), [act, means]<class T>(const In<T>& x) {
        NoGradGuard ng;
        Tensor<T> y = zeros<T>({3, 9, 8}).to(x[0].device()), m = zeros<T>({3}).to(x[0].device());
        fused_depthwise_conv_(y, x[0], x[1], x[2], 2, {1, 1, 0, 1}, act, m);  // TF same, stride 2
        return means ? m : y;
      }).constant({3, 17, 16}).constant({3, 1, 3, 3}).constant({3}, normal(1, 2)).no_grad().check();
    }
  }
  Op("fused_squeeze_excite_gate_", []<class T>(const In<T>& x) {
    NoGradGuard ng;
    Tensor<T> gate = zeros<T>({260}).to(x[0].device());
    fused_squeeze_excite_gate_(gate, x[0], x[1], x[2], x[3], x[4]);
    return gate;
  }).constant({260}).constant({5, 260}).constant({5}).constant({260, 5}).constant({260}).no_grad().check();
  Op("fused_scale_columns_", []<class T>(const In<T>& x) {
    NoGradGuard ng;
    Tensor<T> out = zeros<T>({4, 6}).to(x[0].device());
    fused_scale_columns_(out, x[0], x[1]);
    return out;
  }).constant({4, 6, 1, 1}).constant({6}).no_grad().check();
}
