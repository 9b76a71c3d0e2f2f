// Scaled dot-product attention, fused natively (one call from JS instead of ~8 ops).
#pragma once
#include <ATen/ATen.h>
#include <optional>

namespace trl {

// softmax(q kᵀ · scale + mask) v, with PyTorch's semantics:
//   q (…, L, E), k (…, S, E), v (…, S, Ev) → (…, L, Ev)
//   attn_mask: bool (true = may attend) or float (added to the scores), broadcastable to (…, L, S)
//   is_causal: query i attends to keys 0..i (top-left aligned, as torch's SDPA)
//   scale: defaults to 1/√E
// Uses libtorch's own scaled_dot_product_attention where it exists (2.x), else an
// equivalent composition of ATen ops; both are differentiable.
at::Tensor scaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const std::optional<at::Tensor>& attn_mask, double dropout_p,
                                     bool is_causal, std::optional<double> scale, bool train);

// The composition of ATen ops, exposed for the parity test with libtorch's kernel.
at::Tensor scaledDotProductAttentionReference(const at::Tensor& q, const at::Tensor& k,
                                              const at::Tensor& v,
                                              const std::optional<at::Tensor>& attn_mask,
                                              double dropout_p, bool is_causal,
                                              std::optional<double> scale, bool train);

}  // namespace trl
