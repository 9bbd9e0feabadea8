// matmul: values by hand; through the op harness: the triple loop, 1-D promotion, batch
// broadcasting, transposed and sliced operands, float against double, gradients.
#include "op_harness.hpp"

using namespace onenip;
using testing::check_close;
using testing::check_values;
using testing::normal;
using testing::Op;
using testing::strided;
using testing::Tol;
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

// ---- shapes and layouts the CUDA tiles must handle (every device; on cuda under 3 schedules) ----
// Operands whose gradient would be a batch sum are constants (or the case is forward only): the
// sum kernel is not on every backend yet, and these cases are about the GEMM.

TEST_CASE("matmul through the op harness: odd sizes, several tiles, transposes, batch broadcast") {
  using testing::broadcast;
  Op("odd 37x29 @ 29x45", mm).in({37, 29}).in({29, 45}).ref(loops).directions(8).check();
  Op("odd, 2x2 tiles: 67x19 @ 19x70", mm).in({67, 19}).in({19, 70}).ref(loops).directions(8).check();
  Op("odd, both transposed", mm).in({37, 29}, normal(), transposed(0, 1)).in({29, 45}, normal(), transposed(0, 1))
      .ref(loops).directions(8).check();
  Op("batched, A transposed [3,21,17]", mm).in({3, 21, 17}, normal(), transposed(1, 2)).in({3, 17, 23}).ref(loops)
      .directions(8).check();
  Op("batch [2,3] with B broadcast over dim 0", mm).in({2, 3, 9, 13}).constant({3, 13, 11}).ref(loops)
      .directions(8).check();
  Op("expanded batch operand, constant", mm).in({4, 7, 9}).constant({4, 9, 5}, normal(), broadcast(0)).ref(loops)
      .directions(8).check();
  Op("batch dims broadcast [2,1,5,6] @ [3,6,2], forward", mm).in({2, 1, 5, 6}).in({3, 6, 2}).ref(loops).no_grad()
      .check();
  Op("matrix @ vector, strided vector", mm).in({13, 11}).in({11}, normal(), strided(0, 3)).directions(8).check();
  Op("K = 1 (outer product)", mm).in({9, 1}).in({1, 7}).ref(loops).check();
}

TEST_CASE("linear through the op harness on every device: odd sizes, bias (constant), transposed weight") {
  const auto lin = []<class T>(const In<T>& x) { return linear(x[0], x[1], x[2]); };
  // bias: C starts from bias_row; its gradient (a column sum) is not asked for
  Op("linear [3,13,29] -> 45, constant bias", lin).in({3, 13, 29}).in({45, 29}).constant({45}).directions(8).check();
  Op("linear transposed weight, constant bias", lin).in({37, 20}).in({19, 20}, normal(), transposed(0, 1))
      .constant({19}).directions(8).check();
  Op("linear no bias", []<class T>(const In<T>& x) { return linear(x[0], x[1], testing::none(x)); })
      .in({5, 7, 33}).in({17, 33}).directions(8).check();
}

namespace {
// TF32 and BF16 round each input to p significant bits (unit roundoff u = 2^-p: 2^-11, 2^-8), so
// a product is off by at most 2u relative; K such errors of random sign add up like sqrt(K)
// (the sum itself is FP32, whose error is far smaller). With N(0, 1) inputs |a b| ~ 1: allow 4
// standard deviations of sqrt(K) 2u / sqrt(3), rounded up to 4 sqrt(K) u... times 2 for
// safety: atol = 8 u sqrt(K), and rtol 2u for the large values. K is the largest inner size
// of the forward and the two backward products (K, N and M).
Tol reduced_tol(MathPrecision p, int64_t K) {
  const double u = p == MathPrecision::TF32 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
  const Tol t{8 * u * std::sqrt(double(K)), 2 * u};
  std::printf("%s tolerance for K %lld: atol 8 u sqrt(K) = %.3g, rtol 2u = %.3g (u = %.3g)\n",
              precision_name(p), static_cast<long long>(K), t.atol, t.rtol, u);
  return t;
}
}  // namespace

TEST_CASE("matmul and linear with TF32 and BF16 tensor cores on cuda, the CPU stays exact") {
  for (MathPrecision p : {MathPrecision::TF32, MathPrecision::BF16}) {
    MatmulPrecisionGuard guard(p);  // forward and backward run inside the scope
    const std::string tag = std::string(" ") + precision_name(p);
    Tol t = reduced_tol(p, 70);
    Op("matmul" + tag + " 37x70 @ 70x45", mm).in({37, 70}).in({70, 45}).ref(loops).ftol(t.atol, t.rtol)
        .directions(4).check();
    t = reduced_tol(p, 37);
    Op("matmul" + tag + " batched, B transposed", mm).in({2, 19, 37}).in({2, 37, 23}, normal(), transposed(1, 2))
        .ref(loops).ftol(t.atol, t.rtol).directions(4).check();
    t = reduced_tol(p, 39);
    Op("linear" + tag + " constant bias", []<class T>(const In<T>& x) { return linear(x[0], x[1], x[2]); })
        .in({3, 13, 29}).in({39, 29}).constant({39}).ftol(t.atol, t.rtol).directions(4).check();
  }
}

