// RLOO (REINFORCE Leave-One-Out; TRL's RLOOTrainer / RLOOConfig): K completions per prompt,
// each completion's baseline the mean reward of the other K − 1. The KL to the reference is
// folded into the sequence reward (r − beta · Σ (log π_old − log π_ref), the first-order
// estimate, as the RLOO paper and TRL), and the loss is the clipped surrogate on the whole
// sequence's ratio exp(Σ logp − Σ logp_old), averaged over the sequences.
import type { GPT } from '../models/gpt.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { groupAdvantages, leaveOneOutAdvantages } from './grpo-math.js';
import { GroupPolicyTrainer, type GroupPolicyOptions } from './group-policy.js';
import { defaultRLOOConfig, resolveRLOOConfig, type RLOOConfig } from './rloo-config.js';

export class RLOOTrainer extends GroupPolicyTrainer<RLOOConfig> {
  protected readonly label = 'rloo';

  constructor(o: GroupPolicyOptions<RLOOConfig> & { model: GPT }) {
    super(o, { kind: 'rloo', defaults: defaultRLOOConfig, resolve: resolveRLOOConfig });
  }

  /** The KL folded into the reward is of the sampling-time log-probs. */
  protected override needsOldLogprobs(): boolean {
    return this.config.numIterations > 1 || this.config.beta > 0;
  }

  protected advantages(
    rewards: Tensor,
    b: { oldLogprobs: Tensor | null; refLogprobs: Tensor | null; completionMask: Tensor },
  ): { advantages: Tensor; metrics: Record<string, number> } {
    return tidy(() => {
      const c = this.config;
      let r = rewards;
      const metrics: Record<string, number> = {};
      if (c.beta > 0) {
        const kl = b.oldLogprobs!.sub(b.refLogprobs!).mul(b.completionMask.float()).sum(1);
        metrics.kl = kl.mean().item();
        r = r.sub(kl.mul(c.beta));
      }
      let a = leaveOneOutAdvantages(r, c.numGenerations);
      metrics.frac_reward_zero_std = groupAdvantages(rewards, c.numGenerations, 'group').zeroStd.float().mean().item();
      if (c.normalizeAdvantages) a = a.sub(a.mean()).div(a.std().add(1e-4));
      return { advantages: a, metrics };
    });
  }

  protected microBatchLoss(
    logprobs: Tensor,
    mb: { oldLogprobs: Tensor | null; advantages: Tensor; mask: Tensor },
    step: { sequences: number },
  ): { loss: Tensor; metrics: Record<string, Tensor> } {
    const c = this.config;
    return tidy(() => {
      const m = mb.mask.float();
      const seq = logprobs.mul(m).sum(1);
      const old = c.numIterations === 1 ? seq.detach() : mb.oldLogprobs!.mul(m).sum(1);
      const ratio = seq.sub(old).exp();
      const hi = 1 + (c.epsilonHigh ?? c.epsilon);
      const lo = 1 - c.epsilon;
      const loss = ratio.mul(mb.advantages).minimum(ratio.clamp(lo, hi).mul(mb.advantages)).neg().sum().div(step.sequences);
      const low = ratio.lt(lo).logicalAnd(mb.advantages.lt(0)).float();
      const high = ratio.gt(hi).logicalAnd(mb.advantages.gt(0)).float();
      return {
        loss,
        metrics: {
          'clip_ratio/low_mean': low.mean(),
          'clip_ratio/high_mean': high.mean(),
          'clip_ratio/region_mean': low.add(high).clamp(0, 1).mean(),
        },
      };
    });
  }
}
