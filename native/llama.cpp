#include "llama.h"

#include <c10/core/GradMode.h>

#include "attention.h"

namespace torch_rlhf {

namespace {

// x Wᵀ + b over the flattened batch; a decode step's few rows go to the packed kernel. An adapter
// adds its low-rank product beside it (layers.h: addLoRA).
at::Tensor projectBase(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const PackedWeight& packed) {
  const auto x2 = x.reshape({-1, x.size(-1)});
  auto sizes = x.sizes().vec();
  sizes.back() = w.size(0);
  if (packedMatmulApplies(x2, packed)) return packedMatmul(x2, packed).view(sizes);
  return at::linear(x, w, b.defined() ? std::optional<at::Tensor>(b) : std::nullopt);
}
at::Tensor project(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const PackedWeight& packed, const LoRA& lora = {},
                   bool train = false) {
  return addLoRA(projectBase(x, w, b, packed), x, lora, train);
}

at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& w, double eps) { return at::rms_norm(x, {x.size(-1)}, w, eps); }

// (x1, x2) → (−x2, x1) over the halves of the last dimension.
at::Tensor rotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

std::vector<at::Tensor> LlamaLayerWeights::tensors() const {
  std::vector<at::Tensor> out;
  for (const auto* t : {&ln1_w, &q_w, &q_b, &k_w, &k_b, &v_w, &v_b, &o_w, &o_b, &ln2_w, &gate_w, &gate_b, &up_w, &up_b, &down_w, &down_b})
    if (t->defined()) out.push_back(*t);
  for (const auto* l : {&q_lora, &k_lora, &v_lora, &o_lora, &gate_lora, &up_lora, &down_lora}) appendTensors(out, *l);
  return out;
}

at::Tensor llamaLayer(const LlamaLayerWeights& l, const at::Tensor& x, const LlamaLayerOptions& o, KVCache* cache, size_t index) {
  const int64_t B = x.size(0), L = x.size(1), H = o.n_head, Hkv = o.n_kv_head, D = o.head_dim, rep = H / Hkv;
  auto h = rmsNorm(x, l.ln1_w, o.eps);
  auto q = project(h, l.q_w, l.q_b, l.q_p, l.q_lora, o.train).view({B, L, H, D}).transpose(1, 2);
  auto k = project(h, l.k_w, l.k_b, l.k_p, l.k_lora, o.train).view({B, L, Hkv, D}).transpose(1, 2);
  auto v = project(h, l.v_w, l.v_b, l.v_p, l.v_lora, o.train).view({B, L, Hkv, D}).transpose(1, 2);
  q = q * o.cos + rotateHalf(q) * o.sin;
  k = k * o.cos + rotateHalf(k) * o.sin;
  if (cache) cache->append(index, k, v, "llama");
  at::Tensor y;
  if (o.grouped_mask.defined() && !(o.train && o.dropout > 0)) {
    // Grouped-query attention without repeating keys and values: the rep query heads that share
    // a key/value head become rep × L query rows of it, each row with its own position's mask.
    auto qg = q.reshape({B, Hkv, rep * L, D});
    y = at::scaled_dot_product_attention(qg, k, v, o.grouped_mask, 0.0, false).view({B, H, L, D});  // (B, Hkv, rep·L, D)
  } else {
    // The modules' call (src/models/llama.ts), so that dropout draws the same masks.
    const auto m = o.mask.defined() ? std::optional<at::Tensor>(o.mask) : std::nullopt;
    y = scaledDotProductAttention(q, k, v, m, o.dropout, !o.mask.defined(), std::nullopt, o.train, rep > 1);
  }
  y = y.transpose(1, 2).reshape({B, L, H * D});
  auto out = x + project(y, l.o_w, l.o_b, l.o_p, l.o_lora, o.train);
  h = rmsNorm(out, l.ln2_w, o.eps);
  auto g = project(h, l.gate_w, l.gate_b, l.gate_p, l.gate_lora, o.train);
  auto u = project(h, l.up_w, l.up_b, l.up_p, l.up_lora, o.train);
  return out + project(at::silu(g) * u, l.down_w, l.down_b, l.down_p, l.down_lora, o.train);
}

at::Tensor llamaLayerCheckpointed(const LlamaLayerWeights& l, const at::Tensor& x, const LlamaLayerOptions& o) {
  return checkpointed([l, o](const at::Tensor& input) { return llamaLayer(l, input, o); }, x, l.tensors());
}

ForwardOutput llamaForward(const LlamaWeights& w, const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& key_valid,
                           KVCache* cache, bool last_only, bool with_logits) {
  const int64_t past = cache ? cache->length : 0;
  checkForwardInputs("llama", input_ids, position_ids, key_valid, past, w.max_positions);
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  const int64_t C = w.embed.size(1), rep = w.n_head / w.n_kv_head;
  if (input_ids.numel() == 0) return emptyForwardOutput("llama", B, L, last_only, with_logits, w.head.size(0), C, w.embed.options());
  // RoPE's angles in float32 as transformers computes them, then in the activations' dtype.
  auto freqs = position_ids.to(at::kFloat).unsqueeze(-1) * w.inv_freq.view({1, 1, -1});
  auto emb = at::cat({freqs, freqs}, -1).unsqueeze(1);  // (B, 1, L, D)
  LlamaLayerOptions o;
  o.n_head = w.n_head, o.n_kv_head = w.n_kv_head, o.head_dim = w.head_dim, o.eps = w.eps;
  o.cos = emb.cos().to(w.embed.scalar_type()), o.sin = emb.sin().to(w.embed.scalar_type());
  o.grouped_mask = attentionMask(key_valid, L).unsqueeze(2).expand({B, 1, rep, L, past + L}).reshape({B, 1, rep * L, past + L});

  at::Tensor x = at::embedding(w.embed, input_ids);
  for (size_t i = 0; i < w.layers.size(); ++i) x = llamaLayer(w.layers[i], x, o, cache, i);
  if (cache) cache->length = past + L;
  if (last_only) x = x.narrow(1, L - 1, 1);
  x = rmsNorm(x, w.norm_w, w.eps);
  return {with_logits ? project(x, w.head, at::Tensor(), w.head_p) : at::Tensor(), x};
}

namespace {

// The weights with every decode-step product handed to the skinny-product kernel, when decoding on
// the CPU in float32 with a batch the kernel takes (see withPackedWeights in gpt.cpp): no copies.
LlamaWeights withPackedWeights(const LlamaWeights& w, int64_t batch) {
  LlamaWeights p = w;
  if (!(w.embed.device().is_cpu() && w.embed.scalar_type() == at::kFloat && batch <= kSkinnyMaxRows)) return p;
  for (auto& l : p.layers) {
    l.q_p = packOutIn(l.q_w, l.q_b);
    l.k_p = packOutIn(l.k_w, l.k_b);
    l.v_p = packOutIn(l.v_w, l.v_b);
    l.o_p = packOutIn(l.o_w, l.o_b);
    l.gate_p = packOutIn(l.gate_w, l.gate_b);
    l.up_p = packOutIn(l.up_w, l.up_b);
    l.down_p = packOutIn(l.down_w, l.down_b);
  }
  p.head_p = packOutIn(w.head, at::Tensor());
  return p;
}

}  // namespace

GenerateOutput llamaGenerate(const LlamaWeights& weights, const at::Tensor& prompt_ids, const at::Tensor& prompt_mask,
                             const GenerateOptions& o) {
  c10::NoGradGuard no_grad;
  checkGenerateInputs(prompt_ids, prompt_mask, o, weights.head.size(0), weights.max_positions);
  const int64_t B = prompt_ids.size(0), T = prompt_ids.size(1);
  const LlamaWeights w = o.use_cache ? withPackedWeights(weights, B * o.num_return_sequences) : weights;
  KVCache cache;
  // One slot per key/value head, not per query head: GQA's memory saving kept.
  if (o.use_cache) cache = KVCache::allocate(w.layers.size(), B, w.n_kv_head, T + o.max_new_tokens, w.head_dim, w.embed.options());
  const DecodeStep step = [&](const at::Tensor& ids, const at::Tensor& pos, const at::Tensor& valid, KVCache* c) {
    return llamaForward(w, ids, pos, valid, c, true).logits.select(1, 0);
  };
  return decodeLoop(step, prompt_ids.to(w.embed.device(), at::kLong), prompt_mask.to(w.embed.device(), at::kBool), o,
                    o.use_cache ? &cache : nullptr);
}

}  // namespace torch_rlhf
