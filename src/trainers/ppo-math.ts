// The arithmetic of PPO for RLHF, as TRL and "The N Implementation Details of RLHF with PPO"
// do it. Every function takes tensors shaped (B, T) over response tokens with a mask that is 1
// on real tokens, so sequences of different lengths batch together.
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../tensor/creation.js';
import { stack } from '../tensor/join.js';

/** Mean of x over the masked entries (all dims, or along `dim`). */
export function maskedMean(x: Tensor, mask: Tensor, dim?: number): Tensor {
  return tidy(() => {
    const m = mask.to(x.dtype);
    if (dim === undefined) return x.mul(m).sum().div(m.sum());
    return x.mul(m).sum(dim).div(m.sum(dim));
  });
}

/** Variance over the masked entries; unbiased (Bessel) like TRL's masked_var. */
export function maskedVar(x: Tensor, mask: Tensor, unbiased = true): Tensor {
  return tidy(() => {
    const m = mask.to(x.dtype);
    const mean = maskedMean(x, m);
    const v = maskedMean(x.sub(mean).square(), m);
    if (!unbiased) return v;
    const n = m.sum().item();
    if (n < 2) throw new Error('maskedVar: need at least two masked entries for an unbiased variance');
    return v.mul(n / (n - 1));
  });
}

/** (x − mean) / √(var + 1e-8) over the masked entries; shiftMean=false keeps the mean. */
export function maskedWhiten(x: Tensor, mask: Tensor, shiftMean = true): Tensor {
  return tidy(() => {
    const mean = maskedMean(x, mask);
    const w = x.sub(mean).mul(maskedVar(x, mask).add(1e-8).rsqrt());
    return shiftMean ? w : w.add(mean);
  });
}

export type KLEstimator = 'k1' | 'k3';

/**
 * Per-token KL(π‖π_ref) estimate from the sampled tokens' log-probs (Schulman's estimators):
 * k1 = log π − log π_ref (unbiased, may be negative); k3 = (r − 1) − log r with
 * r = π_ref/π (unbiased and always ≥ 0, lower variance).
 */
export function klPerToken(logprobs: Tensor, refLogprobs: Tensor, estimator: KLEstimator): Tensor {
  return tidy(() => {
    const logRatio = logprobs.sub(refLogprobs);
    if (estimator === 'k1') return logRatio;
    if (estimator === 'k3') return logRatio.neg().expm1().add(logRatio);
    throw new Error(`unknown KL estimator '${String(estimator)}' (expected 'k1' or 'k3')`);
  });
}

/**
 * Per-token rewards: −klCoef·KL at every response token, plus the reward model's score at the
 * last real token of each response. Masked positions are 0.
 */
export function tokenRewards(scores: Tensor, kl: Tensor, mask: Tensor, klCoef: number): { rewards: Tensor; nonScoreReward: Tensor } {
  return tidy(() => {
    const m = mask.to(kl.dtype);
    const nonScoreReward = kl.mul(-klCoef).mul(m);
    // Index of each row's last real token (responses are right-padded).
    const last = mask.long().sum(1).sub(1).clamp(0).unsqueeze(1);
    const rewards = nonScoreReward.scatterAdd(1, last, scores.to(kl.dtype).unsqueeze(1));
    return { rewards, nonScoreReward };
  });
}

/**
 * Generalised advantage estimation over each response, backwards from its end:
 * δ_t = r_t + γ V_{t+1} − V_t, A_t = δ_t + γλ A_{t+1}, with V and r taken as 0 past a
 * sequence's last real token. Returns advantages and returns = advantages + values.
 */
