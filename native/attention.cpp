#include "attention.h"

#include <torch/version.h>

#include <cmath>
#include <limits>

namespace trl {

namespace {

// One float mask (0 = attend, -inf = blocked) combining the causal and the user's masks.
std::optional<at::Tensor> combinedMask(const at::Tensor& q, const at::Tensor& k,
                                       const std::optional<at::Tensor>& attn_mask, bool is_causal) {
  std::optional<at::Tensor> mask;
  const auto L = q.size(-2), S = k.size(-2);
  if (is_causal) {
    auto keep = at::ones({L, S}, q.options().dtype(at::kBool)).tril();
    mask = at::zeros({L, S}, q.options()).masked_fill(keep.logical_not(), -INFINITY);
  }
  if (attn_mask.has_value() && attn_mask->defined()) {
    at::Tensor m = *attn_mask;
    if (m.scalar_type() == at::kBool) {
      m = at::zeros(m.sizes(), q.options()).masked_fill(m.logical_not(), -INFINITY);
    } else {
      TORCH_CHECK(m.is_floating_point(), "scaledDotProductAttention: attn_mask must be bool or floating point, got ",
                  m.scalar_type());
      m = m.to(q.scalar_type());
    }
    mask = mask.has_value() ? *mask + m : m;
  }
  return mask;
}

void checkInputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2,
              "scaledDotProductAttention: query, key and value need at least 2 dimensions");
  TORCH_CHECK(q.size(-1) == k.size(-1), "scaledDotProductAttention: query and key last dimensions differ (",
              q.size(-1), " vs ", k.size(-1), ")");
  TORCH_CHECK(k.size(-2) == v.size(-2), "scaledDotProductAttention: key and value lengths differ (",
              k.size(-2), " vs ", v.size(-2), ")");
  TORCH_CHECK(q.is_floating_point(), "scaledDotProductAttention: expected floating point inputs, got ",
              q.scalar_type());
}

}  // namespace

at::Tensor scaledDotProductAttentionReference(const at::Tensor& q, const at::Tensor& k,
                                              const at::Tensor& v,
                                              const std::optional<at::Tensor>& attn_mask,
                                              double dropout_p, bool is_causal,
                                              std::optional<double> scale, bool train) {
  checkInputs(q, k, v);
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  auto scores = at::matmul(q, k.transpose(-2, -1)) * s;
  const bool has_mask = attn_mask.has_value() && attn_mask->defined();
  if (has_mask && attn_mask->scalar_type() != at::kBool) {
    TORCH_CHECK(attn_mask->is_floating_point(), "scaledDotProductAttention: attn_mask must be bool or floating point, got ",
                attn_mask->scalar_type());
    scores = scores + attn_mask->to(q.scalar_type());
  }
  // Bool masks (and the causal one) blank the scores directly: one masked_fill, no float mask.
  at::Tensor keep;
  if (is_causal) keep = at::ones({q.size(-2), k.size(-2)}, q.options().dtype(at::kBool)).tril();
  if (has_mask && attn_mask->scalar_type() == at::kBool) keep = keep.defined() ? keep & *attn_mask : *attn_mask;
  if (keep.defined()) scores = scores.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
  auto weights = at::softmax(scores, -1);
  if (dropout_p > 0 && train) weights = at::dropout(weights, dropout_p, true);
  return at::matmul(weights, v);
}

at::Tensor scaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const std::optional<at::Tensor>& attn_mask, double dropout_p,
                                     bool is_causal, std::optional<double> scale, bool train) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  // libtorch ≥ 2.1 has its own fused kernels (flash / memory-efficient on CUDA).
  checkInputs(q, k, v);
  const double p = train ? dropout_p : 0.0;
  const bool has_mask = attn_mask.has_value() && attn_mask->defined();
  // libtorch refuses is_causal together with an explicit mask: fold both into one mask.
  std::optional<at::Tensor> mask = has_mask ? combinedMask(q, k, attn_mask, is_causal) : std::nullopt;
  const bool causal = is_causal && !has_mask;
  c10::optional<at::Tensor> m = mask.has_value() ? c10::optional<at::Tensor>(*mask) : c10::nullopt;
  c10::optional<double> sc = scale.has_value() ? c10::optional<double>(*scale) : c10::nullopt;
  return at::scaled_dot_product_attention(q, k, v, m, p, causal, sc);
#else
  return scaledDotProductAttentionReference(q, k, v, attn_mask, dropout_p, is_causal, scale, train);
#endif
}

}  // namespace trl
