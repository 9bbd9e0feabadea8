// Attention: the neighbour mask against the reference construction; fused and composite
// attention against PyTorch fixtures (no mask, neighbour mask, fully masked rows, Tq != Tk,
// strided q/k/v); through the op harness fused vs composite forward and backward (masks,
// several tiles, dropout with the same generator state) and gradient checks; determinism;
// argument errors. The shapes the CUDA kernels specialise or pad (head dims 32, 64, 128 and
// others, tails, broadcast masks, dead rows, dropout) and their TF32 / BF16 tensor-core path
// with stated tolerances (the op harness runs every case on cuda when it is linked).
#include <cmath>
#include <cstring>
#include <limits>
#include <onenip/kernels/cpu/simd.hpp>

#include "nn_fixtures.hpp"
#include "op_harness.hpp"

using namespace onenip;
using testing::check_close;
using testing::In;
using testing::none;
using testing::normal;
using testing::Op;
using testing::transposed;
using testing::fx;
using testing::fx_tol;

namespace {

template <typename T>
using AttnFn = std::function<Tensor<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,
                                       double, Generator*, double)>;

template <typename T>
AttnFn<T> fused() {
  return [](auto& q, auto& k, auto& v, auto& m, double p, Generator* g, double s) {
    return scaled_dot_product_attention(q, k, v, m, p, g, s);
  };
}
template <typename T>
AttnFn<T> composite() {
  return [](auto& q, auto& k, auto& v, auto& m, double p, Generator* g, double s) {
    return attention_composite(q, k, v, m, p, g, s);
  };
}

// Output and dq, dk, dv for upstream gradient w; q/k/v are made leaves (views kept as given).
template <typename T>
std::vector<Tensor<T>> run(const AttnFn<T>& f, Tensor<T> q, Tensor<T> k, Tensor<T> v, const Tensor<T>& mask,
                           const Tensor<T>& w, double p = 0, uint64_t seed = 0) {
  auto leaf = [](Tensor<T> t) { return t.detach().set_requires_grad(); };
  auto ql = leaf(q), kl = leaf(k), vl = leaf(v);
  Generator g(seed);
  auto y = f(ql, kl, vl, mask, p, p > 0 ? &g : nullptr, -1);
  y.backward(w);
  return {y.detach(), ql.grad(), kl.grad(), vl.grad()};
}

// The mask input when the op has one.
template <typename T>
Tensor<T> mask_of(const In<T>& x) {
  return x.size() > 3 ? x[3] : Tensor<T>();
}
// q, k, v and the mask when the op has one: fused, and the composite as reference.
const auto sdpa_masked = []<class T>(const In<T>& x) {
  return scaled_dot_product_attention(x[0], x[1], x[2], mask_of(x));
};
const auto composite_masked = [](const In<double>& x) { return attention_composite(x[0], x[1], x[2], mask_of(x)); };

template <typename T>
void expect_all_close(const std::vector<Tensor<T>>& a, const std::vector<Tensor<T>>& b, double tol) {
  const char* names[] = {"output", "dq", "dk", "dv"};
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(names[i]);
    check_close(a[i], b[i], tol, tol);
  }
}

}  // namespace

TEST_CASE("neighbour_mask equals the authors' construction (docs/onenip.md section 2)") {
  for (const auto& hwn : {std::tuple{4, 5, 2}, std::tuple{5, 4, 4}, std::tuple{3, 3, 7}}) {
    const int h = std::get<0>(hwn), w = std::get<1>(hwn), n = std::get<2>(hwn);  // INFO captures them: no structured binding for clang 14
    INFO(h, "x", w, " n ", n);
    auto m = neighbour_mask<float>(h, w, n);
    check_close(m, fx<float>("nbr_mask." + std::to_string(h) + "x" + std::to_string(w) + "_n" + std::to_string(n)),
                 0, 0);
  }
  // 14 x 14 grid, n = 7: each query blocks its 7 x 7 window (clipped at borders)
  auto m = neighbour_mask<float>(14, 14, 7);
  auto count_row = [&](int64_t i) {
    int64_t c = 0;
    for (int64_t j = 0; j < 196; ++j) c += std::isinf(m.at({i, j}));
    return c;
  };
  CHECK(count_row(7 * 14 + 7) == 49);
  CHECK(count_row(0) == 16);
  CHECK_THROWS_WITH_AS(neighbour_mask<float>(0, 3, 2), doctest::Contains("h 0"), Error);
}

