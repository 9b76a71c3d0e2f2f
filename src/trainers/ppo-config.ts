// PPOConfig: PPO's fields (TRL's PPOConfig names), their defaults, rules and the sizes that must fit together.
import { checks, onlineRunFields, resolveConfig, runFields, samplingFields, type RunConfig } from './config.js';
import { defaultsOf, oneOf, rulesOf, type Fields } from './config-fields.js';
import { newTokensFor } from './lengths.js';
import type { KLEstimator } from './ppo-math.js';

/**
 * PPO's fields beyond the ones every run shares (RunConfig: outputDir, learning rate and its schedule, clipping,
 * logging, checkpoints, seed, device, resume, progress, mixed precision).
 */
export interface PPOConfig extends RunConfig {
  /** PPO iterations (rollout + update) to run. Default: 100. */
  numIterations: number;
  /** Prompts per rollout batch. Default: 32. */
  batchSize: number;
  /** Rollouts per optimizer step. Default: 8. */
  miniBatchSize: number;
  /** Rollouts per forward/backward (gradient accumulation within a minibatch). Default: miniBatchSize. */
  microBatchSize: number;
  /** Passes over each rollout batch, reshuffled each epoch. Default: 4. */
  ppoEpochs: number;
  /** Generation: new tokens per answer (TRL's response_length), capped at half the model's positions when not given. Default: 53. */
  maxNewTokens: number;
  /** Prompts longer than this keep their last tokens. Default: the model's blockSize − maxNewTokens. */
  maxPromptLength: number;
  /** Sampling temperature; log-probs use logits / temperature too. Default: 0.7. */
  temperature: number;
  /** Sample from the k most likely tokens (0 = off). Default: 0. */
  topK: number;
  /** Nucleus sampling: the smallest set of tokens with this much probability (1 = off). Default: 1. */
  topP: number;
  /** β of the per-token KL penalty −β·KL(π‖π_ref). Default: 0.05. */
  klCoef: number;
  /** 'k1' (log ratio) or 'k3' (Schulman's non-negative estimator). Default: "k1". */
  klEstimator: KLEstimator;
  /** Adapt β to track targetKl (Ziegler et al.). Default: false. */
  adaptiveKl: boolean;
  /** The KL the adaptive controller steers β towards (with adaptiveKl). Default: 6. */
  targetKl: number;
  /** The adaptive controller's horizon in rollouts (with adaptiveKl). Default: 10000. */
  klHorizon: number;
  /** PPO clip range of the policy ratio. Default: 0.2. */
  cliprange: number;
  /** Clip range of the value predictions. Default: 0.2. */
  cliprangeValue: number;
  /** Weight of the value loss. Default: 0.1. */
  vfCoef: number;
  /** Discount. Default: 1. */
  gamma: number;
  /** GAE λ. Default: 0.95. */
  lam: number;
  /** Whiten the per-token rewards (keeping their mean) before GAE. Default: false. */
  whitenRewards: boolean;
  /** Subtracted from the score of answers that never emit EOS (0 = off). Default: 1. */
  missingEosPenalty: number;
  /** Entropy bonus coefficient. Default: 0. */
  entCoef: number;
  /** Stop an iteration's epochs early when approximate KL exceeds this (0 = never). Default: 0. */
  earlyStopKl: number;
  /** PPO-ptx: weight of the pretraining (SFT) loss mixed into each step (needs ptxDataset). Default: 0. */
  ptxCoef: number;
  /** Write sample answers to samples.jsonl every N iterations (0 = never). Default: 10. */
  sampleEvery: number;
  /** Samples written each time. Default: 4. */
  numSamples: number;
  /**
   * With an evalDataset: a held-out evaluation every N iterations, besides the one before training and
   * the one at the end (0: those two only). Default: 0.
   */
  evalSteps: number;
  /**
   * Seconds a reward function may take to score one batch before the run fails with an error naming it,
   * as requests to a vLLM-style reward server time out (0 = no limit). Default: 300.
   */
  rewardTimeout: number;
}

