// The training arguments every trainer shares (Hugging Face TrainingArguments' names,
// camelCased): their interfaces, their field declarations (help, check, default: one table,
// from which the defaults, the rules, the CLI's flags and the doc comments come; see
// config-fields.ts), and resolveConfig, which fills the defaults and validates naming the field.
import type { Device } from '../tensor/types.js';
import type { LrSchedulerType } from './schedule.js';
import { autocast, currentModes, withModes } from '../tensor/runtime.js';
import { cpuHasBf16Arithmetic } from '../tensor/cpu-features.js';
import { didYouMean } from './did-you-mean.js';
import { DEFAULT_REWARD_TIMEOUT } from '../rewards/reward-call.js';
import { reportToRule, type ReportTo } from './tensorboard.js';
import { checks, defaultsOf, oneOf, rulesOf, type Field, type Fields, type Rule } from './config-fields.js';

export { checks } from './config-fields.js';

/** The fields every run has, the SFT and reward-model trainers' and PPO's. */
export interface RunConfig {
  /** Run directory: the final model, checkpoint-N/ folders, metrics.jsonl, the resolved config. */
  outputDir: string;
  /** Peak learning rate of AdamW. */
  learningRate: number;
  /** The learning rate's schedule after warmup ('linear' decays to 0). Default: "linear". */
  lrSchedulerType: LrSchedulerType;
  /** Steps of linear warmup from 0 to the peak learning rate. Default: 0. */
  warmupSteps: number;
  /** Decoupled weight decay, not applied to biases and LayerNorm weights. Default: 0. */
  weightDecay: number;
  /** AdamW's epsilon. */
  adamEpsilon: number;
  /** Gradient clipping by global norm (0 = off). Default: 1. */
  maxGradNorm: number;
  /** Log averaged metrics every N optimizer steps (PPO: iterations). */
  loggingSteps: number;
  /** Checkpoint every N steps (0 = only at the end). Default: 0. */
  saveSteps: number;
  /** Keep at most this many checkpoint-N folders (0 = all). Default: 2. */
  saveTotalLimit: number;
  /** Seeds initialisation, data order, sampling and dropout. Default: 42. */
  seed: number;
  /** 'auto' picks CUDA when available. Default: "auto". */
  device: Device | 'auto';
  /** A checkpoint-N folder, or true for the latest one in outputDir. Default: false. */
  resumeFromCheckpoint: string | boolean;
  /** Progress bar on stderr when it is a terminal. Default: true. */
  progressBar: boolean;
  /**
   * 'bf16': forward passes under autocast in bfloat16 (CUDA, or CPU), parameters and optimizer state
   * stay float32 (master weights). Default: "no".
   */
  mixedPrecision: MixedPrecision;
  /**
   * The dtype a model directory's weights are loaded in (transformers' from_pretrained dtype). 'auto':
   * weights that stay frozen keep the checkpoint's own (config.json's dtype, bf16 for most pretrained
   * models): the base under LoRA, whose adapter and its AdamW state are float32 (PEFT's
   * autocast_adapter_dtype), a reference or reward model; a model trained in full is float32, because
   * AdamW here keeps no float32 master copy of bf16 weights; and on a CPU without bf16 arithmetic
   * (AVX512-BF16 or AMX) every model is float32, where bf16 runs 5 to 40 times slower. A dtype by name
   * holds every loaded model in it. A model object given to a trainer in code is used as it is.
   * Default: "auto".
   */
  dtype: RunDtype;
  /** Also send every metrics.jsonl line to: 'tensorboard' (event files in outputDir/runs/), 'all', or 'none'. Default: "none". */
  reportTo: ReportTo;
  /**
   * Gradient (activation) checkpointing, TRL's gradient_checkpointing: each layer keeps only its input
   * for backward and is recomputed there, for much less memory at about one more forward pass; the
   * gradients are the same. Default: true for a pretrained checkpoint (TRL's), false for random weights
   * or a checkpoint trained from scratch.
   */
  gradientCheckpointing: boolean;
}

