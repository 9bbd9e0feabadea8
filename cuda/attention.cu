// Fused scaled dot-product attention on CUDA, flash style (kernels/problems/attention.hpp):
// softmax(scale Q Kᵀ + mask) V with dropout on the weights, forward and backward, with no
// Tq x Tk matrix in global memory. Shapes: q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv].
//
// Every block works on tiles staged in shared memory; each matrix product of a tile goes
// through one routine of the block's Math (below), so one kernel source serves both paths:
//   - ExactMath<T> (float, double): each product element summed by one thread, in k order;
//   - TensorCoreMath<P> (float with MathPrecision TF32 or BF16): operands rounded once when
//     staged, 16x16 tiles on tensor cores (cuda/mma.cuh) summed in FP32; head dims padded with
//     zeros to multiples of 16, so any D works.
// Head dims 32, 64 and 128 (D == Dv) are compiled with the dims as constants; any other D, Dv
// runs the same code with run-time dims. Tiles are 32 or 16 rows, chosen to fit shared memory.
//
// Forward: a block per (b, h, query tile) streams over key tiles with an online softmax
// (running row max m and sum l; the output rescaled when m grows), as the CPU kernel does;
// it writes out and the row logsumexp (lse; +inf when every key is masked: out 0).
// Backward recomputes P = exp(S - lse) per tile, with Drow = rowsum(dO * O) precomputed:
//   dV += Pdᵀ dO, dP = dO Vᵀ (times the dropout factors), dS = P (dP - Drow),
//   dK += scale dSᵀ Q  (a block per key tile, looping over query tiles), and
//   dQ += scale dS K   (a block per query tile, looping over key tiles).
// Every output element is summed by one thread in a fixed order: no atomics, deterministic.
// Dropout decisions are those of DropoutMask (element (bh, i, j) at (bh Tq + i) Tk + j), so
// the CPU and CUDA kernels drop the same weights.
#include <limits>
#include <string>
#include <type_traits>

#include "mma.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/attention.hpp"
#include "runtime.cuh"

