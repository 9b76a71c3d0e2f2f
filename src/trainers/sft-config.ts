// SFTConfig (TRL's SFTConfig): the fields of supervised fine-tuning beyond the shared TrainingArguments.
import { checks, defaultTrainingConfig, resolveConfig, trainingConfigRules, type TrainingConfig } from './config.js';

export interface SFTConfig extends TrainingConfig {
  /** Longest sequence (prompt + answer) in tokens; defaults to the model's blockSize. */
  maxLength: number;
  /** Loss on the answer tokens only (prompt tokens masked). Default true. */
  completionOnlyLoss: boolean;
  /** Concatenate examples into full maxLength blocks instead of padding. Default false. */
  packing: boolean;
}

export const defaultSFTConfig: Omit<SFTConfig, 'outputDir' | 'maxLength'> = {
  ...defaultTrainingConfig,
  learningRate: 2e-5,
  numTrainEpochs: 3,
  completionOnlyLoss: true,
  packing: false,
};

export function resolveSFTConfig(c: Partial<SFTConfig> & { outputDir: string }, blockSize: number): SFTConfig {
  const cfg = resolveConfig<SFTConfig>('SFTConfig', { ...defaultSFTConfig, maxLength: blockSize }, { ...trainingConfigRules, maxLength: checks.positiveInt, completionOnlyLoss: checks.boolean, packing: checks.boolean }, c);
  if (cfg.maxLength > blockSize) throw new Error(`SFTConfig: field 'maxLength' (${cfg.maxLength}) exceeds the model's blockSize (${blockSize})`);
  return cfg;
}
