#include "decode_loop.h"

#include <c10/core/GradMode.h>

#include <limits>

namespace torch_rlhf {

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

KVCache KVCache::allocate(size_t layers, int64_t B, int64_t heads, int64_t capacity, int64_t D, const at::TensorOptions& options) {
  KVCache cache;
  for (size_t i = 0; i < layers; ++i) {
    cache.k.push_back(at::empty({B, heads, capacity, D}, options));
    cache.v.push_back(at::empty({B, heads, capacity, D}, options));
  }
  return cache;
}

void KVCache::append(size_t layer, at::Tensor& k_new, at::Tensor& v_new, const char* who) {
  const int64_t L = k_new.size(2);
  TORCH_CHECK(length + L <= k[layer].size(2), who, ": KV cache full");
  k[layer].narrow(2, length, L).copy_(k_new);
  v[layer].narrow(2, length, L).copy_(v_new);
  k_new = k[layer].narrow(2, 0, length + L);
  v_new = v[layer].narrow(2, 0, length + L);
}

void KVCache::repeatRows(int64_t times) {
  if (times == 1) return;
  for (auto* layers : {&k, &v})
    for (auto& t : *layers) {
      auto repeated = at::empty({t.size(0) * times, t.size(1), t.size(2), t.size(3)}, t.options());
      repeated.narrow(2, 0, length).copy_(t.narrow(2, 0, length).repeat_interleave(times, 0));
      t = repeated;
    }
}

void checkForwardInputs(const char* who, const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& key_valid,
                        int64_t past, int64_t max_positions) {
  TORCH_CHECK(input_ids.dim() == 2, who, ": input_ids must be (batch, length), got ", input_ids.sizes());
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  TORCH_CHECK(key_valid.size(0) == B && key_valid.size(1) == past + L, who, ": key mask must be (", B, ", ", past + L, "), got ",
              key_valid.sizes());
  if (input_ids.numel() == 0) return;
  const int64_t last = position_ids.max().item<int64_t>();
  TORCH_CHECK(last < max_positions, who, ": position ", last, " is beyond the model's ", max_positions, " positions");
}

ForwardOutput emptyForwardOutput(const char* who, int64_t B, int64_t L, bool last_only, bool with_logits, int64_t vocab, int64_t hidden,
                                 const at::TensorOptions& options) {
  TORCH_CHECK(!last_only || B == 0, who, ": no last token in sequences of length 0");
  const int64_t rows = last_only ? 1 : L;
  return {with_logits ? at::zeros({B, rows, vocab}, options) : at::Tensor(), at::zeros({B, rows, hidden}, options)};
}

at::Tensor positionsFromMask(const at::Tensor& mask) { return (mask.to(at::kLong).cumsum(1) - 1).clamp_min(0); }

void checkGenerateInputs(const at::Tensor& prompt_ids, const at::Tensor& prompt_mask, const GenerateOptions& o, int64_t vocab,
                         int64_t positions) {
  TORCH_CHECK(prompt_ids.dim() == 2 && prompt_mask.sizes() == prompt_ids.sizes(),
              "generate: prompt ids and mask must both be (batch, length)");
  TORCH_CHECK(o.max_new_tokens >= 0, "generate: maxNewTokens must be >= 0");
  TORCH_CHECK(o.greedy || o.temperature > 0, "generate: temperature must be > 0");
  TORCH_CHECK(o.top_p > 0 && o.top_p <= 1, "generate: topP must be in (0, 1]");
  TORCH_CHECK(o.num_return_sequences >= 1, "generate: numReturnSequences must be >= 1, got ", o.num_return_sequences);
  const int64_t T = prompt_ids.size(1);
  TORCH_CHECK(T > 0, "generate: empty prompts");
  TORCH_CHECK(T + o.max_new_tokens <= positions, "generate: prompt length ", T, " + maxNewTokens ", o.max_new_tokens,
              " exceeds the model's ", positions, " positions");
  TORCH_CHECK(prompt_ids.min().item<int64_t>() >= 0 && prompt_ids.max().item<int64_t>() < vocab, "generate: token ids must be in [0, ",
              vocab, ")");
}

GenerateOutput decodeLoop(const DecodeStep& step, const at::Tensor& ids, const at::Tensor& valid, const GenerateOptions& o,
                          KVCache* cache) {
  c10::NoGradGuard no_grad;
  const auto device = ids.device();
  const int64_t G = o.num_return_sequences, B = ids.size(0) * G, T = ids.size(1);
  at::Generator gen;
  if (!o.greedy) {
    gen = at::globalContext().defaultGenerator(device).clone();
    if (o.seed.has_value()) gen.set_current_seed(*o.seed);
  }

  // The distinct prompts once, then each row's state repeated G times: B rows from here on.
  const auto prompt_pos = positionsFromMask(valid);
  at::Tensor logits = step(ids, prompt_pos, valid, cache);
  const auto repeat = [G](const at::Tensor& t) { return G == 1 ? t : t.repeat_interleave(G, 0); };
  logits = repeat(logits);
  if (cache) cache->repeatRows(G);
  const auto positions = repeat(prompt_pos);
  auto next_pos = positions.narrow(1, T - 1, 1) + 1;  // (B, 1)
  auto all_ids = repeat(ids);
  auto all_valid = repeat(valid);
  auto all_pos = positions;
  auto finished = at::zeros({B}, valid.options());
  const auto eos = at::tensor(o.eos_token_ids, ids.options());
  std::vector<at::Tensor> tokens, masks, logps;

  // Then one token at a time.
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
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
    if (o.on_token) o.on_token(next.to(at::kCPU));
    if (!o.eos_token_ids.empty()) finished = finished | at::isin(next, eos);
    if (i + 1 == o.max_new_tokens || finished.all().item<bool>()) break;

    // Finished rows keep decoding (their outputs are masked), but fed a real token: the pad
    // id may lie outside the model's vocabulary (e.g. a pad added to GPT-2's tokenizer).
    auto next_ids = next.masked_fill(finished, o.eos_token_ids.empty() ? 0 : o.eos_token_ids.front()).unsqueeze(1);
    all_valid = at::cat({all_valid, at::ones({B, 1}, valid.options())}, 1);
    if (cache) {
      logits = step(next_ids, next_pos, all_valid, cache);
    } else {
      all_ids = at::cat({all_ids, next_ids}, 1);
      all_pos = at::cat({all_pos, next_pos}, 1);
      logits = step(all_ids, all_pos, all_valid, nullptr);
    }
    next_pos = next_pos + 1;
  }
  if (tokens.empty())
    return {at::empty({B, 0}, ids.options()), at::empty({B, 0}, valid.options()), at::empty({B, 0}, logits.options().dtype(at::kFloat))};
  return {at::stack(tokens, 1), at::stack(masks, 1), at::stack(logps, 1)};
}

}  // namespace torch_rlhf