export interface TrainingConfig extends RunConfig {
  /** Passes over the training data (ignored when maxSteps > 0). Default: 1. */
  numTrainEpochs: number;
  /** Optimizer steps to run; overrides numTrainEpochs when > 0. Default: -1. */
  maxSteps: number;
  /** Examples per micro-batch (per_device_train_batch_size). Default: 8. */
  batchSize: number;
  /** Micro-batches per optimizer step. Default: 1. */
  gradientAccumulationSteps: number;
  /** Warmup as a fraction of the total steps (used when warmupSteps is 0). Default: 0. */
  warmupRatio: number;
  /** AdamW's beta1. Default: 0.9. */
  adamBeta1: number;
  /** AdamW's beta2. Default: 0.999. */
  adamBeta2: number;
  /** Evaluate on held-out data every N steps (0 = only at the end). Default: 0. */
  evalSteps: number;
  /** Held-out share of the data when no eval dataset is given. Default: 0.1. */
  evalFraction: number;
}

export type MixedPrecision = 'no' | 'bf16';

/** What a model directory's weights are held in for a run (transformers' `dtype`): see runFields.dtype. */
export type RunDtype = 'auto' | 'float32' | 'bfloat16' | 'float16';

/**
 * The dtype to load a model directory in for a run on `device`: `dtype` as given, except that
 * 'auto' keeps a model that trains in full in float32 (AdamW here keeps no float32 master copy of
 * bf16 weights), and every model in float32 on a CPU without bf16 arithmetic (cpu-features.ts: there
 * a bf16 forward is 5 to 40 times slower). Frozen weights (the base under LoRA, a reference or
 * reward model) otherwise stay in the checkpoint's own.
 */
export function loadDtype(dtype: RunDtype, trainsInFull: boolean, device: Device = 'cpu'): RunDtype {
  if (dtype !== 'auto') return dtype;
  if (trainsInFull || (!device.startsWith('cuda') && !cpuHasBf16Arithmetic())) return 'float32';
  return dtype;
}

/** Runs fn under the config's mixed precision on the device's type. */
export function withMixedPrecision<T>(mode: MixedPrecision, device: string, fn: () => T): T {
  return mode === 'bf16' ? autocast(device.startsWith('cuda') ? 'cuda' : 'cpu', fn, 'bfloat16') : fn();
}

/** Starts async fn under the mixed precision of withMixedPrecision, which it keeps across its awaits (see ThreadModes). */
export function mixedPrecisionAsync<T>(mode: MixedPrecision, device: string, fn: () => Promise<T>): Promise<T> {
  if (mode !== 'bf16') return fn();
  const modes = currentModes();
  const autocast = { ...modes.autocast, [device.startsWith('cuda') ? 'cuda' : 'cpu']: [true, 'bfloat16'] as [boolean, string] };
  return withModes({ ...modes, autocast }, fn);
}

