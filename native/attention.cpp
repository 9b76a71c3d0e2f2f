#include "attention.h"

#include "vec8.h"

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <limits>

namespace torch_rlhf {

namespace {

// One float mask (0 = attend, -inf = blocked) combining the causal and the user's masks.
std::optional<at::Tensor> combinedMask(const at::Tensor& q, const at::Tensor& k, const std::optional<at::Tensor>& attn_mask,
                                       bool is_causal) {
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
      TORCH_CHECK(m.is_floating_point(), "scaledDotProductAttention: attn_mask must be bool or floating point, got ", m.scalar_type());
      m = m.to(q.scalar_type());
    }
    mask = mask.has_value() ? *mask + m : m;
  }
  return mask;
}

void checkInputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool enable_gqa) {
  TORCH_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, "scaledDotProductAttention: query, key and value need at least 2 dimensions");
  TORCH_CHECK(q.size(-1) == k.size(-1), "scaledDotProductAttention: query and key last dimensions differ (", q.size(-1), " vs ", k.size(-1),
              ")");
  TORCH_CHECK(k.size(-2) == v.size(-2), "scaledDotProductAttention: key and value lengths differ (", k.size(-2), " vs ", v.size(-2), ")");
  TORCH_CHECK(q.is_floating_point(), "scaledDotProductAttention: expected floating point inputs, got ", q.scalar_type());
  if (enable_gqa)
    TORCH_CHECK(q.dim() >= 3 && k.dim() >= 3 && k.size(-3) == v.size(-3) && q.size(-3) % k.size(-3) == 0,
                "scaledDotProductAttention: with enableGqa the query heads (dim -3) must be a multiple of the key/value heads");
}

}  // namespace

at::Tensor scaledDotProductAttentionReference(const at::Tensor& q, const at::Tensor& k_in, const at::Tensor& v_in,
                                              const std::optional<at::Tensor>& attn_mask, double dropout_p, bool is_causal,
                                              std::optional<double> scale, bool train, bool enable_gqa) {
  checkInputs(q, k_in, v_in, enable_gqa);
  // Grouped-query attention: each key/value head serves q.size(-3) / k.size(-3) query heads.
  const int64_t rep = enable_gqa ? q.size(-3) / k_in.size(-3) : 1;
  const at::Tensor k = rep > 1 ? k_in.repeat_interleave(rep, -3) : k_in;
  const at::Tensor v = rep > 1 ? v_in.repeat_interleave(rep, -3) : v_in;
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  const bool has_mask = attn_mask.has_value() && attn_mask->defined();
  auto scores = at::matmul(q, k.transpose(-2, -1)) * s;
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
  // A query that may attend to no key gets zero weights, not NaN, as in libtorch's SDPA (2.5+).
  weights = weights.masked_fill((scores == -std::numeric_limits<double>::infinity()).all(-1, true), 0);
  if (dropout_p > 0 && train) weights = at::dropout(weights, dropout_p, true);
  return at::matmul(weights, v);
}

at::Tensor scaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const std::optional<at::Tensor>& attn_mask, double dropout_p, bool is_causal,
                                     std::optional<double> scale, bool train, bool enable_gqa) {
  // libtorch's own fused kernels: flash attention on CPU, flash / memory-efficient on CUDA.
  checkInputs(q, k, v, enable_gqa);
  const double p = train ? dropout_p : 0.0;
  const bool has_mask = attn_mask.has_value() && attn_mask->defined();
  // libtorch refuses is_causal together with an explicit mask: fold both into one mask.
  std::optional<at::Tensor> mask = has_mask ? combinedMask(q, k, attn_mask, is_causal) : std::nullopt;
  const bool causal = is_causal && !has_mask;
  return at::scaled_dot_product_attention(q, k, v, mask, p, causal, scale, enable_gqa);
}

namespace {

using namespace vec;

// out[j] = q · k_j for four keys k_j = k + j·stride: q is loaded once for all four.
TRL_INLINE void dot4(const float* q, const float* k, int64_t stride, int64_t n, float* out) {
  Vec8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const Vec8 x = load8(q + i);
    a0 += x * load8(k + i);
    a1 += x * load8(k + stride + i);
    a2 += x * load8(k + 2 * stride + i);
    a3 += x * load8(k + 3 * stride + i);
  }
  float s[4] = {sum8(a0), sum8(a1), sum8(a2), sum8(a3)};
  for (; i < n; ++i)
    for (int j = 0; j < 4; ++j) s[j] += q[i] * k[j * stride + i];
  for (int j = 0; j < 4; ++j) out[j] = s[j];
}

