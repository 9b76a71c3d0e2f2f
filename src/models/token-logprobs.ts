// Log-probabilities of given tokens under a causal LM without its full logits: the trunk's final
// hidden states at the scored positions only, then the LM head over the vocabulary in chunks of
// positions (nn/lm-head-logprobs.ts). What every trainer needs from the LM head (SFT's cross
// entropy, DPO's sequence log-probs, PPO's and GRPO's per-token log-probs and entropy); GPT.forward
// still returns the logits for whoever wants them.
import { lmHeadLogprobs, lmHeadLogprobsAsync, type LMHeadLogprobs, type LMHeadLogprobsOptions } from '../nn/lm-head-logprobs.js';
import { currentModes, withModes } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ForwardPath, GPT } from './gpt.js';

export interface TokenLogprobsOptions extends LMHeadLogprobsOptions {
  /** (B, T) 1 for real tokens, 0 for padding, as GPT.forward. */
  attentionMask?: Tensor | null;
  /** GPT.forward's choice of implementation. */
  path?: ForwardPath;
  /** The first scored position: position start + j predicts targets[:, j] (default 0). */
  start?: number;
}

/** The LM head of `model` applied to hidden states (B, L, C) at targets (B, L), chunked. */
export function headLogprobs(model: GPT, hidden: Tensor, targets: Tensor, options: LMHeadLogprobsOptions = {}): LMHeadLogprobs {
  return lmHeadLogprobs(hidden, model.lm_head.weight, targets, options);
}

/**
 * log p(targets) (B, L) under `model` given inputIds (B, T): position start + j scores
 * targets[:, j]; targets equal to ignoreIndex (-100) are skipped (log-prob 0) at no cost. With
 * `entropy` (and `argmax`, `logitSum`) the other per-position statistics of lmHeadLogprobs.
 */
export function tokenLogprobs(model: GPT, inputIds: Tensor, targets: Tensor, options: TokenLogprobsOptions = {}): LMHeadLogprobs {
  const { attentionMask, path, start = 0, ...head } = options;
  return tidy(() => {
    const hidden = model.hiddenStates(inputIds, { attentionMask, path });
    const L = targets.shape[1]!;
    return headLogprobs(model, start === 0 && L === hidden.shape[1] ? hidden : hidden.narrow(1, start, L), targets, head);
  });
}

/**
 * tokenLogprobs with the trunk and the LM head on the compute thread (GPT.hiddenStatesAsync,
 * lmHeadLogprobsAsync): what the trainers' steps call, so that the event loop stays free. Grad
 * mode and autocast are those in effect when it is called.
 */
export async function tokenLogprobsAsync(
  model: GPT,
  inputIds: Tensor,
  targets: Tensor,
  options: TokenLogprobsOptions = {},
): Promise<LMHeadLogprobs> {
  const modes = currentModes();
  const { attentionMask, path, start = 0, ...head } = options;
  const hidden = await model.hiddenStatesAsync(inputIds, { attentionMask, path });
  try {
    const L = targets.shape[1]!;
    const scored = start === 0 && L === hidden.shape[1] ? hidden : withModes(modes, () => hidden.narrow(1, start, L));
    try {
      return await withModes(modes, () => lmHeadLogprobsAsync(scored, model.lm_head.weight, targets, head));
    } finally {
      scored.dispose();
    }
  } finally {
    hidden.dispose();
  }
}
