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
 * the group ('group'), of the whole batch ('batch'), or not at all ('none', Dr. GRPO). A NaN
 * reward (no reward applied to that completion) is left out of the means and deviations and
 * gets advantage 0, as TRL's nanmean and nanstd. `zeroStd` marks the completions whose
 * deviation (the group's, or the batch's with 'batch') is 0: no signal.
 */
export function groupAdvantages(rewards: Tensor, groupSize: number, scale: ScaleRewards): { advantages: Tensor; zeroStd: Tensor } {
  return tidy(() => {
    const g = rewards.float().view(-1, groupSize);
    const valid = g.isnan().logicalNot();
    const v = valid.float();
    const x = g.where(valid, 0);
    const nanStd = (centred: Tensor, n: Tensor, dim?: number) =>
      dim === undefined
        ? centred.mul(v).square().sum().div(n.sub(1).clamp(1)).sqrt()
        : centred.mul(v).square().sum(dim, true).div(n.sub(1).clamp(1)).sqrt();
    const count = v.sum(1, true);
    const centred = x.sub(x.sum(1, true).div(count.clamp(1)));
    let std: Tensor | null = null;
    if (scale === 'group') std = nanStd(centred, count, 1);
    else {
      const all = v.sum();
      const batchStd = nanStd(x.sub(x.sum().div(all.clamp(1))), all);
      if (scale === 'batch') std = batchStd;
    }
    const spread = scale === 'batch' ? std!.expand(g.shape[0]!, groupSize) : nanStd(centred, count, 1).expand(-1, groupSize);
    const zeroStd = spread.lt(1e-6).reshape(-1);
    const scaled = std === null ? centred : centred.div(std.add(1e-4));
    return { advantages: scaled.where(valid, 0).reshape(-1), zeroStd };
  });
}

/** Mean and unbiased standard deviation of the non-NaN values (TRL's nanmean and nanstd). */
export function nanMeanStd(xs: readonly number[]): { mean: number; std: number } {
  const ok = xs.filter((x) => !Number.isNaN(x));
  const mean = ok.reduce((a, b) => a + b, 0) / Math.max(ok.length, 1);
  const std = ok.length > 1 ? Math.sqrt(ok.reduce((a, b) => a + (b - mean) ** 2, 0) / (ok.length - 1)) : Number.NaN;
  return { mean, std };
}

/**
 * RLOO's advantages: each completion's reward minus the mean of the other scorable ones of its
 * group (TRL: NaN rewards drop out of the baseline; a completion without reward, or alone in
 * its group with one, gets 0).
 */
export function leaveOneOutAdvantages(rewards: Tensor, k: number): Tensor {
  if (k < 2) throw new RangeError(`leaveOneOutAdvantages: a group needs at least 2 completions, got ${k}`);
  return tidy(() => {
    const g = rewards.float().view(-1, k);
    const valid = g.isnan().logicalNot();
    const x = g.where(valid, 0);
    const others = valid.float().sum(1, true).sub(1);
    const baseline = x.sum(1, true).sub(x).div(others.clamp(1));
    return x
      .sub(baseline)
      .where(valid.logicalAnd(others.gt(0)), 0)
      .reshape(-1);
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
    const loss = ratio
      .mul(a)
      .minimum(ratio.clamp(1 - epsLow, 1 + epsHigh).mul(a))
      .neg();
    const m = mask.float();
    const low = ratio
      .lt(1 - epsLow)
      .logicalAnd(a.lt(0))
      .float();
    const high = ratio
      .gt(1 + epsHigh)
      .logicalAnd(a.gt(0))
      .float();
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
export function aggregateLoss(
  perToken: Tensor,
  mask: Tensor,
  type: GRPOLossType,
  o: { maxCompletionLength: number; tokensInStep: number; sequencesInStep: number },
): Tensor {
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

/** What GRPO's loss needs of the config. */
export interface GRPOLossOptions {
  lossType: GRPOLossType;
  beta: number;
  epsilon: number;
  epsilonHigh: number;
  maxCompletionLength: number;
  /** Multiply the KL by the importance ratio (TRL's use_bias_correction_kl, default true there). */
  useBiasCorrectionKl: boolean;
}

/**
 * GRPO's loss for one micro-batch (TRL's GRPOTrainer._compute_loss): the clipped surrogate per
 * token plus beta · k3 KL, aggregated by lossType for this micro-batch's share of the optimizer
 * step (`step`: the step's completion tokens, sequences and micro-batches), with TRL's metrics.
 * `oldLogprobs` null means on-policy (one update per batch): the ratio is 1.
 */
export function grpoLoss(
  logprobs: Tensor,
  mb: { oldLogprobs: Tensor | null; refLogprobs: Tensor | null; advantages: Tensor; mask: Tensor },
  o: GRPOLossOptions,
  step: { tokens: number; sequences: number; microBatches: number },
): { loss: Tensor; metrics: Record<string, Tensor> } {
  return tidy(() => {
    const old = mb.oldLogprobs ?? logprobs.detach();
    const s = clippedSurrogate(logprobs, old, mb.advantages, mb.mask, o.epsilon, o.epsilonHigh);
    const metrics: Record<string, Tensor> = {
      'clip_ratio/low_mean': s.clipLow,
      'clip_ratio/high_mean': s.clipHigh,
      'clip_ratio/region_mean': s.clipRegion,
    };
    let perToken = s.perToken;
    if (o.beta > 0) {
      let kl = klToReference(logprobs, mb.refLogprobs!);
      // The samples came from the old policy: the ratio makes the KL estimate unbiased for this one.
      if (o.useBiasCorrectionKl) kl = kl.mul(logprobs.sub(old).exp());
      metrics.kl = maskedTokenMean(kl.detach(), mb.mask.float());
      perToken = perToken.add(kl.mul(o.beta));
    }
    let loss = aggregateLoss(perToken, mb.mask, o.lossType, {
      maxCompletionLength: o.maxCompletionLength,
      tokensInStep: step.tokens,
      sequencesInStep: step.sequences,
    });
    // bnpo averages within the micro-batch: the step is the mean of its micro-batches.
    if (o.lossType === 'bnpo') loss = loss.div(step.microBatches);
    return { loss, metrics };
  });
}
