// softmax(scale · x) over the last dimension with a bool mask, as one pass forward and one
// backward: the core of attention on CPU where libtorch has no fused kernel (1.13). The
// composition it replaces — scores · scale, masked_fill, softmax — is three passes over the
// (batch, heads, L, S) scores forward and three back, and libtorch 1.13's softmax backward
// alone measured ~12 ns per element here.
#pragma once
#include <ATen/ATen.h>

namespace trl {

// y = softmax(where(keep, scale · x, −inf), −1); keep (bool, true = may attend) broadcasts to
// x and may be undefined (keep all). A row with nothing kept is NaN, as in the composition.
// Differentiable in x (first order by the kernel, double backward through ATen ops).
// CPU float32 / float64 only (maskedSoftmaxApplies); elsewhere compose ATen ops.
bool maskedSoftmaxApplies(const at::Tensor& x);
at::Tensor maskedSoftmax(const at::Tensor& x, const at::Tensor& keep, double scale);

}  // namespace trl