namespace onenip::kernels {

namespace cuda_attention {

namespace mma = ::onenip::cuda::mma;

constexpr int kThreads = 128;  // 4 warps
constexpr size_t kSharedBudget = 96 * 1024, kSharedMax = 160 * 1024;

// ---- the two ways to multiply tiles: C[M][N] = A[M][K] B[K][N], row-major in shared memory ----
template <typename T>
struct ExactMath {
  using In = T;
  static constexpr int kPad = 1;  // dims need no padding
  static __device__ __forceinline__ In to_in(T x) { return x; }
  static __device__ __forceinline__ void product(T* c, int ldc, const In* a, int lda, const In* b, int ldb, int M,
                                                 int N, int K) {
    for (int e = int(threadIdx.x); e < M * N; e += int(blockDim.x)) {
      const int i = e / N, j = e % N;
      T s = T(0);
      for (int k = 0; k < K; ++k) s += a[i * lda + k] * b[k * ldb + j];
      c[i * ldc + j] = s;
    }
  }
};

template <mma::Precision P>
struct TensorCoreMath {
  using In = mma::input_t<P>;
  static constexpr int kPad = 16;  // M, N, K multiples of 16
  static __device__ __forceinline__ In to_in(float x) { return mma::to_input<P>(x); }
  // Warps take the 16x16 tiles of C in turn (warp-uniform loops: the mma calls are collectives).
  static __device__ __forceinline__ void product(float* c, int ldc, const In* a, int lda, const In* b, int ldb, int M,
                                                 int N, int K) {
    const int warp = int(threadIdx.x) / 32, warps = int(blockDim.x) / 32, tiles_n = N / 16;
    for (int t = warp; t < (M / 16) * tiles_n; t += warps) {
      const int i0 = (t / tiles_n) * 16, j0 = (t % tiles_n) * 16;
      typename mma::Tile<P>::C acc;
      mma::fill(acc, 0.f);
      for (int k = 0; k < K; k += mma::kK<P>) {
        typename mma::Tile<P>::A fa;
        typename mma::Tile<P>::B fb;
        mma::load_a<P>(fa, a + i0 * lda + k, lda);
        mma::load_b<P>(fb, b + k * ldb + j0, ldb);
        mma::mma<P>(acc, fa, fb);
      }
      mma::store(c + i0 * ldc + j0, acc, ldc);
    }
  }
};

// ---- the problem as the kernels read it (by value) ----
template <typename T>
struct Args {
  int64_t B = 0, H = 0, Tq = 0, Tk = 0;
  int D = 0, Dv = 0, bq = 32, bk = 32;  // head dims; rows of a query and of a key tile
  T scale = 1;
  AttnOperand<T> q, k, v;
  const T* mask = nullptr;
  int64_t mb = 0, mh = 0, mi = 0, mj = 0;
  bool dropout = false, drop_all = false;
  uint64_t seed = 0, base = 0;
  SampleMap map;  // counter of block i: base + map.block(i, 8)
  uint32_t threshold = 0;
  T drop_scale = 1;
  AttnResult<T> out;
  T* lse = nullptr;
  AttnOperand<T> grad_out;
  const T* drow = nullptr;  // rowsum(dO * O) [B H Tq]
  AttnResult<T> dq, dk, dv;
};

__host__ __device__ __forceinline__ int round_up(int x, int m) { return (x + m - 1) / m * m; }

// The dims of a launch: D, Dv, their padded sizes, the tile rows. kD > 0: D = Dv = kD, known
// at compile time.
template <int kD, int kPad>
struct Dims {
  int D, Dv, Dp, Dvp, bq, bk;
  template <typename A>
  __host__ __device__ Dims(const A& a)
      : D(kD > 0 ? kD : a.D), Dv(kD > 0 ? kD : a.Dv), Dp(round_up(D, kPad)), Dvp(round_up(Dv, kPad)), bq(a.bq),
        bk(a.bk) {}
};

// Hands out pieces of dynamic shared memory, each 32-byte aligned (as wmma wants); with a null
// base it only counts the bytes (the host sizes a launch with the same code).
struct Carve {
  char* base;
  size_t used = 0;
  template <typename U>
  __host__ __device__ U* take(int rows, int ld) {
    used = (used + 31) / 32 * 32;
    U* p = base ? reinterpret_cast<U*>(base + used) : nullptr;
    used += size_t(rows) * size_t(ld) * sizeof(U);
    return p;
  }
};
// Row pitch of a shared tile of `cols` U: 16 bytes over, so rows start on different banks and
// stay 16-byte multiples.
template <typename U>
__host__ __device__ __forceinline__ int pitch(int cols) { return cols + 16 / int(sizeof(U)); }

// A shared matrix: pointer and row pitch.
template <typename U>
struct Tile {
  U* p = nullptr;
  int ld = 0;
  __host__ __device__ void take(Carve& c, int rows, int cols) { ld = pitch<U>(cols), p = c.take<U>(rows, ld); }
  __device__ U& operator()(int r, int c) const { return p[r * ld + c]; }
};

// Whole-tile element loops of the block (rows x cols of a tile).
template <typename T>
__device__ __forceinline__ void zero_tile(Tile<T> t, int rows, int cols) {
  for (int e = int(threadIdx.x); e < rows * cols; e += int(blockDim.x)) t(e / cols, e % cols) = T(0);
}
// acc += factor c.
template <typename T>
__device__ __forceinline__ void add_tile(Tile<T> acc, Tile<T> c, T factor, int rows, int cols) {
  for (int e = int(threadIdx.x); e < rows * cols; e += int(blockDim.x)) acc(e / cols, e % cols) += factor * c(e / cols, e % cols);
}
// The first `rows` rows of t to x[b, h, t0 + r, :cols].
template <typename T>
__device__ __forceinline__ void write_tile(const AttnResult<T>& x, int64_t bh, int64_t H, int64_t t0, Tile<T> t,
                                           int rows, int cols) {
  T* base = x.p + (bh / H) * x.sb + (bh % H) * x.sh + t0 * x.st;
  for (int e = int(threadIdx.x); e < rows * cols; e += int(blockDim.x))
    base[(e / cols) * x.st + e % cols] = t(e / cols, e % cols);
}

// x[b, h, t0 + r, c] into dst (r, c) (or (c, r) when Transposed) for r < rows, c < cols, as
// Math::In; zeros beyond the valid rows and cols, up to the padded ones.
template <bool Transposed, typename M, typename T>
__device__ __forceinline__ void stage(Tile<typename M::In> dst, const AttnOperand<T>& x, int64_t b, int64_t h,
                                      int64_t t0, int valid_rows, int rows, int valid_cols, int cols) {
  const T* base = x.p + b * x.sb + h * x.sh + t0 * x.st;
  for (int e = int(threadIdx.x); e < rows * cols; e += int(blockDim.x)) {
    const int r = e / cols, c = e % cols;  // c fastest: the global reads coalesce
    const T v = r < valid_rows && c < valid_cols ? base[r * x.st + c] : T(0);
    (Transposed ? dst(c, r) : dst(r, c)) = M::to_in(v);
  }
}

// S (r, c) = scale S + mask for element (i0 + r, j0 + c); -inf past the valid rows or keys.
template <typename T>
__device__ __forceinline__ void scores(const Args<T>& a, Tile<T> s, int64_t b, int64_t h, int64_t i0, int64_t j0,
                                       int valid_rows, int valid_cols, int rows, int cols) {
  for (int e = int(threadIdx.x); e < rows * cols; e += int(blockDim.x)) {
    const int r = e / cols, c = e % cols;
    T v = -std::numeric_limits<T>::infinity();
    if (r < valid_rows && c < valid_cols) {
      v = a.scale * s(r, c);
      if (a.mask) v += a.mask[b * a.mb + h * a.mh + (i0 + r) * a.mi + (j0 + c) * a.mj];
    }
    s(r, c) = v;
  }
}

// The dropout factors of consecutive elements of one row of the weights, in order: a Philox
// block is drawn once for its 8 decisions (DropoutMask's rule).
template <typename T>
struct DropoutRow {
  const Args<T>& a;
  int64_t first;
  int64_t block = -1;
  PhiloxBlock r{};
  __device__ DropoutRow(const Args<T>& args, int64_t bh, int64_t i, int64_t j0)
      : a(args), first((bh * args.Tq + i) * args.Tk + j0) {}
  __device__ T factor(int c) {
    if (!a.dropout) return T(1);
    if (a.drop_all) return T(0);
    const int64_t e = first + c;
    if (e / DropoutMask::kPerBlock != block) {
      block = e / DropoutMask::kPerBlock;
      r = philox4x32_10(a.base + a.map.block(block, DropoutMask::kPerBlock), a.seed);
    }
    return a.drop_scale * T(DropoutMask::keeps(r, e % DropoutMask::kPerBlock, a.threshold));
  }
};

template <typename T>
__device__ __forceinline__ T exp_or_zero(T s, T shift) {
  return s == -std::numeric_limits<T>::infinity() ? T(0) : std::exp(s - shift);
}

// ---------------------------------------------------------------- forward
template <typename M, typename T>
struct ForwardSmem {
  Tile<typename M::In> q, kt, v, p;  // Q [bq, Dp], Kᵀ [Dp, bk], V [bk, Dvp], P [bq, bk]
  Tile<T> s, pv, o;                   // S [bq, bk], P V [bq, Dvp], the output [bq, Dv]
  T *m, *l, *corr;                    // per row: running max, sum, this tile's rescale
  size_t bytes;
  template <typename Dm>
  __host__ __device__ ForwardSmem(char* base, const Dm& d) {
    Carve c{base};
    q.take(c, d.bq, d.Dp), kt.take(c, d.Dp, d.bk), v.take(c, d.bk, d.Dvp), p.take(c, d.bq, d.bk);
    s.take(c, d.bq, d.bk), pv.take(c, d.bq, d.Dvp), o.take(c, d.bq, d.Dv);
    m = c.take<T>(1, d.bq), l = c.take<T>(1, d.bq), corr = c.take<T>(1, d.bq);
    bytes = c.used;
  }
};

template <typename M, int kD, typename T>
__global__ void __launch_bounds__(kThreads) attention_forward_kernel(Args<T> a) {
  ONENIP_DYNAMIC_SHARED(char, smem);
  const Dims<kD, M::kPad> d(a);
  const ForwardSmem<M, T> sm(smem, d);
  const T inf = std::numeric_limits<T>::infinity();
  const int tid = int(threadIdx.x);
  const int64_t i0 = int64_t(blockIdx.x) * d.bq;
  const int rq = int(simt::min_of<int64_t>(d.bq, a.Tq - i0));
  for (int64_t bh = blockIdx.y; bh < a.B * a.H; bh += gridDim.y) {
    const int64_t b = bh / a.H, h = bh % a.H;
    stage<false, M>(sm.q, a.q, b, h, i0, rq, d.bq, d.D, d.Dp);
    zero_tile(sm.o, d.bq, d.Dv);
    for (int r = tid; r < d.bq; r += kThreads) sm.m[r] = -inf, sm.l[r] = T(0);
    for (int64_t j0 = 0; j0 < a.Tk; j0 += d.bk) {
      const int rk = int(simt::min_of<int64_t>(d.bk, a.Tk - j0));
      stage<true, M>(sm.kt, a.k, b, h, j0, rk, d.bk, d.D, d.Dp);
      stage<false, M>(sm.v, a.v, b, h, j0, rk, d.bk, d.Dv, d.Dvp);
      __syncthreads();
      M::product(sm.s.p, sm.s.ld, sm.q.p, sm.q.ld, sm.kt.p, sm.kt.ld, d.bq, d.bk, d.Dp);
      __syncthreads();
      scores(a, sm.s, b, h, i0, j0, rq, rk, d.bq, d.bk);
      __syncthreads();
      // Online softmax, a thread per row: weights relative to the running max (l sums them
      // before dropout, as the CPU kernel does); earlier output rescaled by corr.
      for (int r = tid; r < d.bq; r += kThreads) {
        T m_new = sm.m[r];
        for (int c = 0; c < d.bk; ++c) m_new = simt::max_of(m_new, sm.s(r, c));
        DropoutRow<T> drop(a, bh, i0 + r, j0);
        T sum = T(0);
        for (int c = 0; c < d.bk; ++c) {
          const T w = m_new == -inf ? T(0) : exp_or_zero(sm.s(r, c), m_new);
          sum += w;
          sm.p(r, c) = M::to_in(w == T(0) ? w : w * drop.factor(c));
        }
        const T corr = sm.m[r] == -inf ? T(0) : std::exp(sm.m[r] - m_new);
        if (m_new != -inf) sm.l[r] = sm.l[r] * corr + sum, sm.m[r] = m_new;
        sm.corr[r] = m_new == -inf ? T(1) : corr;
      }
      __syncthreads();
      M::product(sm.pv.p, sm.pv.ld, sm.p.p, sm.p.ld, sm.v.p, sm.v.ld, d.bq, d.Dvp, d.bk);
      __syncthreads();
      for (int e = tid; e < d.bq * d.Dv; e += kThreads) {
        const int r = e / d.Dv, c = e % d.Dv;
        sm.o(r, c) = sm.o(r, c) * sm.corr[r] + sm.pv(r, c);
      }
      // The next writes of pv and corr come after two barriers: no barrier needed here.
    }
    __syncthreads();
    T* out = a.out.p + b * a.out.sb + h * a.out.sh + i0 * a.out.st;
    for (int e = tid; e < rq * d.Dv; e += kThreads) {
      const int r = e / d.Dv, c = e % d.Dv;
      out[r * a.out.st + c] = sm.l[r] > T(0) ? sm.o(r, c) / sm.l[r] : T(0);
    }
    for (int r = tid; r < rq; r += kThreads)
      a.lse[bh * a.Tq + i0 + r] = sm.l[r] > T(0) ? sm.m[r] + std::log(sm.l[r]) : inf;
    __syncthreads();  // shared memory is staged again for the next (b, h)
  }
}

// ---------------------------------------------------------------- backward
// Drow [B H Tq] = rowsum(dO * O): the softmax backward's correction (dropout included).
template <typename T>
__global__ void attention_drow_kernel(AttnOperand<T> grad_out, AttnResult<T> out, T* drow, int64_t H, int64_t Tq,
                                      int64_t rows, int Dv) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += step) {
    const int64_t bh = r / Tq, b = bh / H, h = bh % H, i = r % Tq;
    const T* go = grad_out.p + b * grad_out.sb + h * grad_out.sh + i * grad_out.st;
    const T* o = out.p + b * out.sb + h * out.sh + i * out.st;
    T s = T(0);
    for (int c = 0; c < Dv; ++c) s += go[c] * o[c];
    drow[r] = s;
  }
}

