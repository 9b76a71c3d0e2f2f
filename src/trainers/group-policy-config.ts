// GroupPolicyConfig: the fields GRPO and RLOO share (TRL's names), their defaults, rules and size checks.
import { checks, onlineRunFields, resolveConfig, runFields, samplingFields, trainingFields, type RunConfig } from './config.js';
import { rulesOf, type Field, type Fields } from './config-fields.js';
import { newTokensFor } from './lengths.js';

/** The fields GRPOConfig and RLOOConfig share (TRL's names, camelCased). */
export interface GroupPolicyConfig extends RunConfig {
  /** Passes over the prompts (ignored when maxSteps > 0). Default: 1. */
  numTrainEpochs: number;
  /** Generation rounds to run; overrides numTrainEpochs when > 0. Default: -1. */
  maxSteps: number;
  /** Completions per step (per_device_train_batch_size): batchSize / numGenerations prompts. Default: 8. */
  batchSize: number;
  /** Completions per forward pass within a step. Default: batchSize. */
  microBatchSize: number;
  /** Completions sampled per prompt (the group). */
  numGenerations: number;
  /** Prompt tokens kept (the last ones). Default: the model's blockSize − maxCompletionLength. */
  maxPromptLength: number;
  /** Tokens sampled per completion (TRL's default), capped at half the model's positions when not given. Default: 256. */
  maxCompletionLength: number;
  /** Sampling temperature; log-probs use logits / temperature too. Default: 1. */
  temperature: number;
  /** Sample from the k most likely tokens (0 = off). Default: 0. */
  topK: number;
  /** Nucleus sampling: the smallest set of tokens with this much probability (1 = off). Default: 1. */
  topP: number;
  /** KL coefficient (0: no reference model is kept). */
  beta: number;
  /** Clipping: ratios outside [1 − epsilon, 1 + epsilonHigh] stop the gradient. Default: 0.2. */
  epsilon: number;
  /** Upper clip bound; null means epsilon (DAPO recommends 0.28). Default: null. */
  epsilonHigh: number | null;
  /** Updates per generated batch (μ); > 1 makes the ratio differ from 1 and the clipping act. Default: 1. */
  numIterations: number;
  /** Completions that end without a stop token get no loss (they are masked out). Default: false. */
  maskTruncatedCompletions: boolean;
  /** One weight per reward (functions and models, in order); null: all 1. Default: null. */
  rewardWeights: number[] | null;
  /** AdamW's beta1. Default: 0.9. */
  adamBeta1: number;
  /** AdamW's beta2. Default: 0.999. */
  adamBeta2: number;
  /** Log every N steps. Default: 1. */
  loggingSteps: number;
  /** Write sample completions to samples.jsonl every N steps (0 = never). Default: 10. */
  sampleEvery: number;
  /** Samples written each time. Default: 4. */
  numSamples: number;
  /**
   * With an evalDataset: a held-out evaluation every N steps, besides the one before training and the
   * one at the end (0: those two only). Default: 0.
   */
  evalSteps: number;
  /**
   * Seconds a reward function may take to score one batch before the run fails with an error naming it,
   * as requests to a vLLM-style reward server time out (0 = no limit). Default: 300.
   */
  rewardTimeout: number;
}

