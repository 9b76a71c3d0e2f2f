// RewardConfig (TRL's RewardConfig): the reward model's fields beyond the shared TrainingArguments.
import { checks, defaultTrainingConfig, resolveConfig, trainingConfigRules, type TrainingConfig } from './config.js';

export interface RewardConfig extends TrainingConfig {
  /** Longest sequence (prompt + answer) in tokens; defaults to the model's blockSize. */
  maxLength: number;
  /** Required score gap: loss −log σ(r_better − r_worse − margin). Default 0. */
  margin: number;
  /** After training, shift the head's bias so the reference answers score mean 0. Default true. */
  normalizeRewards: boolean;
}

export const defaultRewardConfig: Omit<RewardConfig, 'outputDir' | 'maxLength'> = {
  ...defaultTrainingConfig,
  learningRate: 1e-5,
  numTrainEpochs: 1,
  margin: 0,
  normalizeRewards: true,
};

export function resolveRewardConfig(c: Partial<RewardConfig> & { outputDir: string }, blockSize: number): RewardConfig {
  const cfg = resolveConfig<RewardConfig>('RewardConfig', { ...defaultRewardConfig, maxLength: blockSize }, { ...trainingConfigRules, maxLength: checks.positiveInt, margin: checks.number, normalizeRewards: checks.boolean }, c);
  if (cfg.maxLength > blockSize) throw new Error(`RewardConfig: field 'maxLength' (${cfg.maxLength}) exceeds the model's blockSize (${blockSize})`);
  return cfg;
}