TEST_CASE_TEMPLATE("fused and composite attention match PyTorch", T, float, double) {
  const double tol = fx_tol<T>();
  for (const char* name : {"nomask", "nbr", "deadrows", "cross", "strided"}) {
    std::string c = std::string("attn.") + name;
    auto has = [&](const std::string& k) { return testing::fixture("attn_fixtures.safetensors").contains(c + "." + k); };
    Tensor<T> q, k, v;
    if (has("q_bthd")) {  // [B, T, H, D] -> [B, H, T, D] views
      q = fx<T>(c + ".q_bthd").transpose(1, 2), k = fx<T>(c + ".k_bthd").transpose(1, 2);
      v = fx<T>(c + ".v_bthd").transpose(1, 2);
      REQUIRE(!q.is_contiguous());
    } else {
      q = fx<T>(c + ".q"), k = fx<T>(c + ".k"), v = fx<T>(c + ".v");
    }
    Tensor<T> mask = has("mask") ? fx<T>(c + ".mask") : Tensor<T>();
    std::vector<Tensor<T>> expected{fx<T>(c + ".y"), fx<T>(c + ".dq"), fx<T>(c + ".dk"), fx<T>(c + ".dv")};
    for (bool is_fused : {true, false}) {
      INFO(name, is_fused ? " fused" : " composite");
      auto got = run<T>(is_fused ? fused<T>() : composite<T>(), q, k, v, mask, fx<T>(c + ".w"));
      expect_all_close(got, expected, tol);
    }
  }
}

TEST_CASE("fully masked rows: output 0, zero gradient, finite everywhere") {
  Generator g(21);
  auto q = randn<double>({1, 2, 4, 8}, 0, 1, g), k = randn<double>({1, 2, 5, 8}, 0, 1, g);
  auto v = randn<double>({1, 2, 5, 8}, 0, 1, g), w = randn<double>({1, 2, 4, 8}, 0, 1, g);
  auto mask = zeros<double>({4, 5});
  for (int64_t j = 0; j < 5; ++j) mask.at_ref({2, j}) = -std::numeric_limits<double>::infinity();
  for (auto f : {fused<double>(), composite<double>()}) {
    auto r = run<double>(f, q, k, v, mask, w);
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t d = 0; d < 8; ++d) {
        CHECK(r[0].at({0, h, 2, d}) == 0.0);
        CHECK(r[1].at({0, h, 2, d}) == 0.0);
      }
    for (auto& t : r)
      for (int64_t i = 0; i < t.numel(); ++i) REQUIRE(std::isfinite(t.contiguous().data()[i]));
  }
}

TEST_CASE("fused attention through the op harness: the composite's values and gradients, several tiles, masks") {
  const double inf = std::numeric_limits<double>::infinity();
  // -inf on about half the entries, on a whole key tile of row 3 and on all of row 5
  auto sparse_mask = [inf](const Shape& s, Generator& g) {
    auto m = map_unary(rand<double>(s, 0, 1, g), [inf](double u) { return u < 0.5 ? -inf : u - 0.75; });
    auto m2 = m.view({-1, s[s.size() - 2], s.back()});
    for (int64_t j = 0; j < 256; ++j) m2.at_ref({0, 3, j}) = -inf;
    for (int64_t j = 0; j < s.back(); ++j) m2.at_ref({0, 5, j}) = -inf;
    return m;
  };
  auto nbr = [](const Shape&, Generator&) { return neighbour_mask<double>(14, 14, 7); };
  // Tk > 256 and Tq > 64 exercise the online softmax across key tiles and several query tiles.
  auto op = [&](const std::string& name, Shape q, Shape k, Shape v) {
    return Op(name, sdpa_masked).in(q).in(k).in(v).ref(composite_masked, true).ftol(2e-5, 2e-5).dtol(1e-11, 1e-11).directions(4);
  };
  op("no mask 70x300", {2, 3, 70, 16}, {2, 3, 300, 16}, {2, 3, 300, 12}).check();
  op("random mask 130x520", {1, 2, 130, 8}, {1, 2, 520, 8}, {1, 2, 520, 8}).constant({130, 520}, sparse_mask).check();
  op("neighbour mask 196x196", {2, 2, 196, 32}, {2, 2, 196, 32}, {2, 2, 196, 32}).constant({196, 196}, nbr).check();
  op("per-head mask 67x290", {2, 2, 67, 8}, {2, 2, 290, 8}, {2, 2, 290, 8}).constant({2, 2, 67, 290}, sparse_mask).check();
}