// ---- the kernel itself, against the CPU kernel: what the ops never ask for ----
namespace {

template <typename T>
struct KernelCase {
  kernels::GemmProblem<T> p;  // pointers into the tensors below
  Tensor<T> a, b, c, bias;
};

// Runs p on `dev` with copies of the operands; returns C on the CPU.
template <typename T>
Tensor<T> run_gemm(const kernels::GemmProblem<T>& p0, const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>& c,
                   const Tensor<T>& bias, Device dev) {
  Tensor<T> da = a.to(dev), db = b.to(dev), dc = c.clone().to(dev), dbias = bias.defined() ? bias.to(dev) : bias;
  kernels::GemmProblem<T> p = p0;
  p.device = dev;
  p.a = da.data_ptr(), p.b = db.data_ptr(), p.c = dc.data_ptr(), p.bias_row = dbias.defined() ? dbias.data_ptr() : nullptr;
  kernels::gemm(p);
  return dc.cpu();
}

bool has_cuda() {
  for (Device d : available_devices())
    if (d == Device::CUDA) return true;
  return false;
}

// TF32 as cvt.rna (nearest, ties away from zero), BF16 nearest even: what the tensor cores see.
float round_input(float x, MathPrecision p) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if (p == MathPrecision::TF32) u = (u + 0x1000u) & 0xffffe000u;
  else u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

}  // namespace

TEST_CASE_TEMPLATE("gemm kernel on cuda: accumulate, bias_row, ldc, vector strides, batch strides, K = 0", T, float,
                   double) {
  if (!has_cuda()) return;
  Generator gen(7);
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  struct Geometry {
    const char* what;
    int64_t M, N, K;
    bool a_t, b_t, accumulate, bias;
    int64_t ldc_pad;
  };
  const Geometry cases[] = {
      {"accumulate, ldc padded", 37, 45, 29, false, false, true, false, 3},
      {"bias_row, A transposed", 70, 33, 18, true, false, false, true, 0},
      {"accumulate, both transposed", 19, 66, 40, true, true, true, false, 1},
      {"K = 0 with bias", 5, 7, 0, false, false, false, true, 0},
      {"K = 0 accumulate", 5, 7, 0, false, false, true, false, 0},
  };
  for (const auto& g : cases) {
    CAPTURE(g.what);
    // A stored [K, M] and read transposed when a_t (a_rs 1, a_cs M); likewise B.
    Tensor<T> a = cast<T>(randn<double>(g.a_t ? Shape{g.K, g.M} : Shape{g.M, g.K}, 0.0, 1.0, gen));
    Tensor<T> b = cast<T>(randn<double>(g.b_t ? Shape{g.N, g.K} : Shape{g.K, g.N}, 0.0, 1.0, gen));
    Tensor<T> c = cast<T>(randn<double>({g.M, g.N + g.ldc_pad}, 0.0, 1.0, gen));
    Tensor<T> bias = g.bias ? cast<T>(randn<double>({g.N}, 0.0, 1.0, gen)) : Tensor<T>();
    kernels::GemmProblem<T> p;
    p.M = g.M, p.N = g.N, p.K = g.K;
    p.a_rs = g.a_t ? 1 : g.K, p.a_cs = g.a_t ? g.M : 1;
    p.b_rs = g.b_t ? 1 : g.N, p.b_cs = g.b_t ? g.K : 1;
    p.ldc = g.N + g.ldc_pad, p.accumulate = g.accumulate;
    Tensor<T> want = run_gemm(p, a, b, c, bias, Device::CPU), got = run_gemm(p, a, b, c, bias, Device::CUDA);
    check_close(got, want, tol, tol);  // the padding columns too: untouched
  }
  {
    // A a row with stride 5 (a vector: any stride), B a column with stride 3, batched over
    // [2, 3] with A broadcast along dim 1, C with a batch stride larger than M N.
    const int64_t K = 23;
    Tensor<T> a = cast<T>(randn<double>({2, K * 5}, 0.0, 1.0, gen));
    Tensor<T> b = cast<T>(randn<double>({3, K * 3}, 0.0, 1.0, gen));
    Tensor<T> c = cast<T>(randn<double>({6, 4}, 0.0, 1.0, gen));
    kernels::GemmProblem<T> p;
    p.M = 1, p.N = 1, p.K = K;
    p.a_rs = 7, p.a_cs = 5, p.b_rs = 3, p.b_cs = 11, p.ldc = 1;
    p.batch = {2, 3}, p.a_batch_strides = {K * 5, 0}, p.b_batch_strides = {0, K * 3}, p.c_batch_stride = 4;
    check_close(run_gemm(p, a, b, c, Tensor<T>(), Device::CUDA), run_gemm(p, a, b, c, Tensor<T>(), Device::CPU), tol,
                tol);
  }
}

