// The training arguments every trainer shares (Hugging Face TrainingArguments' names,
// camelCased), with documented defaults and validation that names the field.
import type { Device } from '../tensor/types.js';
import type { LrSchedulerType } from './schedule.js';
import { autocast } from '../tensor/runtime.js';
import { didYouMean } from './did-you-mean.js';
import { reportToRule, type ReportTo } from './tensorboard.js';

/** The fields every run has, the SFT and reward-model trainers' and PPO's. */
export interface RunConfig {
  /** Run directory: the final model, checkpoint-N/ folders, metrics.jsonl, the resolved config. */
  outputDir: string;
  /** Peak learning rate of AdamW. */
  learningRate: number;
  /** Default 'linear' (decay to 0 after warmup). */
  lrSchedulerType: LrSchedulerType;
  warmupSteps: number;
  /** Decoupled weight decay, not applied to biases and LayerNorm weights. Default 0. */
  weightDecay: number;
  adamEpsilon: number;
  /** Gradient clipping by global norm (0 = off). Default 1. */
  maxGradNorm: number;
  /** Log averaged metrics every N optimizer steps (PPO: iterations). */
  loggingSteps: number;
  /** Checkpoint every N steps (0 = only at the end). Default 0. */
  saveSteps: number;
  /** Keep at most this many checkpoint-N folders (0 = all). Default 2. */
  saveTotalLimit: number;
  /** Seeds initialisation, data order, sampling and dropout. Default 42. */
  seed: number;
  /** 'auto' picks CUDA when available. */
  device: Device | 'auto';
  /** A checkpoint-N folder, or true for the latest one in outputDir. Default false. */
  resumeFromCheckpoint: string | boolean;
  /** Progress bar on stderr when it is a terminal. Default true. */
  progressBar: boolean;
  /**
   * 'bf16': forward passes under autocast in bfloat16 (CUDA, or CPU), parameters and optimizer
   * state stay float32 (master weights). Default 'no'.
   */
  mixedPrecision: MixedPrecision;
  /** Also send every metrics.jsonl line to: 'tensorboard' (event files in outputDir/runs/), 'all', or 'none' (the default). */
  reportTo: ReportTo;
}

export interface TrainingConfig extends RunConfig {
  /** Passes over the training data (ignored when maxSteps > 0). Default 1. */
  numTrainEpochs: number;
  /** Optimizer steps to run; overrides numTrainEpochs when > 0. Default -1. */
  maxSteps: number;
  /** Examples per micro-batch (per_device_train_batch_size). Default 8. */
  batchSize: number;
  /** Micro-batches per optimizer step. Default 1. */
  gradientAccumulationSteps: number;
  /** Warmup as a fraction of the total steps (used when warmupSteps is 0). Default 0. */
  warmupRatio: number;
  adamBeta1: number;
  adamBeta2: number;
  /** Evaluate on held-out data every N steps (0 = only at the end). Default 0. */
  evalSteps: number;
  /** Held-out share of the data when no eval dataset is given. Default 0.1. */
  evalFraction: number;
}

export type MixedPrecision = 'no' | 'bf16';

/** Runs fn under the config's mixed precision on the device's type. */
export function withMixedPrecision<T>(mode: MixedPrecision, device: string, fn: () => T): T {
  return mode === 'bf16' ? autocast(device.startsWith('cuda') ? 'cuda' : 'cpu', fn, 'bfloat16') : fn();
}

/** Defaults of the run-level fields every trainer shares. */
export const runDefaults = {
  saveSteps: 0,
  saveTotalLimit: 2,
  seed: 42,
  device: 'auto',
  resumeFromCheckpoint: false,
  progressBar: true,
  mixedPrecision: 'no',
  reportTo: 'none',
} satisfies Partial<RunConfig>;

export const defaultTrainingConfig: Omit<TrainingConfig, 'outputDir' | 'learningRate'> = {
  numTrainEpochs: 1,
  maxSteps: -1,
  batchSize: 8,
  gradientAccumulationSteps: 1,
  lrSchedulerType: 'linear',
  warmupRatio: 0,
  warmupSteps: 0,
  weightDecay: 0,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  maxGradNorm: 1,
  loggingSteps: 10,
  evalSteps: 0,
  evalFraction: 0.1,
  ...runDefaults,
};

