// The Llama family's decoder (Llama, Qwen2, Mistral) forward pass and generation, natively:
// the same math as the TypeScript trunk (src/models/llama.ts) for inference, with the KV cache
// storing each key/value head once (grouped-query attention reads it for its query heads
// without copies) and the decode step's products on packed weights.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "decode_loop.h"
#include "layers.h"
#include "skinny_matmul.h"

namespace torch_rlhf {

// Hugging Face's layout: every projection (out, in), biases undefined where the model has none.
struct LlamaLayerWeights {
  at::Tensor ln1_w, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
  at::Tensor ln2_w, gate_w, gate_b, up_w, up_b, down_w, down_b;
  PackedWeight q_p, k_p, v_p, o_p, gate_p, up_p, down_p;               // filled for decoding (see gpt.h)
  LoRA q_lora, k_lora, v_lora, o_lora, gate_lora, up_lora, down_lora;  // adapters (undefined: none)
  // Every weight and adapter tensor (what a checkpointed layer differentiates).
  std::vector<at::Tensor> tensors() const;
};

// What a decoder layer needs besides its weights. cos and sin (B, 1, L, head_dim) are RoPE's at
// the layer's positions, in the activations' dtype. mask (B, 1, L, S) bool, or undefined for plain
// causal attention; grouped_mask, when given, is the same mask as (B, 1, rep·L, S) for the
// inference forward's grouped-query attention without repeated keys (see llamaForward).
// Attention dropout applies when train, as transformers' attention_dropout.
struct LlamaLayerOptions {
  int64_t n_head = 1, n_kv_head = 1, head_dim = 1;
  double eps = 1e-6;
  at::Tensor cos, sin, mask, grouped_mask;
  double dropout = 0.0;
  bool train = false;
};

// One decoder layer: x (B, L, C) → x + attn(norm(x)), then + mlp(norm(·)); with a cache its keys
// and values go into layer `index`. The whole-model forward runs it per layer, and checkpointed
// training through llamaLayerCheckpointed.
at::Tensor llamaLayer(const LlamaLayerWeights& l, const at::Tensor& x, const LlamaLayerOptions& o, KVCache* cache = nullptr,
                      size_t index = 0);

// llamaLayer with gradient checkpointing (layers.h: checkpointed).
at::Tensor llamaLayerCheckpointed(const LlamaLayerWeights& l, const at::Tensor& x, const LlamaLayerOptions& o);

struct LlamaWeights {
  at::Tensor embed;     // (V, C)
  at::Tensor norm_w;    // (C)
  at::Tensor head;      // (V, C): lm_head, or embed when tied
  at::Tensor inv_freq;  // (D / 2) float32: RoPE's inverse frequencies, scaling applied
  std::vector<LlamaLayerWeights> layers;
  PackedWeight head_p;
  int64_t n_head = 1, n_kv_head = 1, head_dim = 1, max_positions = 0;
  double eps = 1e-6;
};

// input_ids (B, L); position_ids (B, L); key_valid (B, S) over all keys so far (cache + these L).
ForwardOutput llamaForward(const LlamaWeights& w, const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& key_valid,
                           KVCache* cache, bool last_only, bool with_logits = true);

GenerateOutput llamaGenerate(const LlamaWeights& w, const at::Tensor& prompt_ids, const at::Tensor& prompt_mask, const GenerateOptions& o);

}  // namespace torch_rlhf
