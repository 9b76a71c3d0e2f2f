// The Llama family's decoder (Llama, Qwen2, Mistral) forward pass and generation, natively:
// the same math as the TypeScript trunk (src/models/llama.ts) for inference, with the KV cache
// storing each key/value head once (grouped-query attention reads it for its query heads
// without copies) and the decode step's products on packed weights.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "decode_loop.h"
#include "skinny_matmul.h"

namespace torch_rlhf {

// Hugging Face's layout: every projection (out, in), biases undefined where the model has none.
struct LlamaLayerWeights {
  at::Tensor ln1_w, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
  at::Tensor ln2_w, gate_w, gate_b, up_w, up_b, down_w, down_b;
  PackedWeight q_p, k_p, v_p, o_p, gate_p, up_p, down_p;  // filled for decoding (see gpt.h)
};

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