type Check = (v: unknown) => boolean;
const isNum: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const isInt: Check = (v) => typeof v === 'number' && Number.isInteger(v);
export const checks = {
  positive: [(v: unknown) => isNum(v) && (v as number) > 0, 'a positive number'],
  nonNegative: [(v: unknown) => isNum(v) && (v as number) >= 0, 'a non-negative number'],
  fraction: [(v: unknown) => isNum(v) && (v as number) >= 0 && (v as number) < 1, 'a number in [0, 1)'],
  unit: [(v: unknown) => isNum(v) && (v as number) >= 0 && (v as number) <= 1, 'a number in [0, 1]'],
  positiveInt: [(v: unknown) => isInt(v) && (v as number) > 0, 'a positive integer'],
  nonNegativeInt: [(v: unknown) => isInt(v) && (v as number) >= 0, 'a non-negative integer'],
  int: [isInt, 'an integer'],
  number: [isNum, 'a number'],
  boolean: [(v: unknown) => typeof v === 'boolean', 'true or false'],
  string: [(v: unknown) => typeof v === 'string' && v.length > 0, 'a non-empty string'],
} as const satisfies Record<string, readonly [Check, string]>;

/** Field rules of TrainingConfig; trainer configs extend them with their own. */
export const trainingConfigRules = {
  outputDir: checks.string,
  // 0 is allowed: a run that must not move the weights (and is told it learned nothing).
  learningRate: checks.nonNegative,
  numTrainEpochs: checks.positive,
  maxSteps: checks.int,
  batchSize: checks.positiveInt,
  gradientAccumulationSteps: checks.positiveInt,
  lrSchedulerType: [(v: unknown) => ['linear', 'cosine', 'constant', 'constant_with_warmup'].includes(v as string), "'linear', 'cosine', 'constant' or 'constant_with_warmup'"],
  warmupRatio: checks.unit,
  warmupSteps: checks.nonNegativeInt,
  weightDecay: checks.nonNegative,
  adamBeta1: checks.fraction,
  adamBeta2: checks.fraction,
  adamEpsilon: checks.nonNegative,
  maxGradNorm: checks.nonNegative,
  loggingSteps: checks.positiveInt,
  evalSteps: checks.nonNegativeInt,
  evalFraction: checks.fraction,
  saveSteps: checks.nonNegativeInt,
  saveTotalLimit: checks.nonNegativeInt,
  seed: checks.nonNegativeInt,
  device: [(v: unknown) => v === 'auto' || v === 'cpu' || (typeof v === 'string' && /^cuda(:\d+)?$/.test(v)), "'auto', 'cpu', 'cuda' or 'cuda:N'"],
  resumeFromCheckpoint: [(v: unknown) => typeof v === 'boolean' || (typeof v === 'string' && v.length > 0), 'true, false or a checkpoint directory'],
  progressBar: checks.boolean,
  mixedPrecision: [(v: unknown) => v === 'no' || v === 'bf16', "'no' or 'bf16'"],
  reportTo: reportToRule,
} satisfies Record<string, readonly [Check, string]>;

/**
 * Fills defaults and validates: unknown fields and wrong values are errors naming the field
 * (a typo in a config must not silently fall back to a default).
 */
export function resolveConfig<T extends object>(name: string, defaults: Partial<T>, rules: Record<string, readonly [Check, string]>, given: Partial<T>): T {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new TypeError(`${name}: expected an object`);
  for (const k of Object.keys(given)) if (!(k in rules)) throw new Error(`${name}: unknown field '${k}'${didYouMean(k, Object.keys(rules))}`);
  const cfg = { ...defaults, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) } as Record<string, unknown>;
  for (const [k, [ok, what]] of Object.entries(rules)) {
    if (!(k in cfg)) throw new Error(`${name}: missing field '${k}'`);
    if (cfg[k] === null && k.startsWith('opt')) continue;
    if (!ok(cfg[k])) throw new Error(`${name}: field '${k}' must be ${what}, got ${JSON.stringify(cfg[k])}`);
  }
  return cfg as T;
}