// The CPU's float GEMM (kernels/cpu/gemm_packed.hpp where the build has AVX-512) against
// a double triple loop: sizes one past and one short of its tiles (6 rows, 4 vectors of columns)
// and blocks (KC 256, MC 768 packed or 3072 for a row-major A read in place, NC 512), every
// operand layout, accumulate, bias, a padded ldc; then the same bits on 1 and 2 threads and inside
// a parallel region (where it runs single-threaded).
TEST_CASE("gemm kernel on the CPU: float tiles and blocks, layouts, accumulate, bias, threads") {
  namespace packed = kernels::cpu::packed;
  MESSAGE(std::string(packed::kAvailable ? "float GEMM: packed kernel" : "float GEMM: Eigen (no AVX-512 in this build)"));
  Generator gen(11);
  struct Geometry {
    const char* what;
    int64_t M, N, K;
    bool a_t, b_t, accumulate, bias;
    int64_t ldc_pad;
  };
  const int64_t nr = packed::kNR;
  const Geometry cases[] = {
      {"one tile short and past", 7, nr + 1, 9, false, false, false, false, 0},
      {"M past MC, K past KC, accumulate", 770, 2 * nr - 1, 257, false, false, true, false, 5},
      {"N past NC, A transposed, bias", 13, 513, 40, true, false, false, true, 0},
      {"both transposed, two K blocks", 31, 45, 300, true, true, false, false, 2},
      {"B transposed, bias (which replaces C)", 50, 3 * nr, 64, false, true, false, true, 0},
      {"few rows, many columns", 4, 700, 33, false, false, false, false, 0},
      {"A transposed, M past MC, a row tail", 771, 40, 70, true, false, true, false, 0},
      {"A read in place past its row block (3072), bias, a row tail", 3079, nr + 3, 20, false, false, false, true, 1},
      {"A in place, B transposed, bias, fewer rows than a tile", 5, 2 * nr + 7, 300, false, true, false, true, 0},
      {"a few rows read in place, threads split the columns", 200, 4 * nr + 5, 40, false, true, false, true, 0},
      {"B transposed: a panel of whole and partial vectors, a k tail", 37, nr + 20, 47, false, true, true, false, 3},
      {"rows in two or more shares, a K blocked by Eigen", 2 * 96 + 13, 50, 600, false, false, false, false, 0},
      {"few rows, columns in shares, both transposed, bias", 40, 2 * 96 + 7, 300, true, true, false, true, 0},
      {"A transposed, read in place: whole row panels, three K blocks, columns in shares", 24, 4 * nr + 5, 600, true,
       false, true, false, 0},
  };
  for (const auto& g : cases) {
    CAPTURE(std::string(g.what));
    TensorD a64 = randn<double>(g.a_t ? Shape{g.K, g.M} : Shape{g.M, g.K}, 0.0, 1.0, gen);
    TensorD b64 = randn<double>(g.b_t ? Shape{g.N, g.K} : Shape{g.K, g.N}, 0.0, 1.0, gen);
    TensorD c64 = randn<double>({g.M, g.N + g.ldc_pad}, 0.0, 1.0, gen);
    TensorD bias64 = g.bias ? randn<double>({g.N}, 0.0, 1.0, gen) : TensorD();
    // The double reference from the float values, so only the float sums differ.
    a64 = cast<double>(cast<float>(a64)), b64 = cast<double>(cast<float>(b64)), c64 = cast<double>(cast<float>(c64));
    if (g.bias) bias64 = cast<double>(cast<float>(bias64));
    TensorD want = c64.clone();
    for (int64_t i = 0; i < g.M; ++i)
      for (int64_t j = 0; j < g.N; ++j) {
        double s = g.accumulate ? want.at({i, j}) : 0.0;
        if (g.bias) s += bias64.at({j});
        for (int64_t k = 0; k < g.K; ++k)
          s += (g.a_t ? a64.at({k, i}) : a64.at({i, k})) * (g.b_t ? b64.at({j, k}) : b64.at({k, j}));
        want.at_ref({i, j}) = s;
      }
    kernels::GemmProblem<float> p;
    p.M = g.M, p.N = g.N, p.K = g.K;
    p.a_rs = g.a_t ? 1 : g.K, p.a_cs = g.a_t ? g.M : 1;
    p.b_rs = g.b_t ? 1 : g.N, p.b_cs = g.b_t ? g.K : 1;
    p.ldc = g.N + g.ldc_pad, p.accumulate = g.accumulate;
    TensorF a = cast<float>(a64), b = cast<float>(b64), c = cast<float>(c64), bias = g.bias ? cast<float>(bias64) : TensorF();
    const int saved = num_threads();
    set_num_threads(1);
    TensorF one = run_gemm(p, a, b, c, bias, Device::CPU);
    set_num_threads(2);
    TensorF two = run_gemm(p, a, b, c, bias, Device::CPU);
    TensorF nested;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
      nested = run_gemm(p, a, b, c, bias, Device::CPU);
    }
    set_num_threads(saved);
    const double tol = 1e-6 * double(std::max<int64_t>(g.K, 1));
    check_close(cast<double>(one), want, tol, 1e-5);  // the padding columns too: untouched
    check_close(two, one, 0.0, 0.0);
    check_close(nested, one, 0.0, 0.0);
  }
  if constexpr (packed::kAvailable) {  // pre-packed A with no rows (a conv with no outputs): a no-op
    const float b[4] = {1, 2, 3, 4};
    float c[2] = {7, 8};
    packed::gemm_serial(packed::PackedA(b, 2, 1, 0, 2), 2, b, 2, 1, c, 2, false);
    CHECK((c[0] == 7 && c[1] == 8));
  }
}