/** PPOConfig's fields: the shared run fields with PPO's defaults, then PPO's own (TRL's names and defaults). */
export const ppoFields = {
  ...runFields,
  learningRate: { ...runFields.learningRate, default: 3e-6 },
  adamEpsilon: { ...runFields.adamEpsilon, default: 1e-5 },
  loggingSteps: { ...runFields.loggingSteps, default: 1 },
  numIterations: { help: 'PPO iterations (rollout + update) to run.', check: checks.positiveInt, default: 100 },
  batchSize: { help: 'Prompts per rollout batch.', check: checks.positiveInt, default: 32 },
  miniBatchSize: { help: 'Rollouts per optimizer step.', check: checks.positiveInt, default: 8 },
  microBatchSize: {
    help: 'Rollouts per forward/backward (gradient accumulation within a minibatch).',
    check: checks.positiveInt,
    derived: 'miniBatchSize',
    flag: 'number',
  },
  ppoEpochs: { help: 'Passes over each rollout batch, reshuffled each epoch.', check: checks.positiveInt, default: 4 },
  maxNewTokens: {
    help: "Generation: new tokens per answer (TRL's response_length), capped at half the model's positions when not given.",
    check: checks.positiveInt,
    default: 53,
  },
  maxPromptLength: {
    help: 'Prompts longer than this keep their last tokens.',
    check: checks.positiveInt,
    derived: "the model's blockSize − maxNewTokens",
    flag: 'number',
  },
  temperature: { help: 'Sampling temperature; log-probs use logits / temperature too.', check: checks.positive, default: 0.7 },
  ...samplingFields,
  klCoef: { help: 'β of the per-token KL penalty −β·KL(π‖π_ref).', check: checks.nonNegative, default: 0.05 },
  klEstimator: { help: "'k1' (log ratio) or 'k3' (Schulman's non-negative estimator).", check: oneOf(['k1', 'k3']), default: 'k1' },
  adaptiveKl: { help: 'Adapt β to track targetKl (Ziegler et al.).', check: checks.boolean, default: false },
  targetKl: { help: 'The KL the adaptive controller steers β towards (with adaptiveKl).', check: checks.positive, default: 6 },
  klHorizon: { help: "The adaptive controller's horizon in rollouts (with adaptiveKl).", check: checks.positive, default: 10000 },
  cliprange: { help: 'PPO clip range of the policy ratio.', check: checks.positive, default: 0.2 },
  cliprangeValue: { help: 'Clip range of the value predictions.', check: checks.positive, default: 0.2 },
  vfCoef: { help: 'Weight of the value loss.', check: checks.nonNegative, default: 0.1 },
  gamma: { help: 'Discount.', check: checks.unit, default: 1 },
  lam: { help: 'GAE λ.', check: checks.unit, default: 0.95 },
  whitenRewards: { help: 'Whiten the per-token rewards (keeping their mean) before GAE.', check: checks.boolean, default: false },
  missingEosPenalty: { help: 'Subtracted from the score of answers that never emit EOS (0 = off).', check: checks.number, default: 1 },
  entCoef: { help: 'Entropy bonus coefficient.', check: checks.nonNegative, default: 0 },
  earlyStopKl: {
    help: "Stop an iteration's epochs early when approximate KL exceeds this (0 = never).",
    check: checks.nonNegative,
    default: 0,
  },
  ptxCoef: {
    help: 'PPO-ptx: weight of the pretraining (SFT) loss mixed into each step (needs ptxDataset).',
    check: checks.nonNegative,
    default: 0,
  },
  ...onlineRunFields('iterations', 'answers'),
} as const satisfies Fields<PPOConfig>;

export const defaultPPOConfig: Omit<PPOConfig, 'outputDir' | 'maxPromptLength' | 'microBatchSize'> = defaultsOf(ppoFields);

export function resolvePPOConfig(c: Partial<PPOConfig> & { outputDir: string }, blockSize: number): PPOConfig {
  const maxNew = newTokensFor(c.maxNewTokens, defaultPPOConfig.maxNewTokens, blockSize);
  // The derived defaults, as ppoFields describes them.
  const derived = {
    maxNewTokens: maxNew,
    maxPromptLength: Math.max(1, blockSize - maxNew),
    microBatchSize: c.miniBatchSize ?? defaultPPOConfig.miniBatchSize,
  };
  const cfg = resolveConfig<PPOConfig>('PPOConfig', { ...defaultPPOConfig, ...derived }, rulesOf(ppoFields), c);
  if (cfg.maxPromptLength + cfg.maxNewTokens > blockSize)
    throw new Error(
      `PPOConfig: maxPromptLength (${cfg.maxPromptLength}) + maxNewTokens (${cfg.maxNewTokens}) exceed the model's blockSize ` +
        `(${blockSize})`,
    );
  if (cfg.batchSize % cfg.miniBatchSize !== 0)
    throw new Error(`PPOConfig: batchSize (${cfg.batchSize}) must be a multiple of miniBatchSize (${cfg.miniBatchSize})`);
  if (cfg.miniBatchSize % cfg.microBatchSize !== 0)
    throw new Error(`PPOConfig: miniBatchSize (${cfg.miniBatchSize}) must be a multiple of microBatchSize (${cfg.microBatchSize})`);
  return cfg;
}