TEST_CASE("fused attention through the op harness: [B, T, H, D] views, a row pitch, dropout") {
  const double inf = std::numeric_limits<double>::infinity();
  Op("[B, T, H, D] views", sdpa_masked).ref(composite_masked, true).ftol(2e-5, 2e-5).dtol(1e-11, 1e-11).directions(4)
      .in({2, 3, 70, 16}, normal(), transposed(1, 2)).in({2, 3, 90, 16}, normal(), transposed(1, 2))
      .in({2, 3, 90, 16}, normal(), transposed(1, 2)).check();
  // The model's path: the output joined into [B, T, H D] (a view when it is laid out as q), so the
  // backward's grad_out is [B, T, H, D] permuted and every kernel reads it with its strides.
  Op("[B, T, H, D] views joined again", []<class T>(const In<T>& x) {
    return scaled_dot_product_attention(x[0], x[1], x[2]).transpose(1, 2).reshape({2, 70, 48});
  }).ref([](const In<double>& x) {
      return attention_composite(x[0], x[1], x[2]).transpose(1, 2).reshape({2, 70, 48});
    }, true).ftol(2e-5, 2e-5).dtol(1e-11, 1e-11).directions(4)
      .in({2, 3, 70, 16}, normal(), transposed(1, 2)).in({2, 3, 90, 16}, normal(), transposed(1, 2))
      .in({2, 3, 90, 16}, normal(), transposed(1, 2)).check();
  Op("q, k, v with a row pitch", sdpa_masked).ref(composite_masked, true).ftol(2e-5, 2e-5).dtol(1e-11, 1e-11).directions(4)
      .in({2, 3, 70, 16}, normal(), testing::padded(3, 4)).in({2, 3, 90, 16}, normal(), testing::padded(3, 4))
      .in({2, 3, 90, 16}, normal(), testing::padded(3, 4)).check();
  // dropout: the same generator state gives the same mask in both
  for (bool masked : {false, true}) {
    auto drop = [](double p) {
      return [p]<class T>(const In<T>& x) {
        Generator g(77);
        return scaled_dot_product_attention(x[0], x[1], x[2], mask_of(x), p, &g);
      };
    };
    Op op_drop(std::string("dropout 0.3") + (masked ? ", masked" : ""), drop(0.3));
    op_drop.in({2, 2, 70, 16}).in({2, 2, 300, 16}).in({2, 2, 300, 16})
        .ref([](const In<double>& x) {
          Generator g(77);
          return attention_composite(x[0], x[1], x[2], mask_of(x), 0.3, &g);
        }, true)
        .ftol(2e-5, 2e-5).dtol(1e-11, 1e-11).directions(4);
    if (masked) op_drop.constant({70, 300}, [inf](const Shape& s, Generator& g) {
      return map_unary(rand<double>(s, 0, 1, g), [inf](double u) { return u < 0.3 ? -inf : 0.0; });
    });
    op_drop.check();
  }
}

TEST_CASE("fused attention lays out its output and gradients as q, k, v are: the heads of [B, T, H D] join as views") {
  Generator g(31);
  const int64_t B = 2, T = 70, H = 3, D = 32;
  auto heads_of = [&](const TensorF& x) { return x.view({B, T, H, D}).transpose(1, 2); };
  auto x = randn<float>({B, T, H * D}, 0, 1, g).set_requires_grad(), w = randn<float>({B, T, H * D}, 0, 1, g);
  // the output: [B, H, T, D] laid out as [B, T, H, D], so joining the heads is a view
  auto y = scaled_dot_product_attention(heads_of(x), heads_of(x * 0.5f), heads_of(x * 2.f));
  CHECK(!y.is_contiguous());
  CHECK(y.transpose(1, 2).is_contiguous());
  // packed q keeps a packed output (Dv != D too); a q with a row pitch gets a contiguous one
  auto q = randn<float>({B, H, T, D}, 0, 1, g), v = randn<float>({B, H, T, 16}, 0, 1, g);
  CHECK(scaled_dot_product_attention(q, q, v).is_contiguous());
  auto padded = randn<float>({B, H, T, D + 4}, 0, 1, g).narrow(3, 0, D);
  CHECK(scaled_dot_product_attention(padded, padded, padded).is_contiguous());
  auto yv = scaled_dot_product_attention(heads_of(x), heads_of(x), v);
  CHECK(yv.transpose(1, 2).is_contiguous());
  CHECK(yv.size(3) == 16);
  // dq, dk, dv in q, k, v's layouts: the gradient reaches x through the permutes and views as
  // the composite's does
  auto fused_x = [&](auto attend) {
    auto xl = x.detach().set_requires_grad();
    auto out = attend(heads_of(xl), heads_of(xl * 0.5f), heads_of(xl * 2.f));
    out.transpose(1, 2).reshape({B, T, H * D}).backward(w);
    return std::pair{out.detach(), xl.grad()};
  };
  auto [yf, gf] = fused_x([](const auto& a, const auto& b, const auto& c) {
    return scaled_dot_product_attention(a, b, c);
  });
  auto [yc, gc] = fused_x([](const auto& a, const auto& b, const auto& c) { return attention_composite(a, b, c); });
  check_close(yf, yc, 2e-5, 2e-5);
  check_close(gf, gc, 2e-4, 2e-5);
}

