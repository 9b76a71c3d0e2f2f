// Scaled dot-product attention, fused natively (one call from JS instead of ~8 ops).
#pragma once
#include <ATen/ATen.h>
#include <optional>

namespace torch_rlhf {

// softmax(q kᵀ · scale + mask) v, with PyTorch's semantics:
//   q (…, L, E), k (…, S, E), v (…, S, Ev) → (…, L, Ev)
//   attn_mask: bool (true = may attend) or float (added to the scores), broadcastable to (…, L, S)
//   is_causal: query i attends to keys 0..i (top-left aligned, as torch's SDPA)
//   scale: defaults to 1/√E
//   a query that may attend to no key gets zeros (libtorch's SDPA semantics since 2.5)
// This is libtorch's own scaled_dot_product_attention (fused kernels on CPU and CUDA).
at::Tensor scaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const std::optional<at::Tensor>& attn_mask, double dropout_p, bool is_causal,
                                     std::optional<double> scale, bool train, bool enable_gqa = false);

// The same as a composition of ATen ops, exposed for the parity tests with libtorch's kernel.
at::Tensor scaledDotProductAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                              const std::optional<at::Tensor>& attn_mask, double dropout_p, bool is_causal,
                                              std::optional<double> scale, bool train, bool enable_gqa = false);

// Attention of one new query per sequence over a KV cache, for token-by-token decoding:
//   q (B, H, 1, D), k and v (B, H, S, D) with a contiguous last dimension (a cache's narrowed
//   view is fine), key_valid (B, S) bool → (B, 1, H·D), heads already merged.
// The query is the newest position, so it sees every valid key (no causal mask needed); a row
// with no valid key sees all of them, as attention masks are built elsewhere here.
// CPU float32 without autograd only (decodeAttentionApplies); libtorch's batched matmul runs
// one tiny GEMM per (batch, head) with several dispatches each, which cost more than the math.
bool decodeAttentionApplies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
at::Tensor decodeAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& key_valid);

// (B, 1, L, S) bool for L new queries over S keys (the last L of them theirs), from key_valid
// (B, S): query i (absolute position S-L+i) sees the valid keys up to itself. A query with no
// visible key (a left pad) sees all of them instead: its output is never used, and this keeps
// NaN out of the outputs and the gradients.
at::Tensor attentionMask(const at::Tensor& key_valid, int64_t L);

}  // namespace torch_rlhf