// What both backward kernels stage and compute for one (query tile, key tile) pair.
template <typename M, typename T>
struct BackwardTile {
  Tile<typename M::In> q, go, kt, vt;  // Q [bq, Dp], dO [bq, Dvp], Kᵀ [Dp, bk], Vᵀ [Dvp, bk]
  Tile<T> s, dp;                        // S and dP [bq, bk]
  T *lse, *drow;                        // [bq]
  template <typename Dm>
  __host__ __device__ void take(Carve& c, const Dm& d) {
    q.take(c, d.bq, d.Dp), go.take(c, d.bq, d.Dvp), kt.take(c, d.Dp, d.bk), vt.take(c, d.Dvp, d.bk);
    s.take(c, d.bq, d.bk), dp.take(c, d.bq, d.bk);
    lse = c.take<T>(1, d.bq), drow = c.take<T>(1, d.bq);
  }

  template <typename Dm>
  __device__ void stage_queries(const Args<T>& a, const Dm& d, int64_t bh, int64_t i0, int rq) const {
    const int64_t b = bh / a.H, h = bh % a.H;
    stage<false, M>(q, a.q, b, h, i0, rq, d.bq, d.D, d.Dp);
    stage<false, M>(go, a.grad_out, b, h, i0, rq, d.bq, d.Dv, d.Dvp);
    for (int r = int(threadIdx.x); r < d.bq; r += int(blockDim.x)) {
      lse[r] = r < rq ? a.lse[bh * a.Tq + i0 + r] : std::numeric_limits<T>::infinity();
      drow[r] = r < rq ? a.drow[bh * a.Tq + i0 + r] : T(0);
    }
  }
  template <typename Dm>
  __device__ void stage_keys(const Args<T>& a, const Dm& d, int64_t bh, int64_t j0, int rk) const {
    const int64_t b = bh / a.H, h = bh % a.H;
    stage<true, M>(kt, a.k, b, h, j0, rk, d.bk, d.D, d.Dp);
    stage<true, M>(vt, a.v, b, h, j0, rk, d.bk, d.Dv, d.Dvp);
  }