TEST_CASE("fused attention with dropout: it acts, and leaves the generator where the composite does") {
  Generator g(23);
  auto q = randn<float>({2, 2, 70, 16}, 0, 1, g), k = randn<float>({2, 2, 300, 16}, 0, 1, g);
  auto v = randn<float>({2, 2, 300, 16}, 0, 1, g);
  auto mask = map_unary(rand<float>({70, 300}, 0, 1, g), [](float u) { return u < 0.3f ? -INFINITY : 0.f; });
  Generator gd(77);
  auto a = scaled_dot_product_attention(q, k, v, mask, 0.3, &gd), c = scaled_dot_product_attention(q, k, v, mask);
  CHECK(sum(abs(a - c)).item() > 1.f);
  Generator g1(5), g2(5);
  scaled_dot_product_attention(q, k, v, mask, 0.1, &g1);
  attention_composite(q, k, v, mask, 0.1, &g2);
  CHECK(g1.offset() == g2.offset());
  CHECK(g1.offset() == uint64_t((2 * 2 * 70 * 300 + 7) / 8));
}

TEST_CASE("fused attention gradients through the op harness: masks, dead rows, scale, dropout") {
  const double inf = std::numeric_limits<double>::infinity();
  auto mask = [inf](const Shape&, Generator&) {
    auto m = zeros<double>({5, 6});
    m.at_ref({0, 1}) = m.at_ref({2, 2}) = m.at_ref({2, 3}) = -inf;
    for (int64_t j = 0; j < 6; ++j) m.at_ref({4, j}) = -inf;  // dead row
    m.at_ref({1, 5}) = 0.7;
    return m;
  };
  auto small = [](const std::string& name, auto f) {
    return std::move(Op(name, f).in({1, 2, 5, 4}).in({1, 2, 6, 4}).in({1, 2, 6, 3}).seed(24));
  };
  small("sdpa", []<class T>(const In<T>& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }).check();
  small("sdpa masked", []<class T>(const In<T>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]); })
      .constant({5, 6}, mask).check();
  small("sdpa masked, scale 0.3", []<class T>(const In<T>& x) {
    return scaled_dot_product_attention(x[0], x[1], x[2], x[3], 0.0, nullptr, 0.3);
  }).constant({5, 6}, mask).check();
  small("sdpa masked, dropout 0.4", []<class T>(const In<T>& x) {
    Generator gd(3);  // the same dropout mask in every evaluation
    return scaled_dot_product_attention(x[0], x[1], x[2], x[3], 0.4, &gd);
  }).constant({5, 6}, mask).check();
  small("composite masked, dropout 0.4", []<class T>(const In<T>& x) {
    Generator gd(3);
    return attention_composite(x[0], x[1], x[2], x[3], 0.4, &gd);
  }).constant({5, 6}, mask).check();
  // several tiles, random-direction mode
  Op("sdpa dropout 0.2, several tiles", []<class T>(const In<T>& x) {
    Generator gd(4);
    return scaled_dot_product_attention(x[0], x[1], x[2], none(x), 0.2, &gd);
  }).in({1, 1, 70, 4}).in({1, 1, 270, 4}).in({1, 1, 270, 4}).ftol(2e-5, 2e-5).directions(4).check();
}

