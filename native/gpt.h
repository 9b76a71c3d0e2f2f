// The GPT-2 decoder's forward pass and the whole autoregressive generation loop, natively.
// The TypeScript GPT (src/models/gpt.ts) describes the model and trains it; this is the same
// math for inference without a JS round trip per op or per token. A parity test keeps them equal.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#include "decode_loop.h"
#include "layers.h"
#include "skinny_matmul.h"
#include <optional>
#include <vector>

namespace torch_rlhf {

struct GPTBlockWeights {
  at::Tensor ln1_w, ln1_b, attn_w, attn_b, attn_proj_w, attn_proj_b;
  at::Tensor ln2_w, ln2_b, fc_w, fc_b, mlp_proj_w, mlp_proj_b;  // biases undefined when bias=false
  // The four products' weights packed for decoding (generate() fills them; see skinny_matmul.h).
  PackedWeight attn_p, attn_proj_p, fc_p, mlp_proj_p;
  // LoRA adapters beside the four products (undefined: none); the base weights stay (in, out).
  LoRA attn_lora, attn_proj_lora, fc_lora, mlp_proj_lora;
  // Every weight and adapter tensor (what a checkpointed block differentiates).
  std::vector<at::Tensor> tensors() const;
};

// What a block needs besides its weights. mask (B, 1, L, S) bool, or undefined: built from
// key_valid (B, S) when given, else plain causal attention (a batch padded only at the end).
// Dropout (attention weights and both residual branches, as GPT-2's) applies when train.
struct GPTBlockOptions {
  int64_t n_head = 1;
  double eps = 1e-5;
  at::Tensor mask, key_valid;
  double dropout = 0.0;
  bool train = false;
};

// One pre-LayerNorm block: x (B, L, C) → x + attn(ln_1(x)), then + mlp(ln_2(·)). With a cache the
// block's keys and values go into its layer `index` (decoding). The whole-model forward runs it
// per block, and checkpointed training through gptBlockCheckpointed.
at::Tensor gptBlock(const GPTBlockWeights& blk, const at::Tensor& x, const GPTBlockOptions& o, KVCache* cache = nullptr, size_t index = 0);

// gptBlock with gradient checkpointing (layers.h: checkpointed).
at::Tensor gptBlockCheckpointed(const GPTBlockWeights& blk, const at::Tensor& x, const GPTBlockOptions& o);

// Hugging Face GPT-2 layout: Conv1D weights are (in, out); the LM head is tied to wte.
struct GPTWeights {
  at::Tensor wte, wpe;
  std::vector<GPTBlockWeights> blocks;
  at::Tensor lnf_w, lnf_b;
  PackedWeight head_p;  // wte packed for the LM head when decoding
  int64_t n_head = 1;
  double eps = 1e-5;
};

// input_ids (B, L) int64; position_ids (B, L); key_valid (B, S) bool over all keys so far
// (cache + these L); cache may be null (then S == L). Causal within the sequence.
// with_logits = false skips the LM head (logits undefined): reward and value heads need only
// the hidden states, and the head is the costliest layer of a large-vocabulary model.
ForwardOutput gptForward(const GPTWeights& w, const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& key_valid,
                         KVCache* cache, bool last_only, bool with_logits = true);

// Left-padded prompts' position ids: cumsum(mask) - 1, clamped at 0.

// prompt_ids (B, T) left-padded with prompt_mask (B, T) (true = real token).
GenerateOutput generate(const GPTWeights& w, const at::Tensor& prompt_ids, const at::Tensor& prompt_mask, const GenerateOptions& o);

}  // namespace torch_rlhf