  // With both staged (and a barrier passed): writes Pd (the dropped weights; unless null) and
  // dS = P (dP f - Drow) at (r, c) of each, as In, through (row, col) strides.
  template <typename Dm>
  __device__ void gradients(const Args<T>& a, const Dm& d, int64_t bh, int64_t i0, int64_t j0, int rq, int rk,
                            typename M::In* pd, int pd_rs, int pd_cs, typename M::In* ds, int ds_rs, int ds_cs) const {
    M::product(s.p, s.ld, q.p, q.ld, kt.p, kt.ld, d.bq, d.bk, d.Dp);
    M::product(dp.p, dp.ld, go.p, go.ld, vt.p, vt.ld, d.bq, d.bk, d.Dvp);
    __syncthreads();
    scores(a, s, bh / a.H, bh % a.H, i0, j0, rq, rk, d.bq, d.bk);
    __syncthreads();
    for (int r = int(threadIdx.x); r < d.bq; r += int(blockDim.x)) {
      DropoutRow<T> drop(a, bh, i0 + r, j0);
      const bool dead = lse[r] == std::numeric_limits<T>::infinity();  // every key masked
      for (int c = 0; c < d.bk; ++c) {
        const T p = dead ? T(0) : exp_or_zero(s(r, c), lse[r]);
        const T f = p == T(0) ? T(0) : drop.factor(c);
        if (pd) pd[r * pd_rs + c * pd_cs] = M::to_in(p * f);
        ds[r * ds_rs + c * ds_cs] = M::to_in(p * (dp(r, c) * f - drow[r]));
      }
    }
    __syncthreads();
  }
};