/** The fields every run has, declared once (help, check, default); the trainers' tables reuse them. */
export const runFields = {
  outputDir: { help: 'Run directory: the final model, checkpoint-N/ folders, metrics.jsonl, the resolved config.', check: checks.string },
  // 0 is allowed: a run that must not move the weights (and is told it learned nothing).
  learningRate: { help: 'Peak learning rate of AdamW.', check: checks.nonNegative },
  lrSchedulerType: {
    help: "The learning rate's schedule after warmup ('linear' decays to 0).",
    check: oneOf(['linear', 'cosine', 'constant', 'constant_with_warmup']),
    default: 'linear',
  },
  warmupSteps: { help: 'Steps of linear warmup from 0 to the peak learning rate.', check: checks.nonNegativeInt, default: 0 },
  weightDecay: { help: 'Decoupled weight decay, not applied to biases and LayerNorm weights.', check: checks.nonNegative, default: 0 },
  adamEpsilon: { help: "AdamW's epsilon.", check: checks.nonNegative },
  maxGradNorm: { help: 'Gradient clipping by global norm (0 = off).', check: checks.nonNegative, default: 1 },
  loggingSteps: { help: 'Log averaged metrics every N optimizer steps (PPO: iterations).', check: checks.positiveInt },
  saveSteps: { help: 'Checkpoint every N steps (0 = only at the end).', check: checks.nonNegativeInt, default: 0 },
  saveTotalLimit: { help: 'Keep at most this many checkpoint-N folders (0 = all).', check: checks.nonNegativeInt, default: 2 },
  seed: { help: 'Seeds initialisation, data order, sampling and dropout.', check: checks.nonNegativeInt, default: 42 },
  device: {
    help: "'auto' picks CUDA when available.",
    check: [
      (v: unknown) => v === 'auto' || v === 'cpu' || (typeof v === 'string' && /^cuda(:\d+)?$/.test(v)),
      "'auto', 'cpu', 'cuda' or 'cuda:N'",
    ],
    default: 'auto',
  },
  resumeFromCheckpoint: {
    help: 'A checkpoint-N folder, or true for the latest one in outputDir.',
    check: [(v: unknown) => typeof v === 'boolean' || (typeof v === 'string' && v.length > 0), 'true, false or a checkpoint directory'],
    default: false,
  },
  progressBar: { help: 'Progress bar on stderr when it is a terminal.', check: checks.boolean, default: true },
  mixedPrecision: {
    help: "'bf16': forward passes under autocast in bfloat16 (CUDA, or CPU), parameters and optimizer state stay float32 (master weights).",
    check: oneOf(['no', 'bf16']),
    default: 'no',
  },
  dtype: {
    help:
      "The dtype a model directory's weights are loaded in (transformers' from_pretrained dtype). 'auto': weights that stay frozen " +
      "keep the checkpoint's own (config.json's dtype, bf16 for most pretrained models): the base under LoRA, whose adapter and " +
      "its AdamW state are float32 (PEFT's autocast_adapter_dtype), a reference or reward model; a model trained in full is " +
      'float32, because AdamW here keeps no float32 master copy of bf16 weights; and on a CPU without bf16 arithmetic ' +
      '(AVX512-BF16 or AMX) every model is float32, where bf16 runs 5 to 40 times slower. ' +
      'A dtype by name holds every loaded model in it. ' +
      'A model object given to a trainer in code is used as it is.',
    check: oneOf(['auto', 'float32', 'bfloat16', 'float16']),
    default: 'auto',
  },
  reportTo: {
    help: "Also send every metrics.jsonl line to: 'tensorboard' (event files in outputDir/runs/), 'all', or 'none'.",
    check: reportToRule,
    default: 'none',
  },
  gradientCheckpointing: {
    help:
      "Gradient (activation) checkpointing, TRL's gradient_checkpointing: each layer keeps only its input for backward and is " +
      'recomputed there, for much less memory at about one more forward pass; the gradients are the same.',
    check: checks.boolean,
    default: true,
    derived: "true for a pretrained checkpoint (TRL's), false for random weights or a checkpoint trained from scratch",
  },
} as const satisfies Fields<RunConfig>;

/** TrainingConfig's fields (TrainingArguments'): SFT's, the reward model's and DPO's tables start from them. */
export const trainingFields = {
  ...runFields,
  numTrainEpochs: { help: 'Passes over the training data (ignored when maxSteps > 0).', check: checks.positive, default: 1 },
  maxSteps: { help: 'Optimizer steps to run; overrides numTrainEpochs when > 0.', check: checks.int, default: -1 },
  batchSize: { help: 'Examples per micro-batch (per_device_train_batch_size).', check: checks.positiveInt, default: 8 },
  gradientAccumulationSteps: { help: 'Micro-batches per optimizer step.', check: checks.positiveInt, default: 1 },
  warmupRatio: { help: 'Warmup as a fraction of the total steps (used when warmupSteps is 0).', check: checks.unit, default: 0 },
  adamBeta1: { help: "AdamW's beta1.", check: checks.fraction, default: 0.9 },
  adamBeta2: { help: "AdamW's beta2.", check: checks.fraction, default: 0.999 },
  adamEpsilon: { ...runFields.adamEpsilon, default: 1e-8 },
  loggingSteps: { ...runFields.loggingSteps, default: 10 },
  evalSteps: { help: 'Evaluate on held-out data every N steps (0 = only at the end).', check: checks.nonNegativeInt, default: 0 },
  evalFraction: { help: 'Held-out share of the data when no eval dataset is given.', check: checks.fraction, default: 0.1 },
} as const satisfies Fields<TrainingConfig>;