TEST_CASE("a mask that requires grad gets its gradient (through the composite)") {
  Op("sdpa, mask with grad", []<class T>(const In<T>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]); })
      .in({1, 2, 4, 4}).in({1, 2, 4, 4}).in({1, 2, 4, 4}).in({4, 4}).check();
}

TEST_CASE("fused attention is deterministic across thread counts (dropout included)") {
  Generator g(26);
  // many heads (one backward item per head), and few heads with long keys (key-block groups);
  // head dim 16 (Eigen tiles) and 32 (the float kernels with the queries in the lanes)
  for (Shape s : {Shape{2, 4, 100, 100, 16}, Shape{1, 2, 80, 600, 16}, Shape{2, 4, 100, 100, 32}, Shape{1, 2, 80, 600, 32}}) {
    INFO(shape_str(s));
    auto q = randn<float>({s[0], s[1], s[2], s[4]}, 0, 1, g), k = randn<float>({s[0], s[1], s[3], s[4]}, 0, 1, g);
    auto v = randn<float>({s[0], s[1], s[3], s[4]}, 0, 1, g), w = randn<float>({s[0], s[1], s[2], s[4]}, 0, 1, g);
    auto mask = s[2] == s[3] ? neighbour_mask<float>(10, 10, 4) : TensorF();
    int saved = num_threads();
    std::vector<std::vector<TensorF>> res;
    for (int t : {1, 2, 3}) {
      set_num_threads(t);
      res.push_back(run<float>(fused<float>(), q, k, v, mask, w, 0.1, 9));
    }
    set_num_threads(saved);
    for (auto& r : res)
      for (size_t i = 0; i < 4; ++i) testing::check_close(r[i], res[0][i], 0.0, 0.0);
  }
}

TEST_CASE("attention argument errors name the tensors and shapes") {
  auto q = zeros<float>({2, 4, 5, 8}), k = zeros<float>({2, 4, 6, 8}), v = zeros<float>({2, 4, 6, 3});
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, zeros<float>({2, 4, 6, 7}), v), doctest::Contains("[2, 4, 6, 7]"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, zeros<float>({2, 4, 5, 3})), doctest::Contains("number of keys"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, zeros<float>({2, 3, 6, 3})), doctest::Contains("[B, H]"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q.view({8, 5, 8}), k, v), doctest::Contains("[8, 5, 8]"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, zeros<float>({5, 5})),
                       doctest::Contains("mask [5, 5] does not broadcast to the scores' [2, 4, 5, 6]"), Error);
  CHECK_THROWS_WITH_AS(attention_composite(q, k, v, zeros<float>({3, 1, 5, 6})), doctest::Contains("mask [3, 1, 5, 6]"), Error);
  Generator g(1);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, TensorF(), 1.2, &g), doctest::Contains("dropout_p"), Error);
  // broadcast masks that are fine
  CHECK(scaled_dot_product_attention(q, k, v, zeros<float>({2, 1, 5, 6})).shape() == Shape{2, 4, 5, 3});
  CHECK(scaled_dot_product_attention(q, k, v, zeros<float>({1, 6})).shape() == Shape{2, 4, 5, 3});
}

// ---- shapes the CUDA kernels specialise or pad (every case also runs on the CPU) ----
namespace {

const double kInf = std::numeric_limits<double>::infinity();

// Additive mask of shape s: -inf on about a third of the entries, on every key of query row 1
// (a dead row) and of the last key (a dead column), else small values.
testing::Draw holey_mask() {
  return [](const Shape& s, Generator& g) {
    auto m = map_unary(rand<double>(s, 0, 1, g), [](double u) { return u < 0.3 ? -kInf : u - 0.6; });
    auto rows = m.view({-1, s[s.size() - 2], s.back()});
    for (int64_t r = 0; r < rows.size(0); ++r) {
      if (s[s.size() - 2] > 1)
        for (int64_t j = 0; j < s.back(); ++j) rows.at_ref({r, 1, j}) = -kInf;
      if (s.back() > 1)
        for (int64_t i = 0; i < s[s.size() - 2]; ++i) rows.at_ref({r, i, s.back() - 1}) = -kInf;
    }
    return m;
  };
}

// q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv], the mask (when given) of shape `mask`.
Op attn_op(const std::string& name, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
           const Shape& mask = {}) {
  Op op(name, sdpa_masked);
  op.in({B, H, Tq, D}).in({B, H, Tk, D}).in({B, H, Tk, Dv}).ref(composite_masked, true).ftol(2e-5, 2e-5)
      .dtol(1e-11, 1e-11).directions(4);
  if (!mask.empty()) op.constant(mask, holey_mask());
  return op;
}

// Dropout 0.25 from a fixed generator state: the same decisions in the op and its reference.
const auto sdpa_dropout = []<class T>(const In<T>& x) {
  Generator g(91);
  return scaled_dot_product_attention(x[0], x[1], x[2], mask_of(x), 0.25, &g);
};
const auto composite_dropout = [](const In<double>& x) {
  Generator g(91);
  return attention_composite(x[0], x[1], x[2], mask_of(x), 0.25, &g);
};

}  // namespace