// dK, dV: a block per (b, h, key tile), over every query tile.
template <typename M, typename T>
struct KeyGradSmem {
  BackwardTile<M, T> t;
  Tile<typename M::In> pdt, dst;  // Pdᵀ and dSᵀ [bk, bq]
  Tile<T> c, dk, dv;              // a product [bk, max(Dp, Dvp)]; dK [bk, D], dV [bk, Dv]
  size_t bytes;
  template <typename Dm>
  __host__ __device__ KeyGradSmem(char* base, const Dm& d) {
    Carve cv{base};
    t.take(cv, d);
    pdt.take(cv, d.bk, d.bq), dst.take(cv, d.bk, d.bq);
    c.take(cv, d.bk, d.Dp > d.Dvp ? d.Dp : d.Dvp), dk.take(cv, d.bk, d.D), dv.take(cv, d.bk, d.Dv);
    bytes = cv.used;
  }
};

template <typename M, int kD, typename T>
__global__ void __launch_bounds__(kThreads) attention_key_grad_kernel(Args<T> a) {
  ONENIP_DYNAMIC_SHARED(char, smem);
  const Dims<kD, M::kPad> d(a);
  const KeyGradSmem<M, T> sm(smem, d);
  const int64_t j0 = int64_t(blockIdx.x) * d.bk;
  const int rk = int(simt::min_of<int64_t>(d.bk, a.Tk - j0));
  for (int64_t bh = blockIdx.y; bh < a.B * a.H; bh += gridDim.y) {
    sm.t.stage_keys(a, d, bh, j0, rk);
    zero_tile(sm.dk, d.bk, d.D), zero_tile(sm.dv, d.bk, d.Dv);
    for (int64_t i0 = 0; i0 < a.Tq; i0 += d.bq) {
      const int rq = int(simt::min_of<int64_t>(d.bq, a.Tq - i0));
      sm.t.stage_queries(a, d, bh, i0, rq);
      __syncthreads();
      sm.t.gradients(a, d, bh, i0, j0, rq, rk, sm.pdt.p, 1, sm.pdt.ld, sm.dst.p, 1, sm.dst.ld);
      M::product(sm.c.p, sm.c.ld, sm.pdt.p, sm.pdt.ld, sm.t.go.p, sm.t.go.ld, d.bk, d.Dvp, d.bq);
      __syncthreads();
      add_tile(sm.dv, sm.c, T(1), d.bk, d.Dv);
      __syncthreads();
      M::product(sm.c.p, sm.c.ld, sm.dst.p, sm.dst.ld, sm.t.q.p, sm.t.q.ld, d.bk, d.Dp, d.bq);
      __syncthreads();
      add_tile(sm.dk, sm.c, a.scale, d.bk, d.D);
      __syncthreads();
    }
    write_tile(a.dk, bh, a.H, j0, sm.dk, rk, d.D);
    write_tile(a.dv, bh, a.H, j0, sm.dv, rk, d.Dv);
    __syncthreads();
  }
}

