// RewardConfig (TRL's RewardConfig): the reward model's fields beyond the shared TrainingArguments.
import { checkMaxLength, checks, maxLengthField, resolveConfig, trainingFields, type TrainingConfig } from './config.js';
import { defaultsOf, rulesOf, type Fields } from './config-fields.js';

export interface RewardConfig extends TrainingConfig {
  /** Longest sequence (prompt + answer) in tokens. Default: the model's blockSize. */
  maxLength: number;
  /** Required score gap: loss −log σ(r_better − r_worse − margin). Default: 0. */
  margin: number;
  /** After training, shift the head's bias so the reference answers score mean 0. Default: true. */
  normalizeRewards: boolean;
}

/** RewardConfig's fields: help, check and default of each (TRL's learning rate and epochs). */
export const rewardFields = {
  ...trainingFields,
  learningRate: { ...trainingFields.learningRate, default: 1e-5 },
  maxLength: maxLengthField,
  margin: { help: 'Required score gap: loss −log σ(r_better − r_worse − margin).', check: checks.number, default: 0 },
  normalizeRewards: {
    help: "After training, shift the head's bias so the reference answers score mean 0.",
    check: checks.boolean,
    default: true,
  },
} as const satisfies Fields<RewardConfig>;

export const defaultRewardConfig: Omit<RewardConfig, 'outputDir' | 'maxLength'> = defaultsOf(rewardFields);

export function resolveRewardConfig(c: Partial<RewardConfig> & { outputDir: string }, blockSize: number): RewardConfig {
  const cfg = resolveConfig<RewardConfig>('RewardConfig', { ...defaultRewardConfig, maxLength: blockSize }, rulesOf(rewardFields), c);
  checkMaxLength('RewardConfig', cfg.maxLength, blockSize);
  return cfg;
}
