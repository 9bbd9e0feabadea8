// Activations, softmax / log_softmax, linear and dropout: PyTorch fixtures (float and double);
// through the op harness formulas, the fused softmax against an elementwise composite and
// gradient checks; dropout's statistics and determinism, argument errors.
#include "nn_fixtures.hpp"
#include "op_harness.hpp"

using namespace onenip;
using testing::away_from;
using testing::check_close;
using testing::In;
using testing::normal;
using testing::Op;
using testing::fx;
using testing::fx_tol;

namespace {

// y and x.grad of f(x) with upstream gradient w.
template <typename T, typename F>
std::pair<Tensor<T>, Tensor<T>> value_and_grad(F f, const Tensor<T>& x_in, const Tensor<T>& w) {
  Tensor<T> x = x_in.clone().set_requires_grad();
  Tensor<T> y = f(x);
  y.backward(w);
  return {y.detach(), x.grad()};
}

// softmax from elementwise ops and reductions: the reference for the fused kernel.
template <typename T>
Tensor<T> softmax_composite(const Tensor<T>& x, int64_t dim) {
  Tensor<T> e = exp(x - max(x, dim, true).detach());
  return e / sum(e, {dim}, true);
}

}  // namespace

TEST_CASE_TEMPLATE("activations match PyTorch, values and gradients", T, float, double) {
  auto x = fx<T>("act.x"), w = fx<T>("act.w");
  const double tol = fx_tol<T>();
  auto check = [&](const char* name, auto f) {
    INFO(name);
    auto [y, dx] = value_and_grad<T>(f, x, w);
    check_close(y, fx<T>(std::string("act.") + name + ".y"), tol, tol);
    check_close(dx, fx<T>(std::string("act.") + name + ".dx"), tol, tol);
  };
  check("relu6", [](const Tensor<T>& t) { return relu6(t); });
  check("gelu", [](const Tensor<T>& t) { return gelu(t); });
  check("gelu_tanh", [](const Tensor<T>& t) { return gelu_tanh(t); });
  check("silu", [](const Tensor<T>& t) { return silu(t); });
  check("leaky_relu", [](const Tensor<T>& t) { return leaky_relu(t, T(0.2)); });
  check("softplus", [](const Tensor<T>& t) { return softplus(t); });
  check("softplus_b2_t5", [](const Tensor<T>& t) { return softplus(t, T(2), T(5)); });
}