TEST_CASE("fused attention, head dims 32, 64, 128 and others: tails, Tq != Tk, dead rows, masks that broadcast") {
  // 37 queries and 45 keys: a query tail in two 32-query blocks or one 64-query block, a key tail.
  for (int64_t D : {32, 64, 128}) {
    const std::string d = "D " + std::to_string(D);
    attn_op("head dim " + d + ", mask [B, 1, Tq, Tk]", 2, 2, 37, 45, D, D, {2, 1, 37, 45}).check();
  }
  // Query blocks of 64 (AVX-512) or 32 lanes whose last block takes a quarter of the lanes (133:
  // 5 left) or a half (150 with 64-query blocks: 22 left).
  attn_op("D 32, 133 queries, mask [Tq, Tk]", 1, 1, 133, 45, 32, 32, {133, 45}).check();
  attn_op("D 64, 150 queries, no mask", 1, 1, 150, 45, 64, 64).check();
  // run-time dims: D != Dv, dims that are no multiple of 16 (padded for tensor cores)
  attn_op("D 24, Dv 40, mask [Tq, Tk]", 1, 2, 21, 50, 24, 40, {21, 50}).check();
  attn_op("D 5, Dv 3, odd T, no mask", 1, 3, 7, 9, 5, 3).check();
  attn_op("D 64, Dv 32, one key", 1, 2, 5, 1, 64, 32).check();
  // one head and 300 keys: the float backward's key blocks of 80 (the last 60) in two key groups
  attn_op("D 64, one head, 300 keys", 1, 1, 40, 300, 64, 64, {40, 300}).check();
  // broadcast: one mask row for every query (stride 0 along queries), one value per query row
  // (stride 0 along keys: a -inf row masks every key), per-head masks of batch 0 only
  attn_op("D 32, mask [1, Tk] (rows broadcast)", 2, 2, 19, 33, 32, 32, {1, 33}).check();
  attn_op("D 32, mask [Tq, 1] (keys broadcast)", 2, 2, 19, 33, 32, 32, {19, 1}).check();
  attn_op("D 32, mask [1, H, Tq, Tk]", 2, 2, 19, 33, 32, 32, {1, 2, 19, 33}).check();
}

TEST_CASE("fused attention with dropout at each head dim: the composite's decisions") {
  for (auto [D, Dv] : {std::pair<int64_t, int64_t>{32, 32}, {64, 64}, {128, 128}, {24, 40}}) {
    const std::string name = "dropout 0.25, D " + std::to_string(D) + ", Dv " + std::to_string(Dv);
    Op op(name, sdpa_dropout);
    op.in({1, 2, 35, D}).in({1, 2, 41, D}).in({1, 2, 41, Dv}).constant({35, 41}, holey_mask())
        .ref(composite_dropout, true).ftol(2e-5, 2e-5).dtol(1e-11, 1e-11).directions(4).check();
  }
  // several query blocks, the last one short: the factors of whole and partial tiles
  Op(std::string("dropout 0.25, D 32, 133 queries"), sdpa_dropout).in({1, 1, 133, 32}).in({1, 1, 45, 32})
      .in({1, 1, 45, 32}).ref(composite_dropout, true).ftol(2e-5, 2e-5).dtol(1e-11, 1e-11).directions(4).check();
}

namespace {
// TF32 and BF16 round the operands of every product to p significant bits (unit roundoff
// u = 2^-p: 2^-11, 2^-8) and sum in FP32, as the GEMM's tensor-core path does. As in its tests,
// K errors of random sign add up like sqrt(K), K the largest inner size of the products (D, Dv,
// Tq, Tk); the weights are rounded too, but they lie in [0, 1] and sum to 1 per row (an error
// of order u). The worst errors seen here are about 3.3 u: atol 2 u sqrt(K) (over 13 u at these
// sizes) keeps a margin of 4, a quarter of the GEMM tests' 8 u sqrt(K); rtol 2u.
testing::Tol attention_tol(MathPrecision p, int64_t K) {
  const double u = p == MathPrecision::TF32 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
  return {2 * u * std::sqrt(double(K)), 2 * u};
}
}  // namespace

