#include "gpt.h"

#include <c10/core/GradMode.h>

#include <cmath>
#include <limits>

#include "attention.h"
#include "gelu.h"
#include "skinny_matmul.h"

namespace torch_rlhf {

namespace {

// GPT-2's Conv1D: x @ W + b with W (in, out), as one product over the flattened batch; a
// decode step's few rows go to the packed-weight kernel when generate() packed W. An adapter
// adds its low-rank product beside it (layers.h: addLoRA).
at::Tensor conv1dBase(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const PackedWeight& packed) {
  auto sizes = x.sizes().vec();
  sizes.back() = w.size(1);
  const auto x2 = x.reshape({-1, x.size(-1)});
  if (packedMatmulApplies(x2, packed)) return packedMatmul(x2, packed).view(sizes);
  if (!b.defined()) return at::matmul(x, w);
  return at::addmm(b, x2, w).view(sizes);
}
at::Tensor conv1d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const PackedWeight& packed, const LoRA& lora = {},
                  bool train = false) {
  return addLoRA(conv1dBase(x, w, b, packed), x, lora, train);
}

// Logits of the LM head tied to the token embedding wte (V, C): x @ wteᵀ.
at::Tensor lmHead(const at::Tensor& x, const at::Tensor& wte, const PackedWeight& packed) {
  const auto x2 = x.reshape({-1, x.size(-1)});
  if (packedMatmulApplies(x2, packed)) {
    auto sizes = x.sizes().vec();
    sizes.back() = wte.size(0);
    return packedMatmul(x2, packed).view(sizes);
  }
  return at::matmul(x, wte.t());
}

at::Tensor layerNorm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps) {
  return at::layer_norm(x, {x.size(-1)}, w, b.defined() ? std::optional<at::Tensor>(b) : std::nullopt, eps);
}

}  // namespace

std::vector<at::Tensor> GPTBlockWeights::tensors() const {
  std::vector<at::Tensor> out;
  for (const auto* t :
       {&ln1_w, &ln1_b, &attn_w, &attn_b, &attn_proj_w, &attn_proj_b, &ln2_w, &ln2_b, &fc_w, &fc_b, &mlp_proj_w, &mlp_proj_b})
    if (t->defined()) out.push_back(*t);
  for (const auto* l : {&attn_lora, &attn_proj_lora, &fc_lora, &mlp_proj_lora}) appendTensors(out, *l);
  return out;
}

at::Tensor gptBlock(const GPTBlockWeights& blk, const at::Tensor& x, const GPTBlockOptions& o, KVCache* cache, size_t index) {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), H = o.n_head, D = C / H;
  TORCH_CHECK(C % H == 0, "gpt: n_embd ", C, " is not divisible by n_head ", H);
  auto h = layerNorm(x, blk.ln1_w, blk.ln1_b, o.eps);
  auto qkv = conv1d(h, blk.attn_w, blk.attn_b, blk.attn_p, blk.attn_lora, o.train).split(C, -1);
  auto q = qkv[0].view({B, L, H, D}).transpose(1, 2);
  auto k = qkv[1].view({B, L, H, D}).transpose(1, 2);
  auto v = qkv[2].view({B, L, H, D}).transpose(1, 2);
  if (cache) cache->append(index, k, v, "gpt");
  at::Tensor y;
  if (cache && L == 1 && decodeAttentionApplies(q, k, v)) {
    y = decodeAttention(q, k, v, o.key_valid);  // (B, 1, C)
  } else {
    const at::Tensor mask = o.mask.defined() || !o.key_valid.defined() ? o.mask : attentionMask(o.key_valid, L);
    // The modules' call (src/models/gpt.ts), so that dropout draws the same masks.
    const auto m = mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt;
    y = scaledDotProductAttention(q, k, v, m, o.dropout, !mask.defined(), std::nullopt, o.train).transpose(1, 2).reshape({B, L, C});
  }
  auto out = x + dropoutWhen(conv1d(y, blk.attn_proj_w, blk.attn_proj_b, blk.attn_proj_p, blk.attn_proj_lora, o.train), o.dropout, o.train);
  h = layerNorm(out, blk.ln2_w, blk.ln2_b, o.eps);
  h = geluTanh(conv1d(h, blk.fc_w, blk.fc_b, blk.fc_p, blk.fc_lora, o.train));
  return out + dropoutWhen(conv1d(h, blk.mlp_proj_w, blk.mlp_proj_b, blk.mlp_proj_p, blk.mlp_proj_lora, o.train), o.dropout, o.train);
}