// dQ: a block per (b, h, query tile), over every key tile.
template <typename M, typename T>
struct QueryGradSmem {
  BackwardTile<M, T> t;
  Tile<typename M::In> k, ds;  // K [bk, Dp], dS [bq, bk]
  Tile<T> c, dq;               // dS K [bq, Dp], dQ [bq, D]
  size_t bytes;
  template <typename Dm>
  __host__ __device__ QueryGradSmem(char* base, const Dm& d) {
    Carve cv{base};
    t.take(cv, d);
    k.take(cv, d.bk, d.Dp), ds.take(cv, d.bq, d.bk);
    c.take(cv, d.bq, d.Dp), dq.take(cv, d.bq, d.D);
    bytes = cv.used;
  }
};

template <typename M, int kD, typename T>
__global__ void __launch_bounds__(kThreads) attention_query_grad_kernel(Args<T> a) {
  ONENIP_DYNAMIC_SHARED(char, smem);
  const Dims<kD, M::kPad> d(a);
  const QueryGradSmem<M, T> sm(smem, d);
  const int64_t i0 = int64_t(blockIdx.x) * d.bq;
  const int rq = int(simt::min_of<int64_t>(d.bq, a.Tq - i0));
  for (int64_t bh = blockIdx.y; bh < a.B * a.H; bh += gridDim.y) {
    sm.t.stage_queries(a, d, bh, i0, rq);
    zero_tile(sm.dq, d.bq, d.D);
    for (int64_t j0 = 0; j0 < a.Tk; j0 += d.bk) {
      const int rk = int(simt::min_of<int64_t>(d.bk, a.Tk - j0));
      sm.t.stage_keys(a, d, bh, j0, rk);
      stage<false, M>(sm.k, a.k, bh / a.H, bh % a.H, j0, rk, d.bk, d.D, d.Dp);
      __syncthreads();
      sm.t.gradients(a, d, bh, i0, j0, rq, rk, nullptr, 0, 0, sm.ds.p, sm.ds.ld, 1);
      M::product(sm.c.p, sm.c.ld, sm.ds.p, sm.ds.ld, sm.k.p, sm.k.ld, d.bq, d.Dp, d.bk);
      __syncthreads();
      add_tile(sm.dq, sm.c, a.scale, d.bq, d.D);
      // The next writes of c come after two barriers: no barrier needed here.
    }
    __syncthreads();
    write_tile(a.dq, bh, a.H, i0, sm.dq, rq, d.D);
    __syncthreads();
  }
}

