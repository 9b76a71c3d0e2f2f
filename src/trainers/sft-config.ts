// SFTConfig (TRL's SFTConfig): the fields of supervised fine-tuning beyond the shared TrainingArguments.
import { checkMaxLength, checks, maxLengthField, resolveConfig, trainingFields, type TrainingConfig } from './config.js';
import { defaultsOf, rulesOf, type Fields } from './config-fields.js';

export interface SFTConfig extends TrainingConfig {
  /** Longest sequence (prompt + answer) in tokens. Default: the model's blockSize. */
  maxLength: number;
  /** Loss on the answer tokens only (prompt tokens masked). Default: true. */
  completionOnlyLoss: boolean;
  /** Concatenate examples into full maxLength blocks instead of padding. Default: false. */
  packing: boolean;
}

/** SFTConfig's fields: help, check and default of each (TRL's learning rate and epochs). */
export const sftFields = {
  ...trainingFields,
  learningRate: { ...trainingFields.learningRate, default: 2e-5 },
  numTrainEpochs: { ...trainingFields.numTrainEpochs, default: 3 },
  maxLength: maxLengthField,
  completionOnlyLoss: { help: 'Loss on the answer tokens only (prompt tokens masked).', check: checks.boolean, default: true },
  packing: { help: 'Concatenate examples into full maxLength blocks instead of padding.', check: checks.boolean, default: false },
} as const satisfies Fields<SFTConfig>;

export const defaultSFTConfig: Omit<SFTConfig, 'outputDir' | 'maxLength'> = defaultsOf(sftFields);

export function resolveSFTConfig(c: Partial<SFTConfig> & { outputDir: string }, blockSize: number): SFTConfig {
  const cfg = resolveConfig<SFTConfig>('SFTConfig', { ...defaultSFTConfig, maxLength: blockSize }, rulesOf(sftFields), c);
  checkMaxLength('SFTConfig', cfg.maxLength, blockSize);
  return cfg;
}
