#include "skinny_matmul.h"

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <vector>

#include "vec8.h"

namespace torch_rlhf {

namespace {

using namespace vec;

// ---- (K, N) weights, GPT-2's Conv1D: x @ W --------------------------------------------------
// W is read row by row, kInOutColumns columns at a time (1 KiB contiguous a row: reading narrow
// strips of every row instead, one page a row, ran 1.5× slower), four rows of W per pass over the
// sums of M × those columns, which stay in L1. Each sum adds its k terms in order, so a column's
// result does not depend on how the columns were split between threads.
constexpr int64_t kInOutColumns = 256;

// acc[r][t] += Σ_{i<4} x[r][i] · w[i][t] for R rows, t < width (vecs vectors of 8, then one by one).
template <int R>
TRL_INLINE void inOutStep(const float* x, int64_t ldx, const float* w, int64_t ldw, float* acc, int64_t vecs, int64_t width) {
  float a[R][4];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < 4; ++i) a[r][i] = x[r * ldx + i];
  for (int64_t j = 0; j < vecs; ++j) {
    const float* wj = w + 8 * j;
    const Vec8 w0 = load8(wj), w1 = load8(wj + ldw), w2 = load8(wj + 2 * ldw), w3 = load8(wj + 3 * ldw);
    for (int r = 0; r < R; ++r) {
      float* p = acc + r * kInOutColumns + 8 * j;
      Vec8 v = load8(p);
      v += a[r][0] * w0;
      v += a[r][1] * w1;
      v += a[r][2] * w2;
      v += a[r][3] * w3;
      store8(p, v);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int64_t t = 8 * vecs; t < width; ++t) {
      float v = acc[r * kInOutColumns + t];
      for (int i = 0; i < 4; ++i) v += a[r][i] * w[t + i * ldw];
      acc[r * kInOutColumns + t] = v;
    }
}

TRL_VECTOR_CLONES void inOutRange(const float* x, int64_t M, int64_t K, const float* w, int64_t N, float* y, int64_t n0, int64_t n1) {
  alignas(32) float acc[kSkinnyMaxRows * kInOutColumns];
  for (int64_t c0 = n0; c0 < n1; c0 += kInOutColumns) {
    const int64_t width = std::min(kInOutColumns, n1 - c0), vecs = width / 8;
    std::fill(acc, acc + M * kInOutColumns, 0.0f);
    for (int64_t k = 0; k < K; k += 4) {
      const int64_t rows = std::min<int64_t>(4, K - k);
      const float* w0 = w + k * N + c0;
      if (rows < 4) {
        for (int64_t m = 0; m < M; ++m)
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t t = 0; t < width; ++t) acc[m * kInOutColumns + t] += x[m * K + k + i] * w0[t + i * N];
        continue;
      }
      // Four, then two rows of x at a time share the loads of W's four rows.
      int64_t m = 0;
      for (; m + 4 <= M; m += 4) inOutStep<4>(x + m * K + k, K, w0, N, acc + m * kInOutColumns, vecs, width);
      for (; m + 2 <= M; m += 2) inOutStep<2>(x + m * K + k, K, w0, N, acc + m * kInOutColumns, vecs, width);
      if (m < M) inOutStep<1>(x + m * K + k, K, w0, N, acc + m * kInOutColumns, vecs, width);
    }
    for (int64_t m = 0; m < M; ++m) __builtin_memcpy(y + m * N + c0, acc + m * kInOutColumns, width * sizeof(float));
  }
}

// ---- (N, K) weights, nn.Linear and the LM head: x @ Wᵀ ----------------------------------------
// MR rows of x × NR rows of W (both row stride K): MR × NR dot products, 8 lanes of partial sums
// each, reduced at the end; K's last K mod 8 terms added one by one.
template <int MR, int NR>
TRL_INLINE void outInBlock(const float* x, int64_t K, const float* w, float* y, int64_t ldy) {
  Vec8 acc[MR][NR] = {};
  const int64_t K8 = K & ~int64_t{7};
  for (int64_t k = 0; k < K8; k += 8) {
    Vec8 wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = load8(w + j * K + k);
    for (int r = 0; r < MR; ++r) {
      const Vec8 xv = load8(x + r * K + k);
      for (int j = 0; j < NR; ++j) acc[r][j] += xv * wv[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) {
      float s = sum8(acc[r][j]);
      for (int64_t k = K8; k < K; ++k) s += x[r * K + k] * w[j * K + k];
      y[r * ldy + j] = s;
    }
}

constexpr int kOutInRows = 3;
// All M rows against NR rows of W, in blocks of 3 rows of x (12 sums + 4 rows of W: the 16 AVX2
// registers, the x vector read by the FMA from memory). W's NR rows stay in L1/L2 between blocks.
template <int MR, int NR>
TRL_INLINE void outInRows(int64_t rows, const float* x, int64_t K, const float* w, float* y, int64_t ldy) {
  if constexpr (MR > 1) {
    if (rows < MR) return outInRows<MR - 1, NR>(rows, x, K, w, y, ldy);
  }
  outInBlock<MR, NR>(x, K, w, y, ldy);
}
template <int NR>
TRL_INLINE void outInColumns(const float* x, int64_t M, int64_t K, const float* w, float* y, int64_t ldy) {
  for (int64_t r = 0; r < M; r += kOutInRows)
    outInRows<kOutInRows, NR>(std::min<int64_t>(kOutInRows, M - r), x + r * K, K, w, y + r * ldy, ldy);
}

// Output columns (rows of W) [n0, n1), 4 at a time, then the rest.
TRL_VECTOR_CLONES void outInRange(const float* x, int64_t M, int64_t K, const float* w, int64_t N, float* y, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) outInColumns<4>(x, M, K, w + n * K, y + n, N);
  switch (n1 - n) {
    case 3: outInColumns<3>(x, M, K, w + n * K, y + n, N); break;
    case 2: outInColumns<2>(x, M, K, w + n * K, y + n, N); break;
    case 1: outInColumns<1>(x, M, K, w + n * K, y + n, N); break;
    default: break;
  }
}

// Shares the weight as the kernel reads it, or returns an empty one (the caller falls back to libtorch).
PackedWeight prepare(const at::Tensor& w, const at::Tensor& bias, bool in_out) {
  PackedWeight p;
  if (!(w.dim() == 2 && w.device().is_cpu() && w.scalar_type() == at::kFloat && w.is_contiguous())) return p;
  const int64_t N = in_out ? w.size(1) : w.size(0);
  if (bias.defined() &&
      !(bias.dim() == 1 && bias.size(0) == N && bias.scalar_type() == at::kFloat && bias.device().is_cpu() && bias.is_contiguous()))
    return p;
  p.weight = w;
  p.bias = bias;
  p.in_out = in_out;
  p.K = in_out ? w.size(0) : w.size(1);
  p.N = N;
  return p;
}

}  // namespace

PackedWeight packInOut(const at::Tensor& w, const at::Tensor& bias) { return prepare(w, bias, true); }
PackedWeight packOutIn(const at::Tensor& w, const at::Tensor& bias) { return prepare(w, bias, false); }

bool packedMatmulApplies(const at::Tensor& x, const PackedWeight& w) {
  return w.defined() && !c10::GradMode::is_enabled() && x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 2 &&
         x.size(0) > 0 && x.size(0) <= kSkinnyMaxRows && x.size(1) == w.K;
}

at::Tensor packedMatmul(const at::Tensor& x, const PackedWeight& w) {
  TORCH_CHECK(packedMatmulApplies(x, w), "packedMatmul: needs float32 CPU x (M ≤ ", kSkinnyMaxRows, ", ", w.K, ") without autograd, got ",
              x.scalar_type(), " ", x.sizes());
  const int64_t M = x.size(0), K = w.K, N = w.N;
  const auto xc = x.contiguous();
  auto y = at::empty({M, N}, x.options());
  const float* xp = xc.data_ptr<float>();
  const float* wp = w.weight.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  // A task streams at least about 256 KiB of the weight, so a small model's products stay on one thread.
  constexpr int64_t kTaskBytes = int64_t{256} << 10;
  const int64_t rowBytes = std::max<int64_t>(K, 1) * 4;
  if (w.in_out) {
    const int64_t units = (N + 7) / 8;  // of 8 columns
    at::parallel_for(0, units, std::max<int64_t>(1, kTaskBytes / (rowBytes * 8)),
                     [&](int64_t u0, int64_t u1) { inOutRange(xp, M, K, wp, N, yp, 8 * u0, std::min(8 * u1, N)); });
  } else {
    const int64_t grain = std::max<int64_t>(1, kTaskBytes / rowBytes);
    at::parallel_for(0, N, grain, [&](int64_t n0, int64_t n1) { outInRange(xp, M, K, wp, N, yp, n0, n1); });
  }
  if (w.bias.defined()) y.add_(w.bias);
  return y;
}

}  // namespace torch_rlhf
