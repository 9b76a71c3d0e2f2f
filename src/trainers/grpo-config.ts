// GRPOConfig (TRL's GRPOConfig): GRPO's fields beyond the group loop's.
import { checks } from './config.js';
import type { GRPOLossType, ScaleRewards } from './grpo-math.js';
import { groupPolicyDefaults, groupPolicyRules, resolveGroupConfig, type GroupPolicyConfig } from './group-policy-config.js';

export interface GRPOConfig extends GroupPolicyConfig {
  /** How per-token losses become the step's loss. Default 'dapo'. */
  lossType: GRPOLossType;
  /** The advantages' scaling: by the group's std, the batch's, or none (Dr. GRPO). Default 'group'. */
  scaleRewards: ScaleRewards;
  /** Multiply the per-token KL by the importance ratio (unbiased off-policy). Default true, as TRL. */
  useBiasCorrectionKl: boolean;
}

export const defaultGRPOConfig: Omit<GRPOConfig, 'outputDir' | 'maxPromptLength' | 'microBatchSize'> = {
  ...groupPolicyDefaults,
  numGenerations: 8,
  beta: 0,
  lossType: 'dapo',
  scaleRewards: 'group',
  useBiasCorrectionKl: true,
};

const rules = {
  ...groupPolicyRules,
  lossType: [(v: unknown) => ['grpo', 'bnpo', 'dr_grpo', 'dapo'].includes(v as string), "'grpo', 'bnpo', 'dr_grpo' or 'dapo'"],
  scaleRewards: [(v: unknown) => ['group', 'batch', 'none'].includes(v as string), "'group', 'batch' or 'none'"],
  useBiasCorrectionKl: checks.boolean,
} as const;

export function resolveGRPOConfig(c: Partial<GRPOConfig> & { outputDir: string }, blockSize: number): GRPOConfig {
  return resolveGroupConfig<GRPOConfig>('GRPOConfig', defaultGRPOConfig, rules, c, blockSize);
}