at::Tensor gptBlockCheckpointed(const GPTBlockWeights& blk, const at::Tensor& x, const GPTBlockOptions& o) {
  return checkpointed([blk, o](const at::Tensor& input) { return gptBlock(blk, input, o); }, x, blk.tensors());
}

ForwardOutput gptForward(const GPTWeights& w, const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& key_valid,
                         KVCache* cache, bool last_only, bool with_logits) {
  const int64_t past = cache ? cache->length : 0;
  checkForwardInputs("gpt", input_ids, position_ids, key_valid, past, w.wpe.size(0));
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  const int64_t C = w.wte.size(1), H = w.n_head;
  TORCH_CHECK(C % H == 0, "gpt: n_embd ", C, " is not divisible by n_head ", H);
  if (input_ids.numel() == 0) return emptyForwardOutput("gpt", B, L, last_only, with_logits, w.wte.size(0), C, w.wte.options());
  // The mask is built once for all blocks, except when decoding one token over a cache, where
  // the decode kernel needs none (a block builds it from key_valid where it does).
  GPTBlockOptions o;
  o.n_head = H, o.eps = w.eps, o.key_valid = key_valid;
  if (!(cache && L == 1)) o.mask = attentionMask(key_valid, L);

  at::Tensor x = at::embedding(w.wte, input_ids) + at::embedding(w.wpe, position_ids);
  for (size_t i = 0; i < w.blocks.size(); ++i) x = gptBlock(w.blocks[i], x, o, cache, i);
  if (cache) cache->length = past + L;
  if (last_only) x = x.narrow(1, L - 1, 1);
  x = layerNorm(x, w.lnf_w, w.lnf_b, w.eps);
  return {with_logits ? lmHead(x, w.wte, w.head_p) : at::Tensor(), x};
}

// The weights with their decode-step products handed to the skinny-product kernel (skinny_matmul.h),
// when decoding runs on the CPU in float32 with a batch the kernel takes. The kernel reads each
// weight where it is: nothing is copied.
GPTWeights withPackedWeights(const GPTWeights& w, int64_t batch) {
  GPTWeights p = w;
  const bool applies = w.wte.device().is_cpu() && w.wte.scalar_type() == at::kFloat && batch <= kSkinnyMaxRows;
  if (!applies) return p;
  for (auto& b : p.blocks) {
    if (b.attn_w.scalar_type() != at::kFloat) return w;
    b.attn_p = packInOut(b.attn_w, b.attn_b);
    b.attn_proj_p = packInOut(b.attn_proj_w, b.attn_proj_b);
    b.fc_p = packInOut(b.fc_w, b.fc_b);
    b.mlp_proj_p = packInOut(b.mlp_proj_w, b.mlp_proj_b);
  }
  p.head_p = packOutIn(w.wte, at::Tensor());
  return p;
}

GenerateOutput generate(const GPTWeights& weights, const at::Tensor& prompt_ids, const at::Tensor& prompt_mask, const GenerateOptions& o) {
  c10::NoGradGuard no_grad;
  checkGenerateInputs(prompt_ids, prompt_mask, o, weights.wte.size(0), weights.wpe.size(0));
  const int64_t B = prompt_ids.size(0), T = prompt_ids.size(1);
  const GPTWeights w = o.use_cache ? withPackedWeights(weights, B * o.num_return_sequences) : weights;
  KVCache cache;
  if (o.use_cache) cache = KVCache::allocate(w.blocks.size(), B, w.n_head, T + o.max_new_tokens, w.wte.size(1) / w.n_head, w.wte.options());
  const DecodeStep step = [&](const at::Tensor& ids, const at::Tensor& pos, const at::Tensor& valid, KVCache* c) {
    return gptForward(w, ids, pos, valid, c, true).logits.select(1, 0);
  };
  return decodeLoop(step, prompt_ids.to(w.wte.device(), at::kLong), prompt_mask.to(w.wte.device(), at::kBool), o,
                    o.use_cache ? &cache : nullptr);
}

}  // namespace torch_rlhf
