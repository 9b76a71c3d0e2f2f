// Matrix products with few rows, as token-by-token decoding does them: x (M, K), M ≤ 16 (the
// batch), times a weight matrix that does not fit in the caches. MKL (the CPU BLAS of PyTorch's
// wheels) runs such products far below the machine's compute and memory speed: measured here at
// batch 8 over a 6×384 GPT-2 (42 MB of weights, 168 MFLOP a decode step), its four products a
// layer took 6.5 ms a step, where reading 42 MB takes 1.7 ms and the arithmetic 1.6 ms.
// Here the weights are packed once per generation into panels of columns (each panel K × width
// floats, contiguous, so that it streams from memory), and a kernel keeps a block of rows ×
// the panel's columns of sums in registers over all of K: with AVX-512 (32 registers) 8 rows ×
// 48 columns in one pass, 2.1–2.4 ms for that step; with AVX2, 4 rows × 24 columns in two
// passes, 3.3–3.7 ms.
#pragma once
#include <ATen/ATen.h>

namespace torch_rlhf {

// The largest M the kernel takes; larger batches go to libtorch's matmul.
constexpr int64_t kSkinnyMaxRows = 16;

// A weight packed for the kernel: panels (ceil(N / width), K, width) float32, zero past column
// N, and the bias (N) if any. The width is the kernel's: 48 on AVX-512 CPUs, else 24.
struct PackedWeight {
  at::Tensor panels, bias;
  int64_t K = 0, N = 0, width = 0;
  bool defined() const { return panels.defined(); }
};

// w (K, N) row-major: GPT-2's Conv1D layout (x @ w).
PackedWeight packInOut(const at::Tensor& w, const at::Tensor& bias);
// w (N, K) row-major: nn.Linear's layout and a tied LM head (x @ wᵀ).
PackedWeight packOutIn(const at::Tensor& w, const at::Tensor& bias);

// CPU float32 x (M, K) with 0 < M ≤ kSkinnyMaxRows, a packed weight of K rows, no autograd.
bool packedMatmulApplies(const at::Tensor& x, const PackedWeight& w);
// x @ W + bias, (M, N).
at::Tensor packedMatmul(const at::Tensor& x, const PackedWeight& w);

}  // namespace torch_rlhf
