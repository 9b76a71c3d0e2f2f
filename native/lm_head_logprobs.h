// Log-probabilities, entropy and cross entropy of a linear LM head over the vocabulary, computed
// in chunks of positions so that the (positions, vocabulary) float32 logits are never all held
// at once, nor kept for backward: at Qwen2.5's vocabulary (151,936) a position's logits weigh
// 600 KB, and the plain logits → log_softmax → gather keeps two such tensors per position alive
// until backward. Here only the hidden states, the head's weight, the targets and one
// logsumexp (and entropy) per position are saved; backward recomputes the logits tile by tile.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace torch_rlhf {

struct LMHeadLogprobsOptions {
  // The logits are divided by it (PPO and GRPO score tokens at the sampling temperature).
  double temperature = 1.0;
  // How many positions' logits a tile of rows × vocabulary holds (the memory of one step);
  // 0 picks lmHeadDefaultChunk(V).
  int64_t chunk_size = 0;
  // Targets equal to it are skipped: log-prob 0, entropy 0, no gradient, no compute.
  int64_t ignore_index = -100;
  // Which outputs beside the log-probs to compute.
  bool entropy = false;
  bool argmax = false;
  bool logit_sum = false;
};

struct LMHeadLogprobsOutput {
  // (N) log p(target) under softmax(h Wᵀ / temperature); float32 (float64 for float64 inputs).
  at::Tensor logprobs;
  // (N) the distribution's entropy (differentiable), or undefined when not asked for.
  at::Tensor entropy;
  // (N) int64 argmax of the logits (-1 at skipped positions), no gradient; or undefined.
  at::Tensor argmax;
  // (N) Σ over the vocabulary of the logits (divided by the temperature), no gradient; or undefined.
  at::Tensor logit_sum;
};

// Positions per chunk so that one chunk's float32 logits are about 32 MB.
int64_t lmHeadDefaultChunk(int64_t vocab);

// hidden (N, C) floating, weight (V, C) floating (tied or not, trainable or frozen: a weight that
// does not require grad gets no gradient computed), targets (N) integer. The matmul runs in the
// autocast dtype when autocast is on for the device, else in the weight's dtype (the hidden
// states are cast to it, as a frozen bf16 head would); softmax statistics in float32 (float64
// when the inputs are). Differentiable with respect to hidden and weight in grad mode.
LMHeadLogprobsOutput lmHeadLogprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                    const LMHeadLogprobsOptions& options);

}  // namespace torch_rlhf