// ---------------------------------------------------------------- host side
template <typename T>
Args<T> args_of(const AttentionProblem<T>& p) {
  Args<T> a;
  a.B = p.B, a.H = p.H, a.Tq = p.Tq, a.Tk = p.Tk, a.D = int(p.D), a.Dv = int(p.Dv), a.scale = p.scale;
  a.q = p.q, a.k = p.k, a.v = p.v;
  a.mask = p.mask, a.mb = p.mb, a.mh = p.mh, a.mi = p.mi, a.mj = p.mj;
  if (p.drop) {  // host memory: its scalars become kernel arguments
    a.dropout = true, a.drop_all = p.drop->drop_all, a.seed = p.drop->key.seed(), a.base = p.drop->base;
    a.map = p.drop->map;
    a.threshold = p.drop->threshold, a.drop_scale = p.drop_scale;
  }
  a.out = p.out, a.lse = p.lse, a.grad_out = p.grad_out, a.dq = p.dq, a.dk = p.dk, a.dv = p.dv;
  return a;
}

// The largest tiles (32 rows, else 16) whose shared memory fits the budget; the bytes in `bytes`.
template <template <typename, typename> class Smem, typename M, int kD, typename T>
void choose_tiles(Args<T>& a, size_t& bytes, const char* name) {
  for (size_t budget : {kSharedBudget, kSharedMax})
    for (int rows : {32, 16}) {
      a.bq = a.bk = rows;
      bytes = Smem<M, T>(nullptr, Dims<kD, M::kPad>(a)).bytes;
      if (bytes <= budget) return;
    }
  ONENIP_CHECK(false, name, " (cuda): head dims D ", a.D, ", Dv ", a.Dv, " need ", bytes,
               " bytes of shared memory with 16-row tiles (at most ", kSharedMax, ")");
}

template <template <typename, typename> class Smem, typename M, int kD, typename T>
void launch_tiles(const char* name, const AttentionProblem<T>& p, Args<T> a, int64_t tiles_along,
                  void (*kernel)(Args<T>), bool by_queries) {
  size_t bytes = 0;
  choose_tiles<Smem, M, kD>(a, bytes, name);
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.problem = "B " + std::to_string(p.B) + ", H " + std::to_string(p.H) + ", Tq " + std::to_string(p.Tq) + ", Tk " +
                std::to_string(p.Tk) + ", D " + std::to_string(p.D) + ", Dv " + std::to_string(p.Dv) +
                (std::is_same_v<M, ExactMath<T>> ? "" : ", tensor cores") + (p.mask ? ", mask" : "") +
                (p.drop ? ", dropout" : "");
  cfg.grid = dim3(unsigned(simt::ceil_div(tiles_along, by_queries ? a.bq : a.bk)),
                  unsigned(simt::min_of<int64_t>(p.B * p.H, 65535)));
  cfg.block = dim3(kThreads);
  cfg.dynamic_shared = bytes;
  cfg.max_dynamic_shared = simt::max_of<size_t>(bytes, 48 * 1024);
  simt::launch(cfg, kernel, a);
}

