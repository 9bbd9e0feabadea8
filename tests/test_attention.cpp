// Attention: the neighbour mask against the reference construction; fused and composite
// attention against PyTorch fixtures (no mask, neighbour mask, fully masked rows, Tq != Tk,
// strided q/k/v); fused vs composite forward and backward (masks, several tiles, dropout with
// the same generator state); gradient checks in double; determinism; argument errors.
#include "nn_fixtures.hpp"

using namespace onenip;
using testing::check_gradients;
using testing::check_close;
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

template <typename T>
void expect_all_close(const std::vector<Tensor<T>>& a, const std::vector<Tensor<T>>& b, double tol) {
  const char* names[] = {"output", "dq", "dk", "dv"};
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(names[i]);
    check_close(a[i], b[i], tol, tol);
  }
}

}  // namespace

TEST_CASE("neighbour_mask equals the reference construction (onenip-reference 2.7)") {
  for (auto [h, w, n] : {std::tuple{4, 5, 2}, std::tuple{5, 4, 4}, std::tuple{3, 3, 7}}) {
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

TEST_CASE_TEMPLATE("fused equals composite: several query and key tiles, masks, Tq != Tk", T, float, double) {
  Generator g(22);
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-11;
  struct Case { int64_t B, H, Tq, Tk, D, Dv; const char* mask; };
  // Tk > 256 and Tq > 64 exercise the online softmax across key tiles and several query tiles.
  for (Case c : {Case{2, 3, 70, 300, 16, 12, "none"}, Case{1, 2, 130, 520, 8, 8, "random"},
                 Case{2, 2, 196, 196, 32, 32, "neighbour"}, Case{2, 2, 67, 290, 8, 8, "per-head"}}) {
    INFO(c.Tq, "x", c.Tk, " mask ", c.mask);
    auto q = randn<T>({c.B, c.H, c.Tq, c.D}, T(0), T(1), g), k = randn<T>({c.B, c.H, c.Tk, c.D}, T(0), T(1), g);
    auto v = randn<T>({c.B, c.H, c.Tk, c.Dv}, T(0), T(1), g), w = randn<T>({c.B, c.H, c.Tq, c.Dv}, T(0), T(1), g);
    Tensor<T> mask;
    std::string kind = c.mask;
    const T inf = std::numeric_limits<T>::infinity();
    if (kind == "neighbour") mask = neighbour_mask<T>(14, 14, 7);
    if (kind == "random" || kind == "per-head") {
      // -inf on ~half the entries, including a whole key tile for some rows and a fully masked row
      Shape ms = kind == "random" ? Shape{c.Tq, c.Tk} : Shape{c.B, c.H, c.Tq, c.Tk};
      mask = map_unary(rand<T>(ms, T(0), T(1), g), [inf](T u) { return u < T(0.5) ? -inf : T(u - 0.75); });
      auto m2 = mask.view({-1, c.Tq, c.Tk});
      for (int64_t j = 0; j < 256; ++j) m2.at_ref({0, 3, j}) = -inf;
      for (int64_t j = 0; j < c.Tk; ++j) m2.at_ref({0, 5, j}) = -inf;
    }
    expect_all_close(run<T>(fused<T>(), q, k, v, mask, w), run<T>(composite<T>(), q, k, v, mask, w), tol);
  }
}

TEST_CASE_TEMPLATE("fused equals composite with dropout: same generator state, same mask", T, float, double) {
  Generator g(23);
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-11;
  auto q = randn<T>({2, 2, 70, 16}, T(0), T(1), g), k = randn<T>({2, 2, 300, 16}, T(0), T(1), g);
  auto v = randn<T>({2, 2, 300, 16}, T(0), T(1), g), w = randn<T>({2, 2, 70, 16}, T(0), T(1), g);
  auto mask = map_unary(rand<T>({70, 300}, T(0), T(1), g), [](T u) { return u < T(0.3) ? -INFINITY : T(0); });
  for (Tensor<T> m : {Tensor<T>(), mask}) {
    auto a = run<T>(fused<T>(), q, k, v, m, w, 0.3, 77), b = run<T>(composite<T>(), q, k, v, m, w, 0.3, 77);
    expect_all_close(a, b, tol);
    // and dropout did act: differs from the no-dropout result
    auto c = run<T>(fused<T>(), q, k, v, m, w);
    CHECK(std::abs(sum(a[0] - c[0]).item()) + sum(abs(a[0] - c[0])).item() > T(1));
  }
  // both leave the generator in the same state
  Generator g1(5), g2(5);
  scaled_dot_product_attention(q, k, v, mask, 0.1, &g1);
  attention_composite(q, k, v, mask, 0.1, &g2);
  CHECK(g1.offset() == g2.offset());
  CHECK(g1.offset() == uint64_t((2 * 2 * 70 * 300 + 7) / 8));
}

TEST_CASE("fused attention gradients (finite differences)") {
  Generator g(24);
  auto q = randn<double>({1, 2, 5, 4}, 0, 1, g), k = randn<double>({1, 2, 6, 4}, 0, 1, g);
  auto v = randn<double>({1, 2, 6, 3}, 0, 1, g);
  auto mask = zeros<double>({5, 6});
  mask.at_ref({0, 1}) = mask.at_ref({2, 2}) = mask.at_ref({2, 3}) = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < 6; ++j) mask.at_ref({4, j}) = -std::numeric_limits<double>::infinity();  // dead row
  mask.at_ref({1, 5}) = 0.7;
  check_gradients([](auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2]); }, {q, k, v});
  check_gradients([&](auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2], mask); }, {q, k, v});
  check_gradients([&](auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2], mask, 0.0, nullptr, 0.3); },
                  {q, k, v});
  check_gradients([&](auto& in) {
    Generator gd(3);  // the same dropout mask in every evaluation
    return scaled_dot_product_attention(in[0], in[1], in[2], mask, 0.4, &gd);
  }, {q, k, v});
  check_gradients([&](auto& in) {
    Generator gd(3);
    return attention_composite(in[0], in[1], in[2], mask, 0.4, &gd);
  }, {q, k, v});
  // several tiles, random-direction mode
  GradCheckOptions o;
  o.directions = 4;
  check_gradients([](auto& in) {
    Generator gd(4);
    return scaled_dot_product_attention(in[0], in[1], in[2], TensorD(), 0.2, &gd);
  }, {randn<double>({1, 1, 70, 4}, 0, 1, g), randn<double>({1, 1, 270, 4}, 0, 1, g), randn<double>({1, 1, 270, 4}, 0, 1, g)}, o);
}

TEST_CASE("a mask that requires grad gets its gradient (through the composite)") {
  Generator g(25);
  auto q = randn<double>({1, 2, 4, 4}, 0, 1, g), k = randn<double>({1, 2, 4, 4}, 0, 1, g);
  auto v = randn<double>({1, 2, 4, 4}, 0, 1, g);
  check_gradients([](auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2], in[3]); },
                  {q, k, v, randn<double>({4, 4}, 0, 1, g)});
}

TEST_CASE("fused attention is deterministic across thread counts (dropout included)") {
  Generator g(26);
  // many heads (one backward item per head), and few heads with long keys (key-block groups)
  for (Shape s : {Shape{2, 4, 100, 100}, Shape{1, 2, 80, 600}}) {
    INFO(shape_str(s));
    auto q = randn<float>({s[0], s[1], s[2], 16}, 0, 1, g), k = randn<float>({s[0], s[1], s[3], 16}, 0, 1, g);
    auto v = randn<float>({s[0], s[1], s[3], 16}, 0, 1, g), w = randn<float>({s[0], s[1], s[2], 16}, 0, 1, g);
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
