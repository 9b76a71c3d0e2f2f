// Matrix products with few rows, as token-by-token decoding does them: x (M, K), M ≤ 16 (the
// batch), times a weight matrix that does not fit in the caches. MKL (the CPU BLAS of PyTorch's
// wheels) runs such products far below the machine's memory speed, which is what bounds them:
// measured here at batch 8 over a 6×384 GPT-2 (42 MB of weights, 168 MFLOP a decode step), its
// four products a layer took 6.5 ms a step, where reading 42 MB takes 1.7 ms.
// The kernels read each weight where it is, in its own layout, once per product: no packed copy
// (an earlier version packed every weight into panels per generate(), a second copy of the model,
// 2 GB at Qwen2.5-0.5B's shape). A block of rows × columns of sums stays in registers over K.
#pragma once
#include <ATen/ATen.h>

namespace torch_rlhf {

// The largest M the kernel takes; larger batches go to libtorch's matmul.
constexpr int64_t kSkinnyMaxRows = 16;

// A weight as the kernel reads it: the model's own tensor (not a copy) and its layout. Empty
// (not defined()) where the kernel does not apply, and the caller uses libtorch.
struct PackedWeight {
  at::Tensor weight, bias;  // weight (K, N) when in_out, else (N, K); bias (N) or undefined
  int64_t K = 0, N = 0;
  bool in_out = false;
  bool defined() const { return weight.defined(); }
};

// w (K, N) row-major: GPT-2's Conv1D layout (x @ w). Empty unless w is a contiguous float32 CPU
// matrix (then it shares w's storage).
PackedWeight packInOut(const at::Tensor& w, const at::Tensor& bias);
// w (N, K) row-major: nn.Linear's layout and a tied LM head (x @ wᵀ). Empty as above.
PackedWeight packOutIn(const at::Tensor& w, const at::Tensor& bias);

// CPU float32 x (M, K) with 0 < M ≤ kSkinnyMaxRows, a weight of K inputs, no autograd.
bool packedMatmulApplies(const at::Tensor& x, const PackedWeight& w);
// x @ W + bias, (M, N).
at::Tensor packedMatmul(const at::Tensor& x, const PackedWeight& w);

}  // namespace torch_rlhf