template <typename M, int kD, typename T>
void forward_with(const AttentionProblem<T>& p) {
  launch_tiles<ForwardSmem, M, kD>("attention_forward", p, args_of(p), p.Tq, attention_forward_kernel<M, kD, T>, true);
}

template <typename M, int kD, typename T>
void backward_with(const AttentionProblem<T>& p, T* drow) {
  Args<T> a = args_of(p);
  a.drow = drow;
  launch_tiles<KeyGradSmem, M, kD>("attention_backward dk dv", p, a, p.Tk, attention_key_grad_kernel<M, kD, T>, false);
  launch_tiles<QueryGradSmem, M, kD>("attention_backward dq", p, a, p.Tq, attention_query_grad_kernel<M, kD, T>, true);
}

// Calls f.template operator()<Math, kD>(): the math of the problem's precision, the head dim
// as a constant for D == Dv in {32, 64, 128}.
template <typename T, typename F>
void with_math_and_dims(const AttentionProblem<T>& p, F&& f) {
  auto dims = [&]<typename M>() {
    if (p.D == p.Dv && p.D == 32) f.template operator()<M, 32>();
    else if (p.D == p.Dv && p.D == 64) f.template operator()<M, 64>();
    else if (p.D == p.Dv && p.D == 128) f.template operator()<M, 128>();
    else f.template operator()<M, 0>();
  };
  if constexpr (std::is_same_v<T, float>) {
    if (p.precision == MathPrecision::TF32) return dims.template operator()<TensorCoreMath<mma::Precision::TF32>>();
    if (p.precision == MathPrecision::BF16) return dims.template operator()<TensorCoreMath<mma::Precision::BF16>>();
  }
  dims.template operator()<ExactMath<T>>();
}

}  // namespace cuda_attention

template <typename T>
void CudaKernels::attention(const AttentionProblem<T>& p) {
  if (p.B * p.H * p.Tq == 0 || p.Tk == 0) return;
  cuda_attention::with_math_and_dims(p, [&]<typename M, int kD>() { cuda_attention::forward_with<M, kD>(p); });
}

template <typename T>
void CudaKernels::attention_backward(const AttentionProblem<T>& p) {
  if (p.B * p.H * (p.Tq + p.Tk) == 0) return;
  const int64_t rows = p.B * p.H * p.Tq;
  // Drow lives in device scratch: one stream orders its use before the memory is handed out again.
  const size_t drow_bytes = size_t(simt::max_of<int64_t>(rows, 1)) * sizeof(T);
  T* drow = static_cast<T*>(cuda::caching_allocator().allocate(drow_bytes));
  simt::LaunchConfig cfg;
  cfg.name = "attention_backward drow";
  cfg.problem = std::to_string(rows) + " rows of " + std::to_string(p.Dv);
  cfg.grid = dim3(unsigned(simt::min_of<int64_t>(simt::ceil_div(rows, 256), 65535)));
  cfg.block = dim3(256);
  simt::launch(cfg, cuda_attention::attention_drow_kernel<T>, p.grad_out, p.out, drow, p.H, p.Tq, rows, int(p.Dv));
  cuda_attention::with_math_and_dims(p, [&]<typename M, int kD>() { cuda_attention::backward_with<M, kD>(p, drow); });
  cuda::caching_allocator().deallocate(drow, drow_bytes);
}

template void CudaKernels::attention<float>(const AttentionProblem<float>&);
template void CudaKernels::attention<double>(const AttentionProblem<double>&);
template void CudaKernels::attention_backward<float>(const AttentionProblem<float>&);
template void CudaKernels::attention_backward<double>(const AttentionProblem<double>&);

}  // namespace onenip::kernels
