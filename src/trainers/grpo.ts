// GRPO (Group Relative Policy Optimization; TRL's GRPOTrainer / GRPOConfig): no critic, the
// group of numGenerations completions of each prompt is the baseline. Advantages are each
// reward minus its group's mean, scaled by the group's (or the batch's) standard deviation;
// the loss is the clipped per-token surrogate, plus beta · k3 KL to a reference when beta > 0,
// aggregated as lossType says (dapo by default: every token of the step weighs the same).
import type { GPT } from '../models/gpt.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { groupAdvantages, grpoLoss } from './grpo-math.js';
import { GroupPolicyTrainer, type GroupPolicyOptions } from './group-policy.js';
import { defaultGRPOConfig, resolveGRPOConfig, type GRPOConfig } from './grpo-config.js';

export class GRPOTrainer extends GroupPolicyTrainer<GRPOConfig> {
  protected readonly label = 'grpo';

  constructor(o: GroupPolicyOptions<GRPOConfig> & { model: GPT }) {
    super(o, { kind: 'grpo', defaults: defaultGRPOConfig, resolve: resolveGRPOConfig });
  }

  protected advantages(rewards: Tensor): { advantages: Tensor; metrics: Record<string, number> } {
    return tidy(() => {
      const { advantages, zeroStd } = groupAdvantages(rewards, this.config.numGenerations, this.config.scaleRewards);
      return { advantages, metrics: { frac_reward_zero_std: zeroStd.float().mean().item() } };
    });
  }

  protected microBatchLoss(
    logprobs: Tensor,
    mb: { oldLogprobs: Tensor | null; refLogprobs: Tensor | null; advantages: Tensor; mask: Tensor },
    step: { tokens: number; sequences: number; microBatches: number },
  ): { loss: Tensor; metrics: Record<string, Tensor> } {
    const c = this.config;
    // With one update per batch the old policy is this one: ratio 1 and gradient −A·∇logp.
    const old = c.numIterations === 1 ? null : mb.oldLogprobs;
    return grpoLoss(
      logprobs,
      { ...mb, oldLogprobs: old },
      {
        lossType: c.lossType,
        beta: c.beta,
        epsilon: c.epsilon,
        epsilonHigh: c.epsilonHigh ?? c.epsilon,
        maxCompletionLength: c.maxCompletionLength,
        useBiasCorrectionKl: c.useBiasCorrectionKl,
      },
      step,
    );
  }
}
