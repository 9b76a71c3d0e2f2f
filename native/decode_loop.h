// What every architecture's native generation shares: the KV cache, the options, the outputs,
// the input checks, and the sampling loop itself (temperature, top-k, top-p, greedy, EOS,
// log-probs, padding of finished rows). Each architecture supplies one decode step, its forward
// pass for the new tokens returning the last position's logits.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace torch_rlhf {

// Keys and values of every layer, preallocated for `capacity` positions.
struct KVCache {
  std::vector<at::Tensor> k, v;  // (B, heads stored, capacity, D)
  int64_t length = 0;

  // `layers` layers of (B, heads, capacity, D) slots.
  static KVCache allocate(size_t layers, int64_t B, int64_t heads, int64_t capacity, int64_t D, const at::TensorOptions& options);
  // Writes layer `layer`'s new keys and values (B, heads, L, D) after the `length` cached ones and
  // replaces k and v with all of that layer's keys and values so far; `who` names the model in errors.
  void append(size_t layer, at::Tensor& k_new, at::Tensor& v_new, const char* who);
  // Repeats every row `times` times in place of it (rows b0, b0, …, b1, …), the cached positions
  // only; the capacity stays.
  void repeatRows(int64_t times);
};

struct ForwardOutput {
  at::Tensor logits;  // (B, L, V), or (B, 1, V) when last_only
  at::Tensor hidden;  // (B, L, C) after the final norm
};

// Checks a forward's inputs, ids (B, L) at positions (B, L) with key_valid (B, past + L), against a
// model of `max_positions` positions; `who` names the model in errors.
void checkForwardInputs(const char* who, const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& key_valid,
                        int64_t past, int64_t max_positions);

// The outputs of an empty batch or sequence, as the module-by-module forward gives: logits
// (B, rows, vocab) when with_logits and hidden (B, rows, hidden), rows 1 when last_only else L.
ForwardOutput emptyForwardOutput(const char* who, int64_t B, int64_t L, bool last_only, bool with_logits, int64_t vocab, int64_t hidden,
                                 const at::TensorOptions& options);

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  double temperature = 1.0;
  int64_t top_k = 0;   // 0: off
  double top_p = 1.0;  // 1: off
  bool greedy = false;
  std::vector<int64_t> eos_token_ids;  // any of them ends a sequence (none: run to max_new_tokens)
  int64_t pad_token_id = 0;
  std::optional<uint64_t> seed;
  bool use_cache = true;
  // Continuations per prompt (transformers' num_return_sequences): each prompt is prefilled once,
  // then its KV cache and last logits are repeated; output rows b0, b0, …, b1, … as transformers'.
  int64_t num_return_sequences = 1;
  // Streaming: called after each step with that step's tokens (B,) int64 on the CPU, the pad id
  // for rows already finished. Empty (the default): no copy, no call.
  std::function<void(const at::Tensor& next)> on_token;
};

struct GenerateOutput {
  // B · num_return_sequences rows each.
  at::Tensor tokens;         // (B, N) int64, pad after a sequence's EOS
  at::Tensor response_mask;  // (B, N) bool: true up to and including EOS
  at::Tensor logprobs;       // (B, N) float32: log p(token) under softmax(logits / temperature), 0 where masked
};

// (B, L) positions counted over the real tokens (left padding aware), 0 for pads.
at::Tensor positionsFromMask(const at::Tensor& mask);

// Logits (B, V) at the last of `ids` (B, L) at `positions` (B, L), with `key_valid` (B, S)
// over all keys so far: with a cache, only the new tokens; without one, the whole sequence.
using DecodeStep =
    std::function<at::Tensor(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& key_valid, KVCache* cache)>;

// Checks prompts (B, T) and options against a model of `vocab` ids and `positions` positions.
void checkGenerateInputs(const at::Tensor& prompt_ids, const at::Tensor& prompt_mask, const GenerateOptions& o, int64_t vocab,
                         int64_t positions);

// Samples up to max_new_tokens after left-padded prompts `ids` (B, T) with mask `valid`, on
// `device`; `cache` is preallocated for T + max_new_tokens positions, or null when use_cache is off.
GenerateOutput decodeLoop(const DecodeStep& step, const at::Tensor& ids, const at::Tensor& valid, const GenerateOptions& o, KVCache* cache);

}  // namespace torch_rlhf
