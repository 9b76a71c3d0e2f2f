#include "gpt.h"

#include <c10/core/GradMode.h>

#include <cmath>
#include <limits>

#include "attention.h"
#include "gelu.h"
#include "skinny_matmul.h"

namespace trl {

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

// (B, 1, L, S) bool: query i (absolute position S-L+i) sees valid keys up to itself.
at::Tensor attentionMask(const at::Tensor& key_valid, int64_t L) {
  const int64_t S = key_valid.size(1);
  auto causal = at::ones({L, S}, key_valid.options().dtype(at::kBool)).tril(S - L);
  auto mask = causal.unsqueeze(0) & key_valid.unsqueeze(1);  // (B, L, S)
  // A query with no visible key (a left pad) would give NaN; let it see everything instead.
  // Its output is never used, and this keeps NaN out of the gradients.
  mask = mask | mask.any(-1, true).logical_not();
  return mask.unsqueeze(1);
}

}  // namespace

at::Tensor positionsFromMask(const at::Tensor& mask) {
  return (mask.to(at::kLong).cumsum(1) - 1).clamp_min(0);
}

ForwardOutput gptForward(const GPTWeights& w, const at::Tensor& input_ids, const at::Tensor& position_ids,
                         const at::Tensor& key_valid, KVCache* cache, bool last_only, bool with_logits) {
  TORCH_CHECK(input_ids.dim() == 2, "gpt: input_ids must be (batch, length), got ", input_ids.sizes());
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  const int64_t C = w.wte.size(1), H = w.n_head, D = C / H;
  TORCH_CHECK(C % H == 0, "gpt: n_embd ", C, " is not divisible by n_head ", H);
  const int64_t past = cache ? cache->length : 0;
  TORCH_CHECK(key_valid.size(0) == B && key_valid.size(1) == past + L, "gpt: key mask must be (", B, ", ", past + L,
              "), got ", key_valid.sizes());
  if (input_ids.numel() == 0) {
    // An empty batch or sequence has empty outputs, as the module-by-module forward gives.
    TORCH_CHECK(!last_only || B == 0, "gpt: no last token in sequences of length 0");
    const int64_t rows = last_only ? 1 : L;
    return {with_logits ? at::zeros({B, rows, w.wte.size(0)}, w.wte.options()) : at::Tensor(),
            at::zeros({B, rows, C}, w.wte.options())};
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

namespace {

// Keeps the top-k logits and the smallest set whose probability reaches top_p; the rest −inf.
at::Tensor filterLogits(at::Tensor logits, int64_t top_k, double top_p) {
  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (top_k > 0 && top_k < logits.size(-1)) {
    auto kth = std::get<0>(logits.topk(top_k, -1)).narrow(-1, top_k - 1, 1);
    logits = logits.masked_fill(logits < kth, neg_inf);
  }
  if (top_p < 1.0) {
    auto sorted = logits.sort(-1, /*descending=*/true);
    auto& values = std::get<0>(sorted);
    auto& indices = std::get<1>(sorted);
    auto cum = values.softmax(-1).cumsum(-1);
    // Remove a token when the tokens before it already reach top_p (the first always stays).
    auto remove = (cum - values.softmax(-1)) >= top_p;
    logits = logits.scatter(-1, indices, values.masked_fill(remove, neg_inf));
  }
  return logits;
}

}  // namespace

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

GenerateOutput generate(const GPTWeights& weights, const at::Tensor& prompt_ids, const at::Tensor& prompt_mask,
                        const GenerateOptions& o) {
  c10::NoGradGuard no_grad;
  TORCH_CHECK(prompt_ids.dim() == 2 && prompt_mask.sizes() == prompt_ids.sizes(),
              "generate: prompt ids and mask must both be (batch, length)");
  TORCH_CHECK(o.max_new_tokens >= 0, "generate: maxNewTokens must be >= 0");
  TORCH_CHECK(o.greedy || o.temperature > 0, "generate: temperature must be > 0");
  TORCH_CHECK(o.top_p > 0 && o.top_p <= 1, "generate: topP must be in (0, 1]");
  const auto device = weights.wte.device();
  const int64_t B = prompt_ids.size(0), T = prompt_ids.size(1), V = weights.wte.size(0);
  TORCH_CHECK(T > 0, "generate: empty prompts");
  TORCH_CHECK(T + o.max_new_tokens <= weights.wpe.size(0), "generate: prompt length ", T, " + maxNewTokens ",
              o.max_new_tokens, " exceeds the model's ", weights.wpe.size(0), " positions");
  const GPTWeights w = o.use_cache ? withPackedWeights(weights, B, o.max_new_tokens) : weights;
  auto ids = prompt_ids.to(device, at::kLong);
  auto valid = prompt_mask.to(device, at::kBool);
  TORCH_CHECK(ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < V, "generate: token ids must be in [0, ", V, ")");

  at::Generator gen;
  if (!o.greedy) {
    gen = at::globalContext().defaultGenerator(device).clone();
    if (o.seed.has_value()) gen.set_current_seed(*o.seed);
  }

  KVCache cache;
  const int64_t capacity = T + o.max_new_tokens;
  if (o.use_cache) {
    const int64_t H = w.n_head, D = w.wte.size(1) / H;
    for (size_t i = 0; i < w.blocks.size(); ++i) {
      cache.k.push_back(at::empty({B, H, capacity, D}, w.wte.options()));
      cache.v.push_back(at::empty({B, H, capacity, D}, w.wte.options()));
    }
  }

  auto positions = positionsFromMask(valid);
  auto next_pos = positions.narrow(1, T - 1, 1) + 1;  // (B, 1)
  auto all_ids = ids;
  auto all_valid = valid;
  auto all_pos = positions;
  auto finished = at::zeros({B}, valid.options());
  std::vector<at::Tensor> tokens, masks, logps;

  // First pass over the whole prompt, then one token at a time.
  at::Tensor logits = gptForward(w, ids, positions, valid, o.use_cache ? &cache : nullptr, true).logits.select(1, 0);
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    auto scaled = logits.to(at::kFloat) / (o.greedy ? 1.0 : o.temperature);
    auto logprobs_all = scaled.log_softmax(-1);
    at::Tensor next;
    if (o.greedy) {
      next = logits.argmax(-1);
    } else {
      auto probs = filterLogits(scaled, o.top_k, o.top_p).softmax(-1);
      next = at::multinomial(probs, 1, false, gen).squeeze(-1);
    }
    auto alive = finished.logical_not();
    auto lp = logprobs_all.gather(-1, next.unsqueeze(-1)).squeeze(-1);
    next = next.masked_fill(finished, o.pad_token_id);
    tokens.push_back(next);
    masks.push_back(alive);
    logps.push_back(lp.masked_fill(finished, 0.0));
    if (o.eos_token_id >= 0) finished = finished | next.eq(o.eos_token_id);
    if (step + 1 == o.max_new_tokens || finished.all().item<bool>()) break;

    // Finished rows keep decoding (their outputs are masked), but fed a real token: the pad
    // id may lie outside the model's vocabulary (e.g. a pad added to GPT-2's tokenizer).
    auto next_ids = next.masked_fill(finished, o.eos_token_id >= 0 ? o.eos_token_id : 0).unsqueeze(1);
    all_valid = at::cat({all_valid, at::ones({B, 1}, valid.options())}, 1);
    if (o.use_cache) {
      logits = gptForward(w, next_ids, next_pos, all_valid, &cache, true).logits.select(1, 0);
    } else {
      all_ids = at::cat({all_ids, next_ids}, 1);
      all_pos = at::cat({all_pos, next_pos}, 1);
      logits = gptForward(w, all_ids, all_pos, all_valid, nullptr, true).logits.select(1, 0);
    }
    next_pos = next_pos + 1;
  }
  if (tokens.empty())
    return {at::empty({B, 0}, ids.options()), at::empty({B, 0}, valid.options()), at::empty({B, 0}, w.wte.options().dtype(at::kFloat))};
  return {at::stack(tokens, 1), at::stack(masks, 1), at::stack(logps, 1)};
}

}  // namespace trl
