// RLOOConfig (TRL's RLOOConfig): RLOO's fields beyond the group loop's.
import { checks } from './config.js';
import { groupPolicyDefaults, groupPolicyRules, resolveGroupConfig, type GroupPolicyConfig } from './group-policy-config.js';

export interface RLOOConfig extends GroupPolicyConfig {
  /** Whiten the advantages over the batch (mean 0, std 1). Default false. */
  normalizeAdvantages: boolean;
}

export const defaultRLOOConfig: Omit<RLOOConfig, 'outputDir' | 'maxPromptLength' | 'microBatchSize'> = {
  ...groupPolicyDefaults,
  numGenerations: 2,
  beta: 0.05,
  normalizeAdvantages: false,
};

export function resolveRLOOConfig(c: Partial<RLOOConfig> & { outputDir: string }, blockSize: number): RLOOConfig {
  return resolveGroupConfig<RLOOConfig>('RLOOConfig', defaultRLOOConfig, { ...groupPolicyRules, normalizeAdvantages: checks.boolean }, c, blockSize);
}
