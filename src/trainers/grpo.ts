// GRPO (Group Relative Policy Optimization; TRL's GRPOTrainer / GRPOConfig): no critic, the
// group of numGenerations completions of each prompt is the baseline. Advantages are each
// reward minus its group's mean, scaled by the group's (or the batch's) standard deviation;
// the loss is the clipped per-token surrogate, plus beta · k3 KL to a reference when beta > 0,
// aggregated as lossType says (dapo by default: every token of the step weighs the same).
import type { GPT } from '../models/gpt.js';
import type { Tensor } from '../tensor/tensor.js';
import { aggregateLoss, clippedSurrogate, groupAdvantages, klToReference, maskedTokenMean, type GRPOLossType, type ScaleRewards } from './grpo-math.js';
import { groupPolicyDefaults, groupPolicyRules, GroupPolicyTrainer, resolveGroupConfig, type GroupPolicyConfig, type GroupPolicyOptions } from './group-policy.js';

export interface GRPOConfig extends GroupPolicyConfig {
  /** How per-token losses become the step's loss. Default 'dapo'. */
  lossType: GRPOLossType;
  /** The advantages' scaling: by the group's std, the batch's, or none (Dr. GRPO). Default 'group'. */
  scaleRewards: ScaleRewards;
}

export const defaultGRPOConfig: Omit<GRPOConfig, 'outputDir' | 'maxPromptLength' | 'microBatchSize'> = {
  ...groupPolicyDefaults,
  numGenerations: 8,
  beta: 0,
  lossType: 'dapo',
  scaleRewards: 'group',
};

const rules = {
  ...groupPolicyRules,
  lossType: [(v: unknown) => ['grpo', 'bnpo', 'dr_grpo', 'dapo'].includes(v as string), "'grpo', 'bnpo', 'dr_grpo' or 'dapo'"],
  scaleRewards: [(v: unknown) => ['group', 'batch', 'none'].includes(v as string), "'group', 'batch' or 'none'"],
} as const;

export function resolveGRPOConfig(c: Partial<GRPOConfig> & { outputDir: string }, blockSize: number): GRPOConfig {
  return resolveGroupConfig<GRPOConfig>('GRPOConfig', defaultGRPOConfig, rules, c, blockSize);
}

export class GRPOTrainer extends GroupPolicyTrainer<GRPOConfig> {
  protected readonly label = 'grpo';

  constructor(o: GroupPolicyOptions<GRPOConfig> & { model: GPT }) {
    super(o, resolveGRPOConfig(o.config, o.model.config.blockSize));
  }

  protected advantages(rewards: Tensor): { advantages: Tensor; metrics: Record<string, number> } {
    const { advantages, zeroStd } = groupAdvantages(rewards, this.config.numGenerations, this.config.scaleRewards);
    zeroStd.dispose();
    return { advantages, metrics: {} };
  }

  protected microBatchLoss(
    logprobs: Tensor,
    mb: { oldLogprobs: Tensor; refLogprobs: Tensor | null; advantages: Tensor; mask: Tensor },
    step: { tokens: number; sequences: number; microBatches: number },
  ): { loss: Tensor; metrics: Record<string, Tensor> } {
    const c = this.config;
    // With one update per batch the old policy is this one: ratio 1 and gradient −A·∇logp.
    const old = c.numIterations === 1 ? logprobs.detach() : mb.oldLogprobs;
    const s = clippedSurrogate(logprobs, old, mb.advantages, mb.mask, c.epsilon, c.epsilonHigh ?? c.epsilon);
    const metrics: Record<string, Tensor> = { 'clip_ratio/low_mean': s.clipLow, 'clip_ratio/high_mean': s.clipHigh, 'clip_ratio/region_mean': s.clipRegion };
    let perToken = s.perToken;
    if (c.beta > 0) {
      const kl = klToReference(logprobs, mb.refLogprobs!);
      metrics.kl = maskedTokenMean(kl.detach(), mb.mask.float());
      perToken = perToken.add(kl.mul(c.beta));
    }
    let loss = aggregateLoss(perToken, mb.mask, c.lossType, { maxCompletionLength: c.maxCompletionLength, tokensInStep: step.tokens, sequencesInStep: step.sequences });
    // bnpo averages within the micro-batch: the step is the mean of its micro-batches.
    if (c.lossType === 'bnpo') loss = loss.div(step.microBatches);
    return { loss, metrics };
  }
}
