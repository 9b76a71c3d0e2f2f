// The math of the group-sampled policy-gradient methods, GRPO and RLOO, as TRL computes it,
// on tensors: advantages from the rewards of each prompt's group of completions (GRPO's group
// mean and scaling; RLOO's leave-one-out baseline), the clipped per-token surrogate with its
// clip statistics, the KL term to the reference, and the four ways TRL aggregates per-token
// losses (grpo, bnpo, dr_grpo, dapo). Pure functions, tested against hand-computed cases and
// TRL's own values (test/fixtures/trl/).
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

export type GRPOLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
export type ScaleRewards = 'group' | 'batch' | 'none';

/**
 * GRPO's advantages of rewards (N·G,) ordered group by group (the G completions of a prompt
 * together): r − mean of its group, divided by the standard deviation (unbiased, + 1e-4) of
 * the group ('group'), of the whole batch ('batch'), or not at all ('none', Dr. GRPO).
 * `zeroStd` marks the completions whose group's rewards are all equal (no signal).
 */
export function groupAdvantages(rewards: Tensor, groupSize: number, scale: ScaleRewards): { advantages: Tensor; zeroStd: Tensor } {
  return tidy(() => {
    const g = rewards.float().view(-1, groupSize);
    const mean = g.mean(1, true);
    const groupStd = g.std(1, { keepdim: true });
    const centred = g.sub(mean);
    const zeroStd = groupStd.lt(1e-6).expand(-1, groupSize).reshape(-1);
    if (scale === 'none') return { advantages: centred.reshape(-1), zeroStd };
    const std = scale === 'group' ? groupStd : g.std();
    return { advantages: centred.div(std.add(1e-4)).reshape(-1), zeroStd };
  });
}

/** RLOO's advantages: each completion's reward minus the mean of the other K − 1 of its group. */
export function leaveOneOutAdvantages(rewards: Tensor, k: number): Tensor {
  if (k < 2) throw new RangeError(`leaveOneOutAdvantages: a group needs at least 2 completions, got ${k}`);
  return tidy(() => {
    const g = rewards.float().view(-1, k);
    const baseline = g.sum(1, true).sub(g).div(k - 1);
    return g.sub(baseline).reshape(-1);
  });
}

/**
 * The clipped surrogate per token: −min(ρ·A, clip(ρ, 1 − εlow, 1 + εhigh)·A) with
 * ρ = exp(logp − oldLogp), for log-probs (B, T) and sequence advantages (B,). The clip
 * fractions count tokens where the clip bound is active (ρ below 1 − εlow with A < 0, above
 * 1 + εhigh with A > 0), as TRL's clip_ratio/low_mean, high_mean and region_mean.
 */
export function clippedSurrogate(logprobs: Tensor, oldLogprobs: Tensor, advantages: Tensor, mask: Tensor, epsLow: number, epsHigh: number) {
  return tidy(() => {
    const ratio = logprobs.sub(oldLogprobs).exp();
    const a = advantages.unsqueeze(1);
    const loss = ratio.mul(a).minimum(ratio.clamp(1 - epsLow, 1 + epsHigh).mul(a)).neg();
    const m = mask.float();
    const low = ratio.lt(1 - epsLow).logicalAnd(a.lt(0)).float();
    const high = ratio.gt(1 + epsHigh).logicalAnd(a.gt(0)).float();
    const frac = (x: Tensor) => maskedTokenMean(x, m);
    return { perToken: loss, clipLow: frac(low), clipHigh: frac(high), clipRegion: frac(low.add(high).clamp(0, 1)) };
  });
}

/** k3 per token, TRL's GRPO KL: exp(ref − logp) − (ref − logp) − 1 (≥ 0, unbiased for KL(π‖ref)). */
export function klToReference(logprobs: Tensor, refLogprobs: Tensor): Tensor {
  return tidy(() => {
    const d = refLogprobs.sub(logprobs);
    return d.exp().sub(d).sub(1);
  });
}

/** Σ x·m / max(Σ m, 1) over all tokens. */
export function maskedTokenMean(x: Tensor, mask: Tensor): Tensor {
  return tidy(() => x.mul(mask).sum().div(mask.sum().clamp(1)));
}

/**
 * A batch's loss from per-token losses (B, T): 'grpo' averages each sequence's tokens, then
 * the sequences; 'bnpo' averages all tokens of the batch; 'dr_grpo' sums and divides by
 * B · maxCompletionLength (no length bias); 'dapo' sums and divides by `tokensInStep`, the
 * completion tokens of the whole optimizer step (all its micro-batches), so every token weighs
 * the same however the step is split.
 */
export function aggregateLoss(perToken: Tensor, mask: Tensor, type: GRPOLossType, o: { maxCompletionLength: number; tokensInStep: number; sequencesInStep: number }): Tensor {
  return tidy(() => {
    const m = mask.float();
    const summed = perToken.mul(m);
    switch (type) {
      case 'grpo':
        return summed.sum(1).div(m.sum(1).clamp(1)).sum().div(o.sequencesInStep);
      case 'bnpo':
        return summed.sum().div(m.sum().clamp(1));
      case 'dr_grpo':
        return summed.sum().div(o.sequencesInStep * o.maxCompletionLength);
      case 'dapo':
        return summed.sum().div(Math.max(o.tokensInStep, 1));
    }
  });
}