/** maxLength of SFT, the reward model and DPO: the longest sequence, the model's blockSize unless given. */
export const maxLengthField = {
  help: 'Longest sequence (prompt + answer) in tokens.',
  check: checks.positiveInt,
  derived: "the model's blockSize",
  flag: 'number',
} as const satisfies Field<number>;

/** What maxLengthField's check cannot see: the model. A sequence may not be longer than its blockSize. */
export function checkMaxLength(configName: string, maxLength: number, blockSize: number): void {
  if (maxLength > blockSize)
    throw new Error(`${configName}: field 'maxLength' (${maxLength}) exceeds the model's blockSize (${blockSize})`);
}

/** The sampling filters of the online trainers (PPO, GRPO, RLOO); their temperatures' defaults differ. */
export const samplingFields = {
  topK: { help: 'Sample from the k most likely tokens (0 = off).', check: checks.nonNegativeInt, default: 0 },
  topP: { help: 'Nucleus sampling: the smallest set of tokens with this much probability (1 = off).', check: checks.topP, default: 1 },
} as const satisfies Fields<{ topK: number; topP: number }>;

/** The samples and held-out evaluations of an online trainer (PPO counts in iterations, GRPO and RLOO in steps). */
export function onlineRunFields(unit: 'iterations' | 'steps', samples: 'answers' | 'completions') {
  return {
    sampleEvery: {
      help: `Write sample ${samples} to samples.jsonl every N ${unit} (0 = never).`,
      check: checks.nonNegativeInt,
      default: 10,
    },
    numSamples: { help: 'Samples written each time.', check: checks.nonNegativeInt, default: 4 },
    evalSteps: {
      help:
        `With an evalDataset: a held-out evaluation every N ${unit}, besides the one before training and the one at the end ` +
        '(0: those two only).',
      check: checks.nonNegativeInt,
      default: 0,
    },
    rewardTimeout: {
      help:
        'Seconds a reward function may take to score one batch before the run fails with an error naming it, as requests to a ' +
        'vLLM-style reward server time out (0 = no limit).',
      check: checks.nonNegative,
      default: DEFAULT_REWARD_TIMEOUT,
    },
  } as const satisfies Fields<{ sampleEvery: number; numSamples: number; evalSteps: number; rewardTimeout: number }>;
}

export const defaultTrainingConfig: Omit<TrainingConfig, 'outputDir' | 'learningRate'> = defaultsOf(trainingFields);

/** TrainingConfig's validation rules (seedRun checks a seed by them before training). */
export const trainingConfigRules = rulesOf(trainingFields);

/**
 * Fills defaults and validates: unknown fields and wrong values are errors naming the field
 * (a typo in a config must not silently fall back to a default).
 */
export function resolveConfig<T extends object>(name: string, defaults: Partial<T>, rules: Record<string, Rule>, given: Partial<T>): T {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new TypeError(`${name}: expected an object`);
  for (const k of Object.keys(given))
    if (!(k in rules)) throw new Error(`${name}: unknown field '${k}'${didYouMean(k, Object.keys(rules))}`);
  const cfg = { ...defaults, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) } as Record<string, unknown>;
  for (const [k, [ok, what]] of Object.entries(rules)) {
    if (!(k in cfg)) throw new Error(`${name}: missing field '${k}'`);
    if (cfg[k] === null && k.startsWith('opt')) continue;
    if (!ok(cfg[k])) throw new Error(`${name}: field '${k}' must be ${what}, got ${JSON.stringify(cfg[k])}`);
  }
  return cfg as T;
}
