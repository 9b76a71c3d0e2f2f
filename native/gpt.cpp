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
// decode step's few rows go to the packed-weight kernel when generate() packed W.
at::Tensor conv1d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const PackedWeight& packed) {
  auto sizes = x.sizes().vec();
  sizes.back() = w.size(1);
  const auto x2 = x.reshape({-1, x.size(-1)});
  if (packedMatmulApplies(x2, packed)) return packedMatmul(x2, packed).view(sizes);
  if (!b.defined()) return at::matmul(x, w);
  return at::addmm(b, x2, w).view(sizes);
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

ForwardOutput gptForward(const GPTWeights& w, const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& key_valid,
                         KVCache* cache, bool last_only, bool with_logits) {
  TORCH_CHECK(input_ids.dim() == 2, "gpt: input_ids must be (batch, length), got ", input_ids.sizes());
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  const int64_t C = w.wte.size(1), H = w.n_head, D = C / H;
  TORCH_CHECK(C % H == 0, "gpt: n_embd ", C, " is not divisible by n_head ", H);
  const int64_t past = cache ? cache->length : 0;
  TORCH_CHECK(key_valid.size(0) == B && key_valid.size(1) == past + L, "gpt: key mask must be (", B, ", ", past + L, "), got ",
              key_valid.sizes());
  if (input_ids.numel() == 0) {
    // An empty batch or sequence has empty outputs, as the module-by-module forward gives.
    TORCH_CHECK(!last_only || B == 0, "gpt: no last token in sequences of length 0");
    const int64_t rows = last_only ? 1 : L;
    return {with_logits ? at::zeros({B, rows, w.wte.size(0)}, w.wte.options()) : at::Tensor(), at::zeros({B, rows, C}, w.wte.options())};
  }
  TORCH_CHECK(position_ids.max().item<int64_t>() < w.wpe.size(0), "gpt: position ", position_ids.max().item<int64_t>(),
              " is beyond the model's ", w.wpe.size(0), " positions");
  at::Tensor mask;  // built on first use: decoding one token over a CPU cache does not need it

  at::Tensor x = at::embedding(w.wte, input_ids) + at::embedding(w.wpe, position_ids);
  for (size_t i = 0; i < w.blocks.size(); ++i) {
    const auto& blk = w.blocks[i];
    auto h = layerNorm(x, blk.ln1_w, blk.ln1_b, w.eps);
    auto qkv = conv1d(h, blk.attn_w, blk.attn_b, blk.attn_p).split(C, -1);
    auto q = qkv[0].view({B, L, H, D}).transpose(1, 2);
    auto k = qkv[1].view({B, L, H, D}).transpose(1, 2);
    auto v = qkv[2].view({B, L, H, D}).transpose(1, 2);
    if (cache) {
      TORCH_CHECK(past + L <= cache->k[i].size(2), "gpt: KV cache full");
      cache->k[i].narrow(2, past, L).copy_(k);
      cache->v[i].narrow(2, past, L).copy_(v);
      k = cache->k[i].narrow(2, 0, past + L);
      v = cache->v[i].narrow(2, 0, past + L);
    }
    at::Tensor y;
    if (cache && L == 1 && decodeAttentionApplies(q, k, v)) {
      y = decodeAttention(q, k, v, key_valid);  // (B, 1, C)
    } else {
      if (!mask.defined()) mask = attentionMask(key_valid, L);
      y = scaledDotProductAttention(q, k, v, mask, 0.0, false, std::nullopt, false).transpose(1, 2).reshape({B, L, C});
    }
    x = x + conv1d(y, blk.attn_proj_w, blk.attn_proj_b, blk.attn_proj_p);
    h = layerNorm(x, blk.ln2_w, blk.ln2_b, w.eps);
    h = geluTanh(conv1d(h, blk.fc_w, blk.fc_b, blk.fc_p));
    x = x + conv1d(h, blk.mlp_proj_w, blk.mlp_proj_b, blk.mlp_proj_p);
  }
  if (cache) cache->length = past + L;
  if (last_only) x = x.narrow(1, L - 1, 1);
  x = layerNorm(x, w.lnf_w, w.lnf_b, w.eps);
  return {with_logits ? lmHead(x, w.wte, w.head_p) : at::Tensor(), x};
}

// The weights with their decode-step products packed (skinny_matmul.h), when decoding runs on
// the CPU in float32 with a batch the kernel takes: packing reads and writes the weights once,
// about one decode step's worth of memory traffic, and saves some 40 % of every step after it.
GPTWeights withPackedWeights(const GPTWeights& w, int64_t batch, int64_t steps) {
  GPTWeights p = w;
  const bool applies = w.wte.device().is_cpu() && w.wte.scalar_type() == at::kFloat && batch <= kSkinnyMaxRows && steps >= 4;
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
  const GPTWeights w = o.use_cache ? withPackedWeights(weights, B, o.max_new_tokens) : weights;
  KVCache cache;
  if (o.use_cache) {
    const int64_t H = w.n_head, D = w.wte.size(1) / H;
    for (size_t i = 0; i < w.blocks.size(); ++i) {
      cache.k.push_back(at::empty({B, H, T + o.max_new_tokens, D}, w.wte.options()));
      cache.v.push_back(at::empty({B, H, T + o.max_new_tokens, D}, w.wte.options()));
    }
  }
  const DecodeStep step = [&](const at::Tensor& ids, const at::Tensor& pos, const at::Tensor& valid, KVCache* c) {
    return gptForward(w, ids, pos, valid, c, true).logits.select(1, 0);
  };
  return decodeLoop(step, prompt_ids.to(w.wte.device(), at::kLong), prompt_mask.to(w.wte.device(), at::kBool), o,
                    o.use_cache ? &cache : nullptr);
}

}  // namespace torch_rlhf
