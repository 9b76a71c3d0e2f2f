// GRPOConfig (TRL's GRPOConfig): GRPO's fields beyond the group loop's.
import { checks } from './config.js';
import { defaultsOf, oneOf, type Fields } from './config-fields.js';
import type { GRPOLossType, ScaleRewards } from './grpo-math.js';
import { groupPolicyFields, resolveGroupConfig, type GroupPolicyConfig } from './group-policy-config.js';

export interface GRPOConfig extends GroupPolicyConfig {
  /** How per-token losses become the step's loss. Default: "dapo". */
  lossType: GRPOLossType;
  /** The advantages' scaling: by the group's std, the batch's, or none (Dr. GRPO). Default: "group". */
  scaleRewards: ScaleRewards;
  /** Multiply the per-token KL by the importance ratio (unbiased off-policy), as TRL. Default: true. */
  useBiasCorrectionKl: boolean;
}

/** GRPOConfig's fields: the group loop's with GRPO's group size and β (TRL's), then GRPO's own. */
export const grpoFields = {
  ...groupPolicyFields,
  numGenerations: { ...groupPolicyFields.numGenerations, default: 8 },
  beta: { ...groupPolicyFields.beta, default: 0 },
  lossType: { help: "How per-token losses become the step's loss.", check: oneOf(['grpo', 'bnpo', 'dr_grpo', 'dapo']), default: 'dapo' },
  scaleRewards: {
    help: "The advantages' scaling: by the group's std, the batch's, or none (Dr. GRPO).",
    check: oneOf(['group', 'batch', 'none']),
    default: 'group',
  },
  useBiasCorrectionKl: {
    help: 'Multiply the per-token KL by the importance ratio (unbiased off-policy), as TRL.',
    check: checks.boolean,
    default: true,
  },
} as const satisfies Fields<GRPOConfig>;

export const defaultGRPOConfig: Omit<GRPOConfig, 'outputDir' | 'maxPromptLength' | 'microBatchSize'> = defaultsOf(grpoFields);

export function resolveGRPOConfig(c: Partial<GRPOConfig> & { outputDir: string }, blockSize: number): GRPOConfig {
  return resolveGroupConfig<GRPOConfig>('GRPOConfig', defaultGRPOConfig, grpoFields, c, blockSize);
}