/** The fields GRPOConfig and RLOOConfig share: the run fields with the group trainers' defaults, then their own. */
export const groupPolicyFields = {
  ...runFields,
  learningRate: { ...runFields.learningRate, default: 1e-6 },
  // The optimizer's defaults are the other trainers'.
  adamEpsilon: trainingFields.adamEpsilon,
  adamBeta1: trainingFields.adamBeta1,
  adamBeta2: trainingFields.adamBeta2,
  loggingSteps: { ...runFields.loggingSteps, help: 'Log every N steps.', default: 1 },
  numTrainEpochs: { ...trainingFields.numTrainEpochs, help: 'Passes over the prompts (ignored when maxSteps > 0).' },
  maxSteps: { ...trainingFields.maxSteps, help: 'Generation rounds to run; overrides numTrainEpochs when > 0.' },
  batchSize: {
    help: 'Completions per step (per_device_train_batch_size): batchSize / numGenerations prompts.',
    check: checks.positiveInt,
    default: 8,
  },
  microBatchSize: { help: 'Completions per forward pass within a step.', check: checks.positiveInt, derived: 'batchSize', flag: 'number' },
  numGenerations: { help: 'Completions sampled per prompt (the group).', check: checks.positiveInt },
  maxPromptLength: {
    help: 'Prompt tokens kept (the last ones).',
    check: checks.positiveInt,
    derived: "the model's blockSize − maxCompletionLength",
    flag: 'number',
  },
  maxCompletionLength: {
    help: "Tokens sampled per completion (TRL's default), capped at half the model's positions when not given.",
    check: checks.positiveInt,
    default: 256,
  },
  temperature: { help: 'Sampling temperature; log-probs use logits / temperature too.', check: checks.positive, default: 1 },
  ...samplingFields,
  beta: { help: 'KL coefficient (0: no reference model is kept).', check: checks.nonNegative },
  epsilon: { help: 'Clipping: ratios outside [1 − epsilon, 1 + epsilonHigh] stop the gradient.', check: checks.positive, default: 0.2 },
  epsilonHigh: {
    help: 'Upper clip bound; null means epsilon (DAPO recommends 0.28).',
    check: [(v: unknown) => v === null || (typeof v === 'number' && v > 0), 'null or a positive number'],
    default: null,
  },
  numIterations: {
    help: 'Updates per generated batch (μ); > 1 makes the ratio differ from 1 and the clipping act.',
    check: checks.positiveInt,
    default: 1,
  },
  maskTruncatedCompletions: {
    help: 'Completions that end without a stop token get no loss (they are masked out).',
    check: checks.boolean,
    default: false,
  },
  rewardWeights: {
    help: 'One weight per reward (functions and models, in order); null: all 1.',
    check: checks.numbersOrNull,
    default: null,
  },
  ...onlineRunFields('steps', 'completions'),
} as const satisfies Fields<GroupPolicyConfig>;

/**
 * Resolves a group config: defaults (maxPromptLength from the model's blockSize, microBatchSize
 * from batchSize), the fields' rules, and the sizes that must fit together.
 */
export function resolveGroupConfig<C extends GroupPolicyConfig>(
  name: string,
  defaults: Omit<C, 'outputDir' | 'maxPromptLength' | 'microBatchSize'>,
  fields: Fields<C> & Record<string, Field<unknown>>,
  c: Partial<C> & { outputDir: string },
  blockSize: number,
): C {
  const maxNew = newTokensFor(c.maxCompletionLength, defaults.maxCompletionLength, blockSize);
  const derived = {
    maxCompletionLength: maxNew,
    maxPromptLength: Math.max(1, blockSize - maxNew),
    microBatchSize: c.batchSize ?? defaults.batchSize,
  };
  const cfg = resolveConfig<C>(name, { ...defaults, ...derived } as unknown as Partial<C>, rulesOf(fields), c);
  checkGroupSizes(name, cfg, blockSize);
  return cfg;
}

/** The checks every group config needs beyond its fields' own (sizes that must fit together). */
function checkGroupSizes(name: string, c: GroupPolicyConfig, blockSize: number): void {
  if (c.numGenerations < 2)
    throw new Error(`${name}: numGenerations must be at least 2 (the group is the baseline), got ${c.numGenerations}`);
  if (c.batchSize % c.numGenerations !== 0)
    throw new Error(`${name}: batchSize (${c.batchSize}) must be a multiple of numGenerations (${c.numGenerations})`);
  if (c.batchSize % c.microBatchSize !== 0)
    throw new Error(`${name}: batchSize (${c.batchSize}) must be a multiple of microBatchSize (${c.microBatchSize})`);
  if (c.maxPromptLength + c.maxCompletionLength > blockSize)
    throw new Error(
      `${name}: maxPromptLength (${c.maxPromptLength}) + maxCompletionLength (${c.maxCompletionLength}) exceed the model's ` +
        `blockSize (${blockSize})`,
    );
}