TEST_CASE("activations through the op harness: formulas, strided input, gradients away from kinks") {
  auto op = [](const std::string& name, auto f, double (*formula)(double), testing::Draw draw = normal(0, 2)) {
    Op(name, f).in({3, 5}, draw).ref([formula](const In<double>& x) { return map_unary(x[0], formula); }).check();
    Op(name + " transposed", f).in({3, 5}, draw, testing::transposed(0, 1)).check();
  };
  op("relu6", []<class T>(const In<T>& x) { return relu6(x[0] * T(4)); },
     [](double v) { return std::clamp(4 * v, 0.0, 6.0); }, away_from({0, 1.5}));
  op("gelu", []<class T>(const In<T>& x) { return gelu(x[0]); },
     [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
  op("gelu_tanh", []<class T>(const In<T>& x) { return gelu_tanh(x[0]); },
     [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); });
  op("silu", []<class T>(const In<T>& x) { return silu(x[0]); }, [](double v) { return v / (1 + std::exp(-v)); });
  op("leaky_relu 0.1", []<class T>(const In<T>& x) { return leaky_relu(x[0], T(0.1)); },
     [](double v) { return v > 0 ? v : 0.1 * v; }, away_from({0}));
  op("softplus", []<class T>(const In<T>& x) { return softplus(x[0]); }, [](double v) { return std::log1p(std::exp(v)); });
  // beta 3, threshold 2: linear where beta x > 2, a kink in the gradient at x = 2/3
  op("softplus beta 3 threshold 2", []<class T>(const In<T>& x) { return softplus(x[0], T(3), T(2)); },
     [](double v) { return 3 * v > 2 ? v : std::log1p(std::exp(3 * v)) / 3; }, away_from({0, 2.0 / 3}));
}

TEST_CASE_TEMPLATE("softmax and log_softmax over a middle dim match PyTorch", T, float, double) {
  auto x = fx<T>("softmax.x"), w = fx<T>("softmax.w");  // [2, 5, 3] with one -inf
  const double tol = fx_tol<T>();
  auto [y, dx] = value_and_grad<T>([](const Tensor<T>& t) { return softmax(t, 1); }, x, w);
  check_close(y, fx<T>("softmax.softmax.y"), tol, tol);
  check_close(dx, fx<T>("softmax.softmax.dx"), tol, tol);
  auto [ly, ldx] = value_and_grad<T>([](const Tensor<T>& t) { return log_softmax(t, -2); }, x, w);
  check_close(ly, fx<T>("softmax.log_softmax.y"), tol, tol);
  check_close(ldx, fx<T>("softmax.log_softmax.dx"), tol, tol);
}

namespace {
// The fused kernels against the composite of elementwise ops and reductions, every dim, a
// non-contiguous input, the attention-score shape [B*H*T, T].
template <typename Declare>
void softmax_cases(Declare declare) {
  for (int64_t dim : {0, 1, 2}) declare("dim " + std::to_string(dim), dim, Shape{4, 9, 7}, testing::Layout{});
  declare("scores", -1, Shape{40, 33}, testing::Layout{});
  declare("transposed", 1, Shape{33, 40}, testing::transposed(0, 1));
}
}  // namespace

TEST_CASE("softmax through the op harness: the composite's values and gradients") {
  softmax_cases([](const std::string& name, int64_t dim, Shape shape, testing::Layout layout) {
    Op("softmax " + name, [dim]<class T>(const In<T>& x) { return softmax(x[0], dim); })
        .in(shape, normal(0, 3), layout)
        .ref([dim](const In<double>& x) { return softmax_composite(x[0], dim); }, true)
        .ftol(1e-6, 1e-6)
        .check();
  });
}

TEST_CASE("log_softmax through the op harness: the composite's values and gradients") {
  softmax_cases([](const std::string& name, int64_t dim, Shape shape, testing::Layout layout) {
    Op("log_softmax " + name, [dim]<class T>(const In<T>& x) { return log_softmax(x[0], dim); })
        .in(shape, normal(0, 3), layout)
        .ref([dim](const In<double>& x) { return log(softmax_composite(x[0], dim)); }, true)
        .ftol(1e-5, 1e-5)
        .dtol(1e-11, 1e-11)
        .check();
  });
}

TEST_CASE("softmax of a row that is all -inf is 0 with zero gradient, log_softmax gives -inf") {
  const double inf = std::numeric_limits<double>::infinity();
  auto x = tensor<double>({1, 2, -inf, -inf, -inf, -inf}, {2, 3}).set_requires_grad();
  auto y = softmax(x, 1);
  double e = std::exp(1.0) + std::exp(2.0);
  testing::check_values(y, {std::exp(1.0) / e, std::exp(2.0) / e, 0, 0, 0, 0}, 1e-12);
  y.backward(tensor<double>({1, -2, 3, 4, 5, 6}, {2, 3}));
  auto gx = x.grad();
  CHECK(gx.at({1, 0}) == 0.0);
  CHECK(gx.at({1, 2}) == 0.0);
  CHECK(gx.at({0, 2}) == 0.0);
  CHECK(std::isfinite(gx.at({0, 0})));
  auto ly = log_softmax(x.detach(), 1);
  CHECK(ly.at({1, 1}) == -inf);
  CHECK(ly.at({0, 2}) == -inf);
}

TEST_CASE_TEMPLATE("linear with 3-D input matches PyTorch", T, float, double) {
  auto x = fx<T>("linear.x"), W = fx<T>("linear.weight"), b = fx<T>("linear.bias"), w = fx<T>("linear.w");
  const double tol = fx_tol<T>();
  auto xl = x.clone().set_requires_grad(), Wl = W.clone().set_requires_grad(), bl = b.clone().set_requires_grad();
  auto y = linear(xl, Wl, bl);
  CHECK(y.shape() == Shape{2, 3, 4});
  y.backward(w);
  check_close(y.detach(), fx<T>("linear.y"), tol, tol);
  check_close(xl.grad(), fx<T>("linear.dx"), tol, tol);
  check_close(Wl.grad(), fx<T>("linear.dweight"), tol, tol);
  check_close(bl.grad(), fx<T>("linear.dbias"), tol, tol);
  check_close(linear(x, W, Tensor<T>()), fx<T>("linear.y_nobias"), tol, tol);
  // non-contiguous input and weight give the same result
  auto xt = x.transpose(0, 1).contiguous().transpose(0, 1);
  CHECK(!xt.is_contiguous());
  check_close(linear(xt, W.transpose(0, 1).contiguous().transpose(0, 1), b), fx<T>("linear.y"), tol, tol);
}

TEST_CASE("linear through the op harness: layouts, no bias, 1-D input, errors") {
  const auto lin = []<class T>(const In<T>& x) { return linear(x[0], x[1], x[2]); };
  const auto lin_nobias = []<class T>(const In<T>& x) { return linear(x[0], x[1], testing::none(x)); };
  const auto composite = [](const In<double>& x) { return matmul(x[0], x[1].transpose(0, 1)) + x[2]; };
  Op("linear 3-D", lin).in({2, 3, 4}).in({5, 4}).in({5}).ref(composite, true).check();
  Op("linear no bias", lin_nobias).in({2, 3, 4}).in({5, 4}).check();
  Op("linear 3-D strided", lin).in({3, 2, 4}, normal(), testing::transposed(0, 1)).in({5, 4}).in({5}).check();
  Op("linear 2-D column-major", lin).in({6, 4}, normal(), testing::transposed(0, 1)).in({5, 4}).in({5}).check();
  Op("linear 1-D", lin).in({4}).in({5, 4}).in({5}).check();
  Op("linear transposed weight", lin).in({2, 3, 4}).in({5, 4}, normal(), testing::transposed(0, 1)).in({5}).check();
  Generator g(5);
  auto x = randn<double>({2, 3, 4}, 0, 1, g), W = randn<double>({5, 4}, 0, 1, g), b = randn<double>({5}, 0, 1, g);
  // the contiguous input is read in place (one GEMM over the [-1, in] view)
  testing::check_close(linear(x, W, b), matmul(x, W.transpose(0, 1)) + b, 1e-12);
  CHECK_THROWS_WITH_AS(linear(x, randn<double>({5, 3}), b), doctest::Contains("[2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(linear(x, W, randn<double>({4})), doctest::Contains("bias [4]"), Error);
  CHECK_THROWS_WITH_AS(linear(x, randn<double>({5, 4, 1}), b), doctest::Contains("weight"), Error);
}

TEST_CASE("dropout decides element i from 16 bits of Philox block (first counter + i / 8)") {
  Generator g(0x1234567890abcdefULL), ref(0x1234567890abcdefULL);
  g.reserve(5), ref.reserve(5);  // not starting at counter 0
  const double p = 0.37;
  auto x = ones<double>({3, 31});
  auto y = dropout(x, p, true, g);
  const uint32_t threshold = uint32_t(std::llround(p * 65536));
  const double scale = 65536.0 / (65536.0 - threshold);
  uint64_t base = ref.reserve(uint64_t((x.numel() + 7) / 8));
  CHECK(g.offset() == ref.offset());
  for (int64_t i = 0; i < x.numel(); ++i) {
    uint32_t word = ref.block(base + uint64_t(i / 8))[size_t((i % 8) / 2)];
    uint32_t bits = i % 2 == 0 ? (word & 0xffffu) : (word >> 16);
    CHECK(y.data()[i] == (bits >= threshold ? scale : 0.0));
  }
}

TEST_CASE("the CPU's vectorised Philox equals the scalar block function bit for bit") {
  using kernels::cpu::kPhiloxLanes;
  const uint64_t keys[] = {0, 1, 0x1234567890abcdefULL, ~0ULL};
  // runs of consecutive counters whose low word wraps past 2^32 (and the whole counter past
  // 2^64) inside one vector, with high words 0 and not, and scattered counters
  const uint64_t starts[] = {0, 0xfffffff5ULL, 0x00000007fffffffaULL, 0x9e3779b97f4a7c15ULL, ~0ULL - 9};
  const int64_t n = 3 * kPhiloxLanes + 5;  // whole groups and a partial one
  std::vector<uint64_t> counters(size_t(n), 0);
  Generator scatter(7);
  for (uint64_t key : keys)
    for (int pattern = 0; pattern < 6; ++pattern) {
      for (int64_t i = 0; i < n; ++i) {
        const auto w = scatter.block(uint64_t(i));
        counters[size_t(i)] = pattern < 5 ? starts[pattern] + uint64_t(i) : (uint64_t(w[0]) << 32 | w[1]) + key;
      }
      for (int64_t count : {int64_t(1), kPhiloxLanes - 1, kPhiloxLanes, n}) {
        std::vector<PhiloxBlock> blocks(size_t(count), PhiloxBlock{});
        kernels::cpu::philox4x32_10_blocks(counters.data(), count, key, blocks.data());
        for (int64_t i = 0; i < count; ++i) {
          const PhiloxBlock want = philox4x32_10(counters[size_t(i)], key);
          INFO("key " << key << ", counter " << counters[size_t(i)] << ", lane " << i % kPhiloxLanes);
          for (int w = 0; w < 4; ++w) REQUIRE(blocks[size_t(i)].w[w] == want.w[w]);
        }
      }
    }
}

// The factor of element e of a mask by the scalar rule (DropoutMask::keeps on its block).
template <typename T>
T reference_factor(const kernels::DropoutMask& mask, int64_t e, T scale) {
  constexpr int64_t per = kernels::DropoutMask::kPerBlock;
  const PhiloxBlock r = philox4x32_10(mask.base + mask.map.block(e / per, per), mask.key.seed());
  return mask.drop_all ? T(0) : scale * T(kernels::DropoutMask::keeps(r, e % per, mask.threshold));
}

TEST_CASE_TEMPLATE("dropout_factors equals the scalar rule for any run, rows of a tile, a batch shard's counters and drop_all",
                   T, float, double) {
  Generator plain(0xfeedULL), shard(0xfeedULL), all(3);
  plain.reserve(0xfffffffcULL);  // counters whose low word wraps past 2^32 within a run
  shard.set_batch_shard({1, 2, 5});
  const int64_t numel = 6 * 24 * 11;  // rows of 24 * 11 numbers: 3 segments of the shard's 2 samples
  const kernels::DropoutMask masks[] = {kernels::DropoutMask(plain, 0.37, numel),
                                        kernels::DropoutMask(shard, 0.37, numel, 6),
                                        kernels::DropoutMask(all, 1.0, numel)};
  CHECK(masks[1].map.per_sample == 24 * 11);  // a shard: counters jump between samples
  CHECK(masks[2].drop_all);
  Generator data(5);
  std::vector<T> in(size_t(numel), T(0)), f(in), applied(in);
  for (auto& x : in) x = T(data.uniform(-2, 2));
  for (const auto& mask : masks) {
    const T scale = mask.scale<T>();
    for (int64_t first : {0, 1, 7, 8, 13, 261, 1000})
      for (int64_t n : std::initializer_list<int64_t>{0, 1, 5, 8, 9, 127, 264, 1024 + 3, numel - 1000}) {
        if (first + n > numel) continue;
        INFO("map.per_sample " << mask.map.per_sample << ", drop_all " << mask.drop_all << ", elements " << first
                               << " + " << n);
        kernels::cpu::dropout_factors(mask, first, n, scale, f.data());
        kernels::cpu::dropout_factors(mask, first, n, scale, applied.data(), in.data());
        for (int64_t k = 0; k < n; ++k) {
          const T want = reference_factor(mask, first + k, scale);
          REQUIRE(f[size_t(k)] == want);
          REQUIRE(applied[size_t(k)] == in[size_t(k)] * want);
        }
      }
    // rows r < rows of n elements from first + r pitch (an attention tile's), several rows per
    // pass of Philox vectors, more rows than one pass holds, rows too long to share one
    for (int64_t n : {1, 5, 64, 68, 1100})
      for (int64_t pitch : {n, int64_t(99)}) {
        const int64_t first = 3, rows = n > 500 ? 2 : 13;
        INFO("map.per_sample " << mask.map.per_sample << ", drop_all " << mask.drop_all << ", " << rows << " rows of "
                               << n << ", pitch " << pitch);
        std::vector<T> tile(size_t(rows * n), T(-1));
        kernels::cpu::dropout_factor_rows(mask, first, pitch, rows, n, scale, tile.data());
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t k = 0; k < n; ++k)
            REQUIRE(tile[size_t(r * n + k)] == reference_factor(mask, first + r * pitch + k, scale));
      }
  }
}

// Rows {segment s, local row r} of a shard tensor are rows s * global + offset + r of the whole.
TensorD shard_rows(const TensorD& whole, int64_t segments, int64_t global, int64_t offset, int64_t local) {
  std::vector<int64_t> rows;
  for (int64_t s = 0; s < segments; ++s)
    for (int64_t r = 0; r < local; ++r) rows.push_back(s * global + offset + r);
  return index_select(whole, 0, rows);
}

TEST_CASE("a batch shard's dropout, attention dropout and normal noise are the global batch's rows, on every device") {
  // 3 segments (as the model's [query; synthetic; prompt] streams) of a global batch of 5;
  // the shard holds samples 1 and 2
  const int64_t segments = 3, global = 5, offset = 1, local = 2;
  for (Device dev : available_devices()) {
    INFO("device " << device_name(dev));
    Generator whole(99), part(99);
    part.set_batch_shard({offset, local, global});
    auto x = ones<double>({segments * global, 4, 6}, dev);
    check_close(dropout(ones<double>({segments * local, 4, 6}, dev), 0.4, true, part).cpu(),
                shard_rows(dropout(x, 0.4, true, whole).cpu(), segments, global, offset, local), 0);
    check_close(randn<double>({segments * local, 3, 2}, 0, 1, part, dev).cpu(),
                shard_rows(randn<double>({segments * global, 3, 2}, 0, 1, whole, dev).cpu(), segments, global, offset, local), 0);
    // fused attention (one segment): q, k, v [B, H, T, D] of the shard against the whole batch's
    Generator data(3);
    auto q = randn<double>({global, 2, 8, 4}, 0, 1, data), k = randn<double>({global, 2, 8, 4}, 0, 1, data),
         v = randn<double>({global, 2, 8, 4}, 0, 1, data);
    auto rows = [&](const TensorD& t) { return shard_rows(t, 1, global, offset, local).to(dev); };
    auto all = scaled_dot_product_attention(q.to(dev), k.to(dev), v.to(dev), TensorD(), 0.5, &whole);
    auto mine = scaled_dot_product_attention(rows(q), rows(k), rows(v), TensorD(), 0.5, &part);
    check_close(mine.cpu(), shard_rows(all.cpu(), 1, global, offset, local), 1e-12);
    CHECK(part.offset() == whole.offset());  // every rank's stream advances alike
    // a tensor whose rows are not whole copies of the shard cannot be keyed
    CHECK_THROWS_WITH_AS(dropout(ones<double>({3, 8}, dev), 0.4, true, part), doctest::Contains("shard of 2 of 5"), Error);
  }
  Generator plain(99), same(99);
  same.set_batch_shard({0, 4, 4});  // the whole batch: the ordinary stream
  check_close(dropout(ones<double>({4, 9}), 0.4, true, same), dropout(ones<double>({4, 9}), 0.4, true, plain), 0);
}

TEST_CASE_TEMPLATE("dropout: statistics, scaling, gradient, identity when off", T, float, double) {
  Generator g(11);
  auto x = ones<T>({200, 500});
  const double p = 0.3;
  auto xr = x.clone().set_requires_grad();
  auto y = dropout(xr, p, true, g);
  int64_t kept = 0;
  const T scale = T(1 / (1 - p));  // p is rounded to a multiple of 2^-16: scale to ~1e-5
  for (int64_t i = 0; i < y.numel(); ++i) {
    T v = y.data()[i];
    CHECK_MESSAGE((v == T(0) || std::abs(v - scale) < 1e-4), "value ", v);
    kept += v != T(0);
  }
  double frac = double(kept) / double(y.numel());
  CHECK(std::abs(frac - (1 - p)) < 0.005);  // 100k draws: sd ~ 0.0015
  CHECK(g.offset() == uint64_t((y.numel() + 7) / 8));
  // backward applies the same mask and scale
  y.backward(full<T>(y.shape(), T(2)));
  check_close(xr.grad(), map_unary(y.detach(), [](T v) { return T(2) * v; }), 1e-6, 1e-6);
  // off: the input itself
  CHECK(dropout(x, p, false, g).same_storage(x));
  CHECK(dropout(x, 0.0, true, g).same_storage(x));
  auto z = dropout(x, 1.0, true, g);
  CHECK(sum(z).item() == T(0));
  CHECK_THROWS_WITH_AS(dropout(x, 1.5, true, g), doctest::Contains("1.5"), Error);
}

TEST_CASE("dropout: same generator state, same mask, whatever the thread count and layout") {
  auto x = randn<float>({64, 300});
  int saved = num_threads();
  std::vector<TensorF> results;
  for (int threads : {1, 2, 4}) {
    set_num_threads(threads);
    Generator g(99);
    results.push_back(dropout(x, 0.25, true, g));
  }
  set_num_threads(saved);
  for (auto& r : results) testing::check_close(r, results[0], 0.0, 0.0);
  Generator g1(99), g2(99);
  // the decision of element i follows the logical (row-major) order, not the memory layout
  auto xt = x.transpose(0, 1).contiguous().transpose(0, 1);
  testing::check_close(dropout(xt, 0.25, true, g1), results[0], 0.0, 0.0);
  // a different generator state gives a different mask
  g2.reserve(1);
  auto other = dropout(x, 0.25, true, g2);
  int64_t differ = 0;
  for (int64_t i = 0; i < x.numel(); ++i) differ += other.data()[i] != results[0].data()[i];
  CHECK(differ > x.numel() / 10);
}

TEST_CASE("dropout through the op harness (a fixed mask)") {
  Op("dropout 0.4", []<class T>(const In<T>& x) {
    Generator g(7);  // the same mask in every evaluation
    return dropout(x[0], 0.4, true, g);
  }).in({4, 6}).check();
}

namespace {
// An additive attention mask: 0, and -inf at the given flat positions. Added to the scores as a
// constant input, so the finite differences never step from -inf.
testing::Draw mask_at(std::vector<int64_t> at) {
  return [at](const Shape& s, Generator&) {
    TensorD t = zeros<double>(s);
    for (int64_t i : at) t.data()[i] = -std::numeric_limits<double>::infinity();
    return t;
  };
}
}  // namespace

// Shapes that take the device kernels' other paths: a block per row (rows longer than 1024),
// length-1 rows, many rows, and -inf entries and whole -inf rows on both the row and the
// column (inner > 1) kernels.
TEST_CASE("softmax and log_softmax through the op harness: long, length-1, many and masked rows") {
  const auto sm = [](int64_t dim) { return [dim]<class T>(const In<T>& x) { return softmax(x[0], dim); }; };
  const auto lsm = [](int64_t dim) { return [dim]<class T>(const In<T>& x) { return log_softmax(x[0], dim); }; };
  Op("softmax rows of 3000", sm(-1)).in({2, 3000}, normal(0, 3)).ftol(1e-6, 1e-6).directions(4).check();
  Op("log_softmax rows of 3000", lsm(-1)).in({2, 3000}, normal(0, 3)).directions(4).check();
  Op("softmax length 1", sm(1)).in({5, 1}).check();
  Op("log_softmax length 1, inner 4", lsm(1)).in({3, 1, 4}).check();
  Op("softmax 300 rows", sm(-1)).in({300, 7}, normal(0, 3)).ftol(1e-6, 1e-6).directions(4).check();
  Op("log_softmax 300 rows", lsm(-1)).in({300, 7}, normal(0, 3)).directions(4).check();
  // row 1 of [4, 9] entirely -inf, two -inf entries in row 2
  std::vector<int64_t> masked = {20, 23};
  for (int64_t i = 9; i < 18; ++i) masked.push_back(i);
  const auto masked_sm = [](int64_t dim) {
    return [dim]<class T>(const In<T>& x) { return softmax(x[0] + x[1], dim); };
  };
  Op("softmax with a fully masked row", masked_sm(-1)).in({4, 9}, normal(0, 2)).constant({4, 9}, mask_at(masked))
      .ftol(1e-6, 1e-6).check();
  // column 2 of [6, 5] entirely -inf (softmax along dim 0: the column kernel)
  Op("softmax dim 0 with a fully masked column", masked_sm(0)).in({6, 5}, normal(0, 2))
      .constant({6, 5}, mask_at({2, 7, 12, 17, 22, 27, 1})).ftol(1e-6, 1e-6).check();
}

// log_softmax of an all -inf row is -inf (no finite differences there): every device as the CPU.
TEST_CASE_TEMPLATE("log_softmax of all -inf rows and columns on every device", T, float, double) {
  const T inf = std::numeric_limits<T>::infinity();
  auto x = tensor<T>({1, 2, -inf, -inf, -inf, -inf, 0.5, -inf, -inf}, {3, 3});  // row 1, column 2 all -inf
  auto g = tensor<T>({1, -2, 3, 4, 5, 6, -1, 0.5, 2}, {3, 3});
  for (Device dev : available_devices()) {
    if (dev == Device::CPU) continue;
    for (int64_t dim : {0, 1}) {
      for (bool log : {false, true}) {
        auto f = [&](const Tensor<T>& t) { return log ? log_softmax(t, dim) : softmax(t, dim); };
        auto [yc, dc] = value_and_grad<T>(f, x, g);
        auto [yd, dd] = value_and_grad<T>(f, x.to(dev), g.to(dev));
        CAPTURE(dim);
        CAPTURE(log);
        check_close(yd.cpu(), yc, 1e-6, 1e-6);
        check_close(dd.cpu(), dc, 1e-6, 1e-6);
      }
    }
  }
}