// Double products (and every float product on targets without AVX-512) run on Eigen, which the
// GEMM splits over the threads itself: the bits must not depend on the thread count either.
TEST_CASE("gemm kernel on the CPU: Eigen's products give the same bits on 1 and 2 threads") {
  Generator gen(12);
  struct Geometry {
    int64_t M, N, K;
  };
  for (const auto& g : {Geometry{31, 45, 300}, Geometry{2 * 96 + 13, 50, 600}, Geometry{40, 2 * 96 + 7, 300}}) {
    CAPTURE(g.M);
    CAPTURE(g.N);
    CAPTURE(g.K);
    TensorD a = randn<double>({g.M, g.K}, 0.0, 1.0, gen), b = randn<double>({g.N, g.K}, 0.0, 1.0, gen);
    TensorD c = zeros<double>({g.M, g.N});
    kernels::GemmProblem<double> p;
    p.M = g.M, p.N = g.N, p.K = g.K, p.a_rs = g.K, p.a_cs = 1, p.b_rs = 1, p.b_cs = g.K, p.ldc = g.N;
    const int saved = num_threads();
    set_num_threads(1);
    TensorD one = run_gemm(p, a, b, c, TensorD(), Device::CPU);
    set_num_threads(2);
    TensorD two = run_gemm(p, a, b, c, TensorD(), Device::CPU);
    set_num_threads(saved);
    check_close(two, one, 0.0, 0.0);
  }
}

TEST_CASE("gemm kernel on cuda: TF32 and BF16 round the inputs like the hardware and sum in FP32") {
  if (!has_cuda()) return;
  Generator gen(11);
  const int64_t M = 35, N = 41, K = 50;
  TensorF a = cast<float>(randn<double>({M, K}, 0.0, 1.0, gen)), b = cast<float>(randn<double>({K, N}, 0.0, 1.0, gen));
  for (MathPrecision prec : {MathPrecision::TF32, MathPrecision::BF16}) {
    CAPTURE(precision_name(prec));
    kernels::GemmProblem<float> p;
    p.M = M, p.N = N, p.K = K, p.a_rs = K, p.b_rs = N, p.ldc = N, p.precision = prec;
    TensorF c = zeros<float>({M, N});
    TensorF got = run_gemm(p, a, b, c, TensorF(), Device::CUDA);
    TensorF cpu = run_gemm(p, a, b, c, TensorF(), Device::CPU);
    // The products of rounded inputs in double; the only error left is the FP32 sum, at most
    // K 2^-24 sum_k |a_k b_k| when rounded to nearest; twice that allows the hardware's
    // truncating adds.
    int64_t differs = 0;
    double worst = 0;
    bool ok = true;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double x = round_input(a.data()[i * K + k], prec), y = round_input(b.data()[k * N + j], prec);
          s += x * y, mag += std::abs(x * y);
        }
        const double g = got.data()[i * N + j], err = std::abs(g - s);
        worst = std::max(worst, err / mag);
        ok &= err <= 2 * double(K) * std::ldexp(1.0, -24) * mag;
        differs += g != cpu.data()[i * N + j];
      }
    std::printf("gemm %s on cuda vs rounded-input reference: worst error %.2e of sum |a b| (bound 2 K 2^-24 = %.2e); "
                "%lld of %lld elements differ from exact FP32\n",
                precision_name(prec), worst, 2 * double(K) * std::ldexp(1.0, -24), static_cast<long long>(differs),
                static_cast<long long>(M * N));
    CHECK(ok);
    CHECK(differs > M * N / 2);  // the reduced path really ran
  }
}
