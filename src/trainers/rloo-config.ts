// RLOOConfig (TRL's RLOOConfig): RLOO's fields beyond the group loop's.
import { checks } from './config.js';
import { defaultsOf, type Fields } from './config-fields.js';
import { groupPolicyFields, resolveGroupConfig, type GroupPolicyConfig } from './group-policy-config.js';

export interface RLOOConfig extends GroupPolicyConfig {
  /** Whiten the advantages over the batch (mean 0, std 1). Default: false. */
  normalizeAdvantages: boolean;
}

/** RLOOConfig's fields: the group loop's with RLOO's group size and β (TRL's), then RLOO's own. */
export const rlooFields = {
  ...groupPolicyFields,
  numGenerations: { ...groupPolicyFields.numGenerations, default: 2 },
  beta: { ...groupPolicyFields.beta, default: 0.05 },
  normalizeAdvantages: { help: 'Whiten the advantages over the batch (mean 0, std 1).', check: checks.boolean, default: false },
} as const satisfies Fields<RLOOConfig>;

export const defaultRLOOConfig: Omit<RLOOConfig, 'outputDir' | 'maxPromptLength' | 'microBatchSize'> = defaultsOf(rlooFields);

export function resolveRLOOConfig(c: Partial<RLOOConfig> & { outputDir: string }, blockSize: number): RLOOConfig {
  return resolveGroupConfig<RLOOConfig>('RLOOConfig', defaultRLOOConfig, rlooFields, c, blockSize);
}
