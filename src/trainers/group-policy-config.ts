// GroupPolicyConfig: the fields GRPO and RLOO share (TRL's names), their defaults, rules and size checks.
import { checks, defaultTrainingConfig, resolveConfig, runDefaults, trainingConfigRules, type RunConfig } from './config.js';
import { newTokensFor } from './lengths.js';

/** The fields GRPOConfig and RLOOConfig share (TRL's names, camelCased). */
export interface GroupPolicyConfig extends RunConfig {
  /** Passes over the prompts (ignored when maxSteps > 0). Default 1. */
  numTrainEpochs: number;
  /** Generation rounds to run; overrides numTrainEpochs when > 0. Default -1. */
  maxSteps: number;
  /** Completions per step (per_device_train_batch_size): batchSize / numGenerations prompts. */
  batchSize: number;
  /** Completions per forward pass within a step; defaults to batchSize. */
  microBatchSize: number;
  /** Completions sampled per prompt (the group). */
  numGenerations: number;
  /** Prompt tokens kept (the last ones); defaults to the model's blockSize − maxCompletionLength. */
  maxPromptLength: number;
  /** Tokens sampled per completion (TRL's default 256, capped at half the model's positions when not given). */
  maxCompletionLength: number;
  temperature: number;
  topK: number;
  topP: number;
  /** KL coefficient (0: no reference model is kept). */
  beta: number;
  /** Clipping: ratios outside [1 − epsilon, 1 + epsilonHigh] stop the gradient. */
  epsilon: number;
  /** Upper clip bound; null means epsilon (DAPO recommends 0.28). */
  epsilonHigh: number | null;
  /** Updates per generated batch (μ); > 1 makes the ratio differ from 1 and the clipping act. */
  numIterations: number;
  /** Completions that end without a stop token get no loss (they are masked out). */
  maskTruncatedCompletions: boolean;
  /** One weight per reward (functions and models, in order); null: all 1. */
  rewardWeights: number[] | null;
  adamBeta1: number;
  adamBeta2: number;
  /** Log every N steps. */
  loggingSteps: number;
  /** Write sample completions to samples.jsonl every N steps (0 = never). */
  sampleEvery: number;
  numSamples: number;
  /** With an evalDataset: a held-out evaluation every N steps, besides the one before training and the one at the end (0: those two only). */
  evalSteps: number;
}

export const groupPolicyDefaults = {
  numTrainEpochs: 1,
  maxSteps: -1,
  batchSize: 8,
  maxCompletionLength: 256,
  temperature: 1,
  topK: 0,
  topP: 1,
  epsilon: 0.2,
  epsilonHigh: null,
  numIterations: 1,
  maskTruncatedCompletions: false,
  rewardWeights: null,
  learningRate: 1e-6,
  // The optimizer's and schedule's defaults are the other trainers'.
  lrSchedulerType: defaultTrainingConfig.lrSchedulerType,
  warmupSteps: defaultTrainingConfig.warmupSteps,
  weightDecay: defaultTrainingConfig.weightDecay,
  adamBeta1: defaultTrainingConfig.adamBeta1,
  adamBeta2: defaultTrainingConfig.adamBeta2,
  adamEpsilon: defaultTrainingConfig.adamEpsilon,
  maxGradNorm: defaultTrainingConfig.maxGradNorm,
  loggingSteps: 1,
  sampleEvery: 10,
  evalSteps: 0,
  numSamples: 4,
  ...runDefaults,
} satisfies Partial<GroupPolicyConfig>;

export const groupPolicyRules = {
  outputDir: checks.string, numTrainEpochs: checks.positive, maxSteps: checks.int, batchSize: checks.positiveInt, microBatchSize: checks.positiveInt,
  numGenerations: checks.positiveInt, maxPromptLength: checks.positiveInt, maxCompletionLength: checks.positiveInt, temperature: checks.positive,
  topK: checks.nonNegativeInt, topP: [(v: unknown) => typeof v === 'number' && v > 0 && v <= 1, 'a number in (0, 1]'], beta: checks.nonNegative,
  epsilon: checks.positive, epsilonHigh: [(v: unknown) => v === null || (typeof v === 'number' && v > 0), 'null or a positive number'],
  numIterations: checks.positiveInt, maskTruncatedCompletions: checks.boolean,
  rewardWeights: [(v: unknown) => v === null || (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x))), 'null or an array of numbers'],
  learningRate: checks.nonNegative, lrSchedulerType: trainingConfigRules.lrSchedulerType, warmupSteps: checks.nonNegativeInt, weightDecay: checks.nonNegative,
  adamBeta1: checks.fraction, adamBeta2: checks.fraction, adamEpsilon: checks.nonNegative, maxGradNorm: checks.nonNegative, loggingSteps: checks.positiveInt,
  sampleEvery: checks.nonNegativeInt, numSamples: checks.nonNegativeInt, evalSteps: checks.nonNegativeInt, saveSteps: checks.nonNegativeInt, saveTotalLimit: checks.nonNegativeInt,
  seed: checks.nonNegativeInt, device: trainingConfigRules.device, resumeFromCheckpoint: trainingConfigRules.resumeFromCheckpoint,
  progressBar: checks.boolean, mixedPrecision: trainingConfigRules.mixedPrecision, reportTo: trainingConfigRules.reportTo,
} as const;

/**
 * Resolves a group config: defaults (maxPromptLength from the model's blockSize, microBatchSize
 * from batchSize), the fields' rules, and the sizes that must fit together.
 */
export function resolveGroupConfig<C extends GroupPolicyConfig>(
  name: string,
  defaults: Omit<C, 'outputDir' | 'maxPromptLength' | 'microBatchSize'>,
  rules: Parameters<typeof resolveConfig<C>>[2],
  c: Partial<C> & { outputDir: string },
  blockSize: number,
): C {
  const maxNew = newTokensFor(c.maxCompletionLength, defaults.maxCompletionLength, blockSize);
  const derived = { maxCompletionLength: maxNew, maxPromptLength: Math.max(1, blockSize - maxNew), microBatchSize: c.batchSize ?? defaults.batchSize };
  const cfg = resolveConfig<C>(name, { ...defaults, ...derived } as unknown as Partial<C>, rules, c);
  checkGroupSizes(name, cfg, blockSize);
  return cfg;
}

/** The checks every group config needs beyond its fields' own (sizes that must fit together). */
function checkGroupSizes(name: string, c: GroupPolicyConfig, blockSize: number): void {
  if (c.numGenerations < 2) throw new Error(`${name}: numGenerations must be at least 2 (the group is the baseline), got ${c.numGenerations}`);
  if (c.batchSize % c.numGenerations !== 0) throw new Error(`${name}: batchSize (${c.batchSize}) must be a multiple of numGenerations (${c.numGenerations})`);
  if (c.batchSize % c.microBatchSize !== 0) throw new Error(`${name}: batchSize (${c.batchSize}) must be a multiple of microBatchSize (${c.microBatchSize})`);
  if (c.maxPromptLength + c.maxCompletionLength > blockSize)
    throw new Error(`${name}: maxPromptLength (${c.maxPromptLength}) + maxCompletionLength (${c.maxCompletionLength}) exceed the model's blockSize (${blockSize})`);
}
