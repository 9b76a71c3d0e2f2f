// GELU with the tanh approximation, GPT-2's activation, as one pass forward and one backward.
// libtorch 1.13's CPU kernel for gelu(approximate='tanh') measured 13 ns per element here
// (41 ms on one 2048×1536 activation of the 6×384 benchmark model, against 1.4 ms for exp),
// and its backward 3–15 ns: the two were about a seventh of an SFT step.
#pragma once
#include <ATen/ATen.h>

namespace torch_rlhf {

// gelu_tanh(x) = ½x(1 + tanh(u)) = x·σ(2u), u = √(2/π)(x + 0.044715x³); the σ form needs one
// exp and no tanh. Differentiable like at::gelu (its double backward goes through libtorch's
// gelu_backward). CPU float32 and float64 use the kernels here; other devices and dtypes
// libtorch's at::gelu.
at::Tensor geluTanh(const at::Tensor& x);

// The raw kernels (no autograd), exposed for the tests against libtorch.
at::Tensor geluTanhForward(const at::Tensor& x);
at::Tensor geluTanhBackward(const at::Tensor& grad, const at::Tensor& x);

}  // namespace torch_rlhf
