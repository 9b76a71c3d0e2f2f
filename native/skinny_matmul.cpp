#include "skinny_matmul.h"

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include "vec8.h"

namespace torch_rlhf {

namespace {

using namespace vec;

// MR rows of x (row stride K) against one panel of NV vectors of width: the MR × width sums stay
// in registers while the panel streams by once; y gets the columns (row stride ldy).
template <typename V, int MR, int NV>
TRL_INLINE void panelBlock(const float* x, int64_t K, const float* panel, float* y, int64_t ldy) {
  constexpr int kLanes = sizeof(V) / sizeof(float), kWidth = kLanes * NV;
  V acc[MR][NV] = {};
  for (int64_t k = 0; k < K; ++k) {
    V w[NV];
    for (int j = 0; j < NV; ++j) w[j] = loadv<V>(panel + k * kWidth + kLanes * j);
    for (int r = 0; r < MR; ++r) {
      const float xv = x[r * K + k];
      for (int j = 0; j < NV; ++j) acc[r][j] += xv * w[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) storev<V>(y + r * ldy + kLanes * j, acc[r][j]);
}

// One row block of `rows` ≤ MR rows: the full-size block, or the one for the rest.
template <typename V, int MR, int NV>
TRL_INLINE void panelRows(int64_t rows, const float* x, int64_t K, const float* panel, float* y, int64_t ldy) {
  if constexpr (MR > 1) {
    if (rows < MR) return panelRows<V, MR - 1, NV>(rows, x, K, panel, y, ldy);
  }
  panelBlock<V, MR, NV>(x, K, panel, y, ldy);
}

// Panels [c0, c1) for all M rows, in blocks of MR rows. A panel's columns past N land in a
// scratch block first.
template <typename V, int MR, int NV>
TRL_INLINE void panelRange(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, const float* bias, float* y, int64_t c0,
                           int64_t c1) {
  constexpr int64_t kWidth = sizeof(V) / sizeof(float) * NV;
  float scratch[MR * kWidth];
  for (int64_t c = c0; c < c1; ++c) {
    const float* panel = panels + c * K * kWidth;
    const int64_t n0 = c * kWidth, width = std::min<int64_t>(kWidth, N - n0);
    const bool whole = width == kWidth;
    for (int64_t r = 0; r < M; r += MR) {
      const int64_t rows = std::min<int64_t>(MR, M - r);
      panelRows<V, MR, NV>(rows, x + r * K, K, panel, whole ? y + r * N + n0 : scratch, whole ? N : kWidth);
      for (int64_t i = 0; i < rows; ++i) {
        float* row = y + (r + i) * N + n0;
        if (!whole) __builtin_memcpy(row, scratch + i * kWidth, width * sizeof(float));
        if (bias)
          for (int64_t j = 0; j < width; ++j) row[j] += bias[n0 + j];
      }
    }
  }
}

// AVX-512: 8 rows × 48 columns, 24 of 32 registers.
constexpr int64_t kWidth512 = 48;
TRL_AVX512 void panelRange512(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, const float* bias, float* y, int64_t c0,
                              int64_t c1) {
  panelRange<Vec16, 8, 3>(x, M, K, panels, N, bias, y, c0, c1);
}
// AVX2 (and the baseline clone): 4 rows × 24 columns, 12 of 16 registers.
constexpr int64_t kWidth256 = 24;
TRL_VECTOR_CLONES void panelRange256(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, const float* bias, float* y,
                                     int64_t c0, int64_t c1) {
  panelRange<Vec8, 4, 3>(x, M, K, panels, N, bias, y, c0, c1);
}

int64_t panelWidthHere() { return cpuHasAvx512() ? kWidth512 : kWidth256; }

// (K, N) → (ceil(N/width), K, width), zero-padded: a reshuffle done once with ATen ops.
PackedWeight packKN(const at::Tensor& kn, const at::Tensor& bias) {
  const int64_t width = panelWidthHere();
  TORCH_CHECK(kn.dim() == 2 && kn.device().is_cpu() && kn.scalar_type() == at::kFloat, "packWeight: expected a float32 CPU matrix, got ",
              kn.scalar_type(), " ", kn.sizes(), " on ", kn.device());
  const int64_t K = kn.size(0), N = kn.size(1), C = (N + width - 1) / width;
  TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == N && bias.scalar_type() == at::kFloat && bias.device().is_cpu()),
              "packWeight: bias must be float32 (", N, ") on the CPU");
  c10::NoGradGuard no_grad;
  auto padded = at::zeros({K, C * width}, kn.options());
  padded.narrow(1, 0, N).copy_(kn);
  PackedWeight p;
  p.panels = padded.view({K, C, width}).permute({1, 0, 2}).contiguous();
  p.width = width;
  p.bias = bias.defined() ? bias.contiguous() : bias;
  p.K = K;
  p.N = N;
  return p;
}

}  // namespace

PackedWeight packInOut(const at::Tensor& w, const at::Tensor& bias) { return packKN(w, bias); }
PackedWeight packOutIn(const at::Tensor& w, const at::Tensor& bias) { return packKN(w.t(), bias); }

bool packedMatmulApplies(const at::Tensor& x, const PackedWeight& w) {
  return w.defined() && !c10::GradMode::is_enabled() && x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 2 &&
         x.size(0) > 0 && x.size(0) <= kSkinnyMaxRows && x.size(1) == w.K;
}

at::Tensor packedMatmul(const at::Tensor& x, const PackedWeight& w) {
  TORCH_CHECK(packedMatmulApplies(x, w), "packedMatmul: needs float32 CPU x (M ≤ ", kSkinnyMaxRows, ", ", w.K, ") without autograd, got ",
              x.scalar_type(), " ", x.sizes());
  const int64_t M = x.size(0), K = w.K, N = w.N, C = w.panels.size(0);
  const auto xc = x.contiguous();
  auto y = at::empty({M, N}, x.options());
  const float* xp = xc.data_ptr<float>();
  const float* pp = w.panels.data_ptr<float>();
  const float* bp = w.bias.defined() ? w.bias.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  // A task streams at least about 256 KiB of panels, so a small model's products stay on one thread.
  const int64_t grain = std::max<int64_t>(1, (int64_t{256} << 10) / (K * w.width * 4));
  const bool wide = w.width == kWidth512;
  TORCH_CHECK(wide || w.width == kWidth256, "packedMatmul: panels of width ", w.width, " are not this build's");
  TORCH_CHECK(!wide || cpuHasAvx512(), "packedMatmul: panels of width 48 need AVX-512");
  at::parallel_for(0, C, grain, [&](int64_t c0, int64_t c1) { (wide ? panelRange512 : panelRange256)(xp, M, K, pp, N, bp, yp, c0, c1); });
  return y;
}

}  // namespace torch_rlhf