TRL_INLINE float dot(const float* a, const float* b, int64_t n) {
  Vec8 acc = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc += load8(a + i) * load8(b + i);
  float sum = sum8(acc);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// o[0..8N) = Σ_s p[s] · v[s·stride + 0..8N): the N accumulators stay in registers across keys.
template <int N>
TRL_INLINE void mixBlock(const float* p, const float* v, int64_t stride, int64_t S, float* o) {
  Vec8 acc[N] = {};
  for (int64_t s = 0; s < S; ++s) {
    const float w = p[s];
    const float* vs = v + s * stride;
    for (int j = 0; j < N; ++j) acc[j] += w * load8(vs + 8 * j);
  }
  __builtin_memcpy(o, acc, sizeof acc);
}

// scores[r, s] = scale · q_r · k_r,s for valid keys, −inf for the others; r = (b, h).
TRL_VECTOR_CLONES void decodeScores(const float* q, const float* k, const bool* valid, float* scores, int64_t begin, int64_t end, int64_t H,
                                    int64_t S, int64_t D, int64_t q_row, int64_t k_b, int64_t k_h, int64_t k_s, int64_t valid_b,
                                    float scale) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t r = begin; r < end; ++r) {
    const int64_t b = r / H, h = r % H;
    const float* qr = q + r * q_row;
    const float* kr = k + b * k_b + h * k_h;
    const bool* vb = valid + b * valid_b;
    float* out = scores + r * S;
    int64_t s = 0;
    for (; s + 4 <= S; s += 4) dot4(qr, kr + s * k_s, k_s, D, out + s);
    for (; s < S; ++s) out[s] = dot(qr, kr + s * k_s, D);
    bool any = false;
    for (s = 0; s < S; ++s) any = any || vb[s];
    for (s = 0; s < S; ++s) out[s] = (!any || vb[s]) ? scale * out[s] : neg_inf;
  }
}

// out[b, h·D + d] = Σ_s p[r, s] · v[b, h, s, d]; r = (b, h). Masked keys have p = 0.
TRL_VECTOR_CLONES void decodeMix(const float* p, const float* v, float* out, int64_t begin, int64_t end, int64_t H, int64_t S, int64_t D,
                                 int64_t v_b, int64_t v_h, int64_t v_s) {
  for (int64_t r = begin; r < end; ++r) {
    const int64_t b = r / H, h = r % H;
    const float* pr = p + r * S;
    const float* vr = v + b * v_b + h * v_h;
    float* o = out + r * D;  // (B, H·D) row-major: row b, columns h·D … h·D + D − 1
    int64_t d = 0;
    for (; d + 32 <= D; d += 32) mixBlock<4>(pr, vr + d, v_s, S, o + d);
    for (; d + 8 <= D; d += 8) mixBlock<1>(pr, vr + d, v_s, S, o + d);
    for (; d < D; ++d) {
      float acc = 0;
      for (int64_t s = 0; s < S; ++s) acc += pr[s] * vr[s * v_s + d];
      o[d] = acc;
    }
  }
}

}  // namespace

bool decodeAttentionApplies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  auto fits = [](const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 4 && t.stride(3) == 1; };
  return !c10::GradMode::is_enabled() && fits(q) && fits(k) && fits(v) && q.size(2) == 1;
}

at::Tensor decodeAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& key_valid) {
  TORCH_CHECK(decodeAttentionApplies(q, k, v),
              "decodeAttention: needs CPU float32 (B, H, 1, D) query and (B, H, S, D) keys "
              "and values with a contiguous last dimension, without autograd");
  const int64_t B = q.size(0), H = q.size(1), D = q.size(3), S = k.size(2);
  TORCH_CHECK(k.size(0) == B && k.size(1) == H && k.size(3) == D && v.sizes() == k.sizes(), "decodeAttention: key and value must be (", B,
              ", ", H, ", S, ", D, "), got ", k.sizes(), " and ", v.sizes());
  TORCH_CHECK(key_valid.scalar_type() == at::kBool && key_valid.dim() == 2 && key_valid.size(0) == B && key_valid.size(1) == S,
              "decodeAttention: key mask must be bool (", B, ", ", S, "), got ", key_valid.scalar_type(), " ", key_valid.sizes());
  const auto qc = q.contiguous();
  const auto valid = key_valid.contiguous();
  auto scores = at::empty({B, H, S}, q.options());
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  // Rows are independent; a grain of a few rows keeps small batches on one thread.
  at::parallel_for(0, B * H, 4, [&](int64_t begin, int64_t end) {
    decodeScores(qc.data_ptr<float>(), k.data_ptr<float>(), valid.data_ptr<bool>(), scores.data_ptr<float>(), begin, end, H, S, D, D,
                 k.stride(0), k.stride(1), k.stride(2), S, scale);
  });
  const auto probs = scores.softmax(-1);  // ATen's vectorized softmax (exp is the costly part)
  auto out = at::empty({B, 1, H * D}, q.options());
  at::parallel_for(0, B * H, 4, [&](int64_t begin, int64_t end) {
    decodeMix(probs.data_ptr<float>(), v.data_ptr<float>(), out.data_ptr<float>(), begin, end, H, S, D, v.stride(0), v.stride(1),
              v.stride(2));
  });
  return out;
}

at::Tensor attentionMask(const at::Tensor& key_valid, int64_t L) {
  const int64_t S = key_valid.size(1);
  auto causal = at::ones({L, S}, key_valid.options().dtype(at::kBool)).tril(S - L);
  auto mask = causal.unsqueeze(0) & key_valid.unsqueeze(1);  // (B, L, S)
  mask = mask | mask.any(-1, true).logical_not();
  return mask.unsqueeze(1);
}

}  // namespace torch_rlhf