export function gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: number, lam: number): { advantages: Tensor; returns: Tensor } {
  return tidy(() => {
    const m = mask.to(values.dtype);
    const v = values.mul(m);
    const r = rewards.mul(m);
    const T = v.shape[1]!;
    const out: Tensor[] = new Array(T);
    let lastGae = zerosLike(v.select(1, 0));
    for (let t = T - 1; t >= 0; t--) {
      const next = t + 1 < T ? v.select(1, t + 1) : zerosLike(lastGae);
      const delta = r.select(1, t).add(next.mul(gamma)).sub(v.select(1, t));
      lastGae = delta.add(lastGae.mul(gamma * lam)).mul(m.select(1, t));
      out[t] = lastGae;
    }
    const advantages = stack(out, 1);
    return { advantages, returns: advantages.add(v) };
  });
}

/** PPO's clipped surrogate: max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)), averaged over the mask. */
export function policyLoss(
  logprobs: Tensor,
  oldLogprobs: Tensor,
  advantages: Tensor,
  mask: Tensor,
  cliprange: number,
): { loss: Tensor; clipfrac: Tensor; approxKl: Tensor; ratio: Tensor } {
  return tidy(() => {
    const logRatio = logprobs.sub(oldLogprobs);
    const ratio = logRatio.exp();
    const l1 = advantages.neg().mul(ratio);
    const l2 = advantages.neg().mul(ratio.clamp(1 - cliprange, 1 + cliprange));
    return {
      loss: maskedMean(l1.maximum(l2), mask),
      clipfrac: maskedMean(l2.gt(l1).to(logprobs.dtype), mask),
      approxKl: maskedMean(logRatio.square(), mask).mul(0.5),
      ratio: maskedMean(ratio, mask),
    };
  });
}

/** The clipped value loss: ½·max((V − R)², (clip(V, V_old ± ε) − R)²), averaged over the mask. */
export function valueLoss(
  values: Tensor,
  oldValues: Tensor,
  returns: Tensor,
  mask: Tensor,
  cliprangeValue: number,
): { loss: Tensor; clipfrac: Tensor } {
  return tidy(() => {
    const clipped = values.clamp(oldValues.sub(cliprangeValue), oldValues.add(cliprangeValue));
    const l1 = values.sub(returns).square();
    const l2 = clipped.sub(returns).square();
    return { loss: maskedMean(l1.maximum(l2), mask).mul(0.5), clipfrac: maskedMean(l2.gt(l1).to(values.dtype), mask) };
  });
}

/** Entropy of the policy per token from logits (B, T, V): logsumexp(z) − Σ softmax(z)·z. */
export function entropyFromLogits(logits: Tensor): Tensor {
  return tidy(() => logits.logsumexp(-1).sub(logits.softmax(-1).mul(logits).sum(-1)));
}

/** Fraction of the variance of the returns that the values explain (1 is perfect). */
export function explainedVariance(values: Tensor, returns: Tensor, mask: Tensor): number {
  return tidy(() => {
    const varR = maskedVar(returns, mask, false).item();
    if (varR === 0) return Number.NaN;
    return 1 - maskedVar(returns.sub(values), mask, false).item() / varR;
  });
}

/** The KL coefficient of PPO's penalty (PPOConfig.klCoef, TRL's kl_coef) over a run: fixed or adaptive. */
export type KLController = FixedKLController | AdaptiveKLController;

/** A fixed KL coefficient. */
export class FixedKLController {
  constructor(public klCoef: number) {}
  update(_currentKl: number, _nSteps: number): void {}
}

/**
 * Ziegler et al.'s adaptive KL coefficient: nudges klCoef so the measured KL tracks `target`,
 * by at most ±20 % of the error per `horizon` samples.
 */
export class AdaptiveKLController {
  constructor(
    public klCoef: number,
    readonly target: number,
    readonly horizon: number,
  ) {
    if (!(target > 0) || !(horizon > 0)) throw new RangeError('AdaptiveKLController: target and horizon must be > 0');
  }
  update(currentKl: number, nSteps: number): void {
    const error = Math.min(Math.max(currentKl / this.target - 1, -0.2), 0.2);
    this.klCoef *= 1 + (error * nSteps) / this.horizon;
  }
}
