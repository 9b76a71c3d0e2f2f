// PPOConfig: PPO's fields (TRL's PPOConfig names), their defaults, rules and the sizes that must fit together.
import { checks, resolveConfig, runDefaults, trainingConfigRules, type RunConfig } from './config.js';
import { newTokensFor } from './lengths.js';
import type { KLEstimator } from './ppo-math.js';

/** PPO's fields beyond the ones every run shares (RunConfig: outputDir, learning rate and its schedule, clipping, logging, checkpoints, seed, device, resume, progress, mixed precision). */
export interface PPOConfig extends RunConfig {
  /** PPO iterations (rollout + update) to run. Default 100. */
  numIterations: number;
  /** Prompts per rollout batch. Default 32. */
  batchSize: number;
  /** Rollouts per optimizer step. Default 8. */
  miniBatchSize: number;
  /** Rollouts per forward/backward (gradient accumulation within a minibatch). Default = miniBatchSize. */
  microBatchSize: number;
  /** Passes over each rollout batch, reshuffled each epoch. Default 4. */
  ppoEpochs: number;
  /** Generation: new tokens per answer (default 53, TRL's response_length, capped at half the model's positions when not given). */
  maxNewTokens: number;
  /** Prompts longer than this keep their last tokens. Default: blockSize − maxNewTokens. */
  maxPromptLength: number;
  /** Sampling temperature; log-probs use logits / temperature too. Default 0.7. */
  temperature: number;
  topK: number;
  topP: number;
  /** β of the per-token KL penalty −β·KL(π‖π_ref). Default 0.05. */
  klCoef: number;
  /** 'k1' (log ratio) or 'k3' (Schulman's non-negative estimator). Default 'k1'. */
  klEstimator: KLEstimator;
  /** Adapt β to track targetKl (Ziegler et al.). Default false. */
  adaptiveKl: boolean;
  targetKl: number;
  klHorizon: number;
  /** PPO clip range of the policy ratio. Default 0.2. */
  cliprange: number;
  /** Clip range of the value predictions. Default 0.2. */
  cliprangeValue: number;
  /** Weight of the value loss. Default 0.1. */
  vfCoef: number;
  /** Discount. Default 1. */
  gamma: number;
  /** GAE λ. Default 0.95. */
  lam: number;
  /** Whiten the per-token rewards (keeping their mean) before GAE. Default false. */
  whitenRewards: boolean;
  /** Subtracted from the score of answers that never emit EOS (0 = off). Default 1. */
  missingEosPenalty: number;
  /** Entropy bonus coefficient. Default 0. */
  entCoef: number;
  /** Stop an iteration's epochs early when approximate KL exceeds this (0 = never). Default 0. */
  earlyStopKl: number;
  /** PPO-ptx: weight of the pretraining (SFT) loss mixed into each step (needs ptxDataset). Default 0. */
  ptxCoef: number;
  /** Write sample answers to samples.jsonl every N iterations (0 = never). Default 10. */
  sampleEvery: number;
  /** Samples written each time. Default 4. */
  numSamples: number;
  /** With an evalDataset: a held-out evaluation every N iterations, besides the one before training and the one at the end (0: those two only). */
  evalSteps: number;
}

export const defaultPPOConfig: Omit<PPOConfig, 'outputDir' | 'maxPromptLength' | 'microBatchSize'> = {
  numIterations: 100,
  batchSize: 32,
  miniBatchSize: 8,
  ppoEpochs: 4,
  learningRate: 3e-6,
  lrSchedulerType: 'linear',
  warmupSteps: 0,
  weightDecay: 0,
  adamEpsilon: 1e-5,
  maxGradNorm: 1,
  maxNewTokens: 53,
  temperature: 0.7,
  topK: 0,
  topP: 1,
  klCoef: 0.05,
  klEstimator: 'k1',
  adaptiveKl: false,
  targetKl: 6,
  klHorizon: 10000,
  cliprange: 0.2,
  cliprangeValue: 0.2,
  vfCoef: 0.1,
  gamma: 1,
  lam: 0.95,
  whitenRewards: false,
  missingEosPenalty: 1,
  entCoef: 0,
  earlyStopKl: 0,
  ptxCoef: 0,
  loggingSteps: 1,
  sampleEvery: 10,
  numSamples: 4,
  evalSteps: 0,
  ...runDefaults,
};

const rules = {
  outputDir: checks.string, numIterations: checks.positiveInt, batchSize: checks.positiveInt, miniBatchSize: checks.positiveInt,
  microBatchSize: checks.positiveInt, ppoEpochs: checks.positiveInt, learningRate: checks.nonNegative,
  lrSchedulerType: trainingConfigRules.lrSchedulerType,
  warmupSteps: checks.nonNegativeInt, weightDecay: checks.nonNegative, adamEpsilon: checks.nonNegative, maxGradNorm: checks.nonNegative,
  maxNewTokens: checks.positiveInt, maxPromptLength: checks.positiveInt, temperature: checks.positive, topK: checks.nonNegativeInt,
  topP: [(v: unknown) => typeof v === 'number' && v > 0 && v <= 1, 'a number in (0, 1]'], klCoef: checks.nonNegative,
  klEstimator: [(v: unknown) => v === 'k1' || v === 'k3', "'k1' or 'k3'"], adaptiveKl: checks.boolean, targetKl: checks.positive,
  klHorizon: checks.positive, cliprange: checks.positive, cliprangeValue: checks.positive, vfCoef: checks.nonNegative,
  gamma: checks.unit, lam: checks.unit, whitenRewards: checks.boolean, missingEosPenalty: checks.number, entCoef: checks.nonNegative,
  earlyStopKl: checks.nonNegative, ptxCoef: checks.nonNegative, loggingSteps: checks.positiveInt, sampleEvery: checks.nonNegativeInt,
  numSamples: checks.nonNegativeInt, evalSteps: checks.nonNegativeInt, saveSteps: checks.nonNegativeInt, saveTotalLimit: checks.nonNegativeInt, seed: checks.nonNegativeInt,
  device: trainingConfigRules.device,
  resumeFromCheckpoint: trainingConfigRules.resumeFromCheckpoint,
  progressBar: checks.boolean,
  mixedPrecision: trainingConfigRules.mixedPrecision,
  reportTo: trainingConfigRules.reportTo,
} as const;

export function resolvePPOConfig(c: Partial<PPOConfig> & { outputDir: string }, blockSize: number): PPOConfig {
  const maxNew = newTokensFor(c.maxNewTokens, defaultPPOConfig.maxNewTokens, blockSize);
  const cfg = resolveConfig<PPOConfig>('PPOConfig', { ...defaultPPOConfig, maxNewTokens: maxNew, maxPromptLength: Math.max(1, blockSize - maxNew), microBatchSize: c.miniBatchSize ?? defaultPPOConfig.miniBatchSize }, rules, c);
  if (cfg.maxPromptLength + cfg.maxNewTokens > blockSize)
    throw new Error(`PPOConfig: maxPromptLength (${cfg.maxPromptLength}) + maxNewTokens (${cfg.maxNewTokens}) exceed the model's blockSize (${blockSize})`);
  if (cfg.batchSize % cfg.miniBatchSize !== 0) throw new Error(`PPOConfig: batchSize (${cfg.batchSize}) must be a multiple of miniBatchSize (${cfg.miniBatchSize})`);
  if (cfg.miniBatchSize % cfg.microBatchSize !== 0) throw new Error(`PPOConfig: miniBatchSize (${cfg.miniBatchSize}) must be a multiple of microBatchSize (${cfg.microBatchSize})`);
  return cfg;
}
