#include "skinny_matmul.h"

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include "vec8.h"

namespace trl {

namespace {

using namespace vec;

constexpr int kNV = kPanelWidth / 8;  // Vec8s across a panel

// MR rows of x (row stride K) against one panel: the MR × 24 sums stay in registers (MR 4:
// 12 of AVX2's 16) while the panel streams by once; y gets the 24 columns (row stride ldy).
template <int MR>
TRL_INLINE void panelBlock(const float* x, int64_t K, const float* panel, float* y, int64_t ldy) {
  Vec8 acc[MR][kNV] = {};
  for (int64_t k = 0; k < K; ++k) {
    Vec8 w[kNV];
    for (int j = 0; j < kNV; ++j) w[j] = load8(panel + k * kPanelWidth + 8 * j);
    for (int r = 0; r < MR; ++r) {
      const float xv = x[r * K + k];
      for (int j = 0; j < kNV; ++j) acc[r][j] += xv * w[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < kNV; ++j) store8(y + r * ldy + 8 * j, acc[r][j]);
}

// Panels [c0, c1) for all M rows. A panel's columns past N land in a scratch row block.
TRL_VECTOR_CLONES void panelRange(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, const float* bias,
                                  float* y, int64_t c0, int64_t c1) {
  float scratch[4 * kPanelWidth];
  for (int64_t c = c0; c < c1; ++c) {
    const float* panel = panels + c * K * kPanelWidth;
    const int64_t n0 = c * kPanelWidth, width = std::min<int64_t>(kPanelWidth, N - n0);
    for (int64_t r = 0; r < M; r += 4) {
      const int64_t rows = std::min<int64_t>(4, M - r);
      const bool whole = width == kPanelWidth;
      float* out = whole ? y + r * N + n0 : scratch;
      const int64_t ld = whole ? N : kPanelWidth;
      switch (rows) {
        case 4: panelBlock<4>(x + r * K, K, panel, out, ld); break;
        case 3: panelBlock<3>(x + r * K, K, panel, out, ld); break;
        case 2: panelBlock<2>(x + r * K, K, panel, out, ld); break;
        default: panelBlock<1>(x + r * K, K, panel, out, ld); break;
      }
      for (int64_t i = 0; i < rows; ++i) {
        float* row = y + (r + i) * N + n0;
        if (!whole) __builtin_memcpy(row, scratch + i * kPanelWidth, width * sizeof(float));
        if (bias)
          for (int64_t j = 0; j < width; ++j) row[j] += bias[n0 + j];
      }
    }
  }
}

// (K, N) → (ceil(N/24), K, 24), zero-padded: a reshuffle done once with ATen ops.
PackedWeight packKN(const at::Tensor& kn, const at::Tensor& bias) {
  TORCH_CHECK(kn.dim() == 2 && kn.device().is_cpu() && kn.scalar_type() == at::kFloat,
              "packWeight: expected a float32 CPU matrix, got ", kn.scalar_type(), " ", kn.sizes(), " on ", kn.device());
  const int64_t K = kn.size(0), N = kn.size(1), C = (N + kPanelWidth - 1) / kPanelWidth;
  TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == N && bias.scalar_type() == at::kFloat && bias.device().is_cpu()),
              "packWeight: bias must be float32 (", N, ") on the CPU");
  c10::NoGradGuard no_grad;
  auto padded = at::zeros({K, C * kPanelWidth}, kn.options());
  padded.narrow(1, 0, N).copy_(kn);
  PackedWeight p;
  p.panels = padded.view({K, C, kPanelWidth}).permute({1, 0, 2}).contiguous();
  p.bias = bias.defined() ? bias.contiguous() : bias;
  p.K = K;
  p.N = N;
  return p;
}

}  // namespace

PackedWeight packInOut(const at::Tensor& w, const at::Tensor& bias) { return packKN(w, bias); }
PackedWeight packOutIn(const at::Tensor& w, const at::Tensor& bias) { return packKN(w.t(), bias); }

bool packedMatmulApplies(const at::Tensor& x, const PackedWeight& w) {
  return w.defined() && !c10::GradMode::is_enabled() && x.device().is_cpu() && x.scalar_type() == at::kFloat &&
         x.dim() == 2 && x.size(0) > 0 && x.size(0) <= kSkinnyMaxRows && x.size(1) == w.K;
}

at::Tensor packedMatmul(const at::Tensor& x, const PackedWeight& w) {
  TORCH_CHECK(packedMatmulApplies(x, w), "packedMatmul: needs float32 CPU x (M ≤ ", kSkinnyMaxRows, ", ", w.K,
              ") without autograd, got ", x.scalar_type(), " ", x.sizes());
  const int64_t M = x.size(0), K = w.K, N = w.N, C = w.panels.size(0);
  const auto xc = x.contiguous();
  auto y = at::empty({M, N}, x.options());
  const float* xp = xc.data_ptr<float>();
  const float* pp = w.panels.data_ptr<float>();
  const float* bp = w.bias.defined() ? w.bias.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  // A task streams at least about 256 KiB of panels, so a small model's products stay on one thread.
  const int64_t grain = std::max<int64_t>(1, (int64_t{256} << 10) / (K * kPanelWidth * 4));
  at::parallel_for(0, C, grain, [&](int64_t c0, int64_t c1) { panelRange(xp, M, K, pp, N, bp, yp, c0, c1); });
  return y;
}

}  // namespace trl