TEST_CASE("fused attention with TF32 and BF16 tensor cores on cuda, the CPU stays exact") {
  for (MathPrecision p : {MathPrecision::TF32, MathPrecision::BF16}) {
    MatmulPrecisionGuard guard(p);  // forward and backward run inside the scope
    const std::string tag = std::string(precision_name(p)) + " ";
    for (auto [D, Dv] : {std::pair<int64_t, int64_t>{32, 32}, {64, 64}, {128, 128}, {24, 40}}) {
      const testing::Tol t = attention_tol(p, std::max<int64_t>({D, Dv, 37, 45}));
      attn_op(tag + "D " + std::to_string(D) + ", Dv " + std::to_string(Dv), 1, 2, 37, 45, D, Dv, {37, 45})
          .ftol(t.atol, t.rtol).check();
    }
    const testing::Tol t = attention_tol(p, 45);
    Op(tag + "dropout 0.25, D 32", sdpa_dropout).in({1, 2, 37, 32}).in({1, 2, 45, 32}).in({1, 2, 45, 32})
        .constant({37, 45}, holey_mask()).ref(composite_dropout, true).ftol(t.atol, t.rtol).dtol(1e-11, 1e-11)
        .directions(4).check();
  }
}

TEST_CASE("the tensor-core path rounds: TF32 and BF16 results differ from FP32 on cuda, by less than the bound") {
  const auto devices = available_devices();
  if (std::find(devices.begin(), devices.end(), Device::CUDA) == devices.end()) return;
  Generator g(92);
  auto q = randn<float>({1, 2, 37, 64}, 0, 1, g).to(Device::CUDA), k = randn<float>({1, 2, 45, 64}, 0, 1, g).to(Device::CUDA);
  auto v = randn<float>({1, 2, 45, 64}, 0, 1, g).to(Device::CUDA);
  const TensorF exact = scaled_dot_product_attention(q, k, v).cpu();
  for (MathPrecision p : {MathPrecision::TF32, MathPrecision::BF16}) {
    CAPTURE(precision_name(p));
    MatmulPrecisionGuard guard(p);
    const float diff = max(abs(scaled_dot_product_attention(q, k, v).cpu() - exact)).item();
    CHECK(diff > 0.f);
    CHECK(diff < attention_tol(p, 64).atol);
  }
}

// The CPU attention's softmax weights come from simd::exp_nonpositive: within 2 ulp of std::exp
// on [-87.3, 0], exactly 1 at 0, exactly 0 below -87.3 (float exp leaves the normal range) and at
// -inf (a masked key).
TEST_CASE("the CPU attention's vector exp: 2 ulp on [-87.3, 0], exact at 0, 0 below and at -inf") {
  namespace simd = kernels::cpu::simd;
  std::vector<float> xs = {0.f, -0.f, -1e-30f, -1e-8f, -0.5f, -87.29f, -87.3f, -87.31f, -100.f, -1e30f,
                           -std::numeric_limits<float>::infinity()};
  for (float x = -1e-4f; x > -88.f; x *= 1.0009f) xs.push_back(x);
  while (xs.size() % simd::kLanes) xs.push_back(-1.f);
  int worst = 0;
  for (size_t i = 0; i < xs.size(); i += simd::kLanes) {
    float got[simd::kLanes];
    simd::store(got, simd::exp_nonpositive(simd::load(xs.data() + i)));
    for (int l = 0; l < simd::kLanes; ++l) {
      const float x = xs[i + size_t(l)];
      CAPTURE(x);
      if (x < -87.3f) {
        CHECK(got[l] == 0.f);
        continue;
      }
      const float want = std::exp(x);
      int32_t a, b;
      std::memcpy(&a, &got[l], 4), std::memcpy(&b, &want, 4);
      CHECK(std::abs(a - b) <= 2);
      worst = std::max(worst, std::abs(a - b));
    }
  }
  MESSAGE("vector exp: worst " << worst << " ulp over " << xs.size() << " arguments");
}
