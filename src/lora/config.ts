// LoRA's configuration, PEFT's LoraConfig in camelCase: the rank r, loraAlpha (the delta is
// scaled by alpha / r, or alpha / √r with rsLoRA), loraDropout on the adapter's input, which
// linear layers get an adapter (module names, a regular expression, or 'all-linear') and
// which modules train in full beside them (a reward or value head). Checked with errors that
// name the field (from one table of the fields: help, check, default), and converted to and
// from adapter_config.json's snake_case fields.
import { resolveConfig } from '../trainers/config.js';
import { checks, defaultsOf, rulesOf, type Fields } from '../trainers/config-fields.js';

export interface LoraConfig {
  /** The adapter's rank (PEFT's default). Default: 8. */
  r: number;
  /** The delta B·A is scaled by loraAlpha / r (rsLoRA: / √r). Default: 8. */
  loraAlpha: number;
  /** Dropout on the adapter's input while training. Default: 0. */
  loraDropout: number;
  /**
   * Which linear layers get an adapter: names matched against the end of each module's path ('c_attn'
   * matches transformer.h.0.attn.c_attn), one regular expression matched against the whole path, or
   * 'all-linear' (every linear layer but the output heads). Default: "all-linear".
   */
  targetModules: string[] | string;
  /** rsLoRA: scale by loraAlpha / √r, which keeps high ranks learning. Default: false. */
  useRslora: boolean;
  /** Which biases train: only 'none' (PEFT's default) is supported. Default: "none". */
  bias: 'none';
  /** Modules trained in full and saved with the adapter (e.g. ['score']). Default: []. */
  modulesToSave: string[];
}

export type LoraConfigInput = Partial<LoraConfig>;

const isNameList = (v: unknown): boolean => Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s.length > 0);

/** LoraConfig's fields: help, check and default of each (PEFT's defaults). */
export const loraFields = {
  r: { help: "The adapter's rank (PEFT's default).", check: checks.positiveInt, default: 8 },
  loraAlpha: { help: 'The delta B·A is scaled by loraAlpha / r (rsLoRA: / √r).', check: checks.positive, default: 8 },
  loraDropout: { help: "Dropout on the adapter's input while training.", check: checks.fraction, default: 0 },
  targetModules: {
    help:
      "Which linear layers get an adapter: names matched against the end of each module's path ('c_attn' matches " +
      "transformer.h.0.attn.c_attn), one regular expression matched against the whole path, or 'all-linear' (every linear " +
      'layer but the output heads).',
    check: [
      (v: unknown) => isNameList(v) || (typeof v === 'string' && v.length > 0 && validRegex(v)),
      "a non-empty list of module names, a regular expression or 'all-linear'",
    ],
    default: 'all-linear',
  },
  useRslora: { help: 'rsLoRA: scale by loraAlpha / √r, which keeps high ranks learning.', check: checks.boolean, default: false },
  bias: {
    help: "Which biases train: only 'none' (PEFT's default) is supported.",
    check: [(v: unknown) => v === 'none', "'none' (adapters on biases are not supported)"],
    default: 'none',
  },
  modulesToSave: {
    help: "Modules trained in full and saved with the adapter (e.g. ['score']).",
    check: [(v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0), 'a list of module names'],
    default: [],
  },
} as const satisfies Fields<LoraConfig>;

export const defaultLoraConfig: LoraConfig = defaultsOf(loraFields);

function validRegex(s: string): boolean {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}

/** Fills PEFT's defaults and checks every field (an unknown field is an error). */
export function resolveLoraConfig(c: LoraConfigInput, name = 'LoraConfig'): LoraConfig {
  return resolveConfig<LoraConfig>(name, defaultLoraConfig, rulesOf(loraFields), c);
}

/** What scales the delta: alpha / r, or alpha / √r with rsLoRA (PEFT's `scaling`). */
export const loraScaling = (c: Pick<LoraConfig, 'r' | 'loraAlpha' | 'useRslora'>): number =>
  c.useRslora ? c.loraAlpha / Math.sqrt(c.r) : c.loraAlpha / c.r;

/** PEFT's adapter_config.json for a config, the layers it matched and the model it adapts. */
export function toPeftConfig(
  c: LoraConfig,
  o: { targetModules: string[] | string; fanInFanOut: boolean; baseModelNameOrPath: string | null; taskType: 'CAUSAL_LM' | 'SEQ_CLS' },
): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: o.taskType,
    base_model_name_or_path: o.baseModelNameOrPath,
    r: c.r,
    lora_alpha: c.loraAlpha,
    lora_dropout: c.loraDropout,
    target_modules: o.targetModules,
    use_rslora: c.useRslora,
    bias: c.bias,
    fan_in_fan_out: o.fanInFanOut,
    modules_to_save: c.modulesToSave.length ? c.modulesToSave : null,
    init_lora_weights: true,
    inference_mode: true,
    use_dora: false,
    rank_pattern: {},
    alpha_pattern: {},
    layers_to_transform: null,
    layers_pattern: null,
    revision: null,
  };
}

/** What an adapter_config.json holds that loading needs. */
export interface PeftAdapterConfig {
  config: LoraConfig;
  baseModelNameOrPath: string | null;
  taskType: string | null;
}

/**
 * Reads a PEFT adapter_config.json. Features this implementation does not have (DoRA, other
 * adapter types, per-layer ranks, adapters on some layers only) are errors naming the field,
 * not silently different models.
 */
export function fromPeftConfig(j: Record<string, unknown>, file: string): PeftAdapterConfig {
  const bad = (field: string, why: string): never => {
    throw new Error(`${file}: field '${field}' ${why}`);
  };
  if (j.peft_type !== 'LORA') bad('peft_type', `is ${JSON.stringify(j.peft_type)}; only LoRA adapters ('LORA') are supported`);
  if (j.use_dora === true) bad('use_dora', 'is true; DoRA is not supported');
  for (const k of ['rank_pattern', 'alpha_pattern'])
    if (j[k] && typeof j[k] === 'object' && Object.keys(j[k] as object).length > 0)
      bad(k, 'is not empty; per-layer ranks and alphas are not supported');
  for (const k of ['layers_to_transform', 'layers_pattern', 'target_parameters', 'exclude_modules', 'trainable_token_indices'])
    if (j[k] !== undefined && j[k] !== null && !(Array.isArray(j[k]) && (j[k] as unknown[]).length === 0))
      bad(k, 'is set; it is not supported');
  const init = j.init_lora_weights;
  if (init !== undefined && typeof init !== 'boolean')
    bad('init_lora_weights', `is ${JSON.stringify(init)}; only the default initialisation is read`);
  const base = j.base_model_name_or_path;
  const modulesToSave = j.modules_to_save ?? [];
  let config: LoraConfig;
  try {
    config = resolveLoraConfig(
      {
        r: j.r as number,
        loraAlpha: j.lora_alpha as number,
        loraDropout: (j.lora_dropout ?? 0) as number,
        targetModules: j.target_modules as string[],
        useRslora: (j.use_rslora ?? false) as boolean,
        bias: (j.bias ?? 'none') as 'none',
        modulesToSave: modulesToSave as string[],
      },
      file,
    );
  } catch (err) {
    // resolveConfig names our fields; say which of the file's keys they are.
    const names: Record<string, string> = {
      loraAlpha: 'lora_alpha',
      loraDropout: 'lora_dropout',
      targetModules: 'target_modules',
      useRslora: 'use_rslora',
      modulesToSave: 'modules_to_save',
    };
    throw new Error((err as Error).message.replace(/field '(\w+)'/, (_, k: string) => `field '${names[k] ?? k}'`));
  }
  return {
    config,
    baseModelNameOrPath: typeof base === 'string' && base.length > 0 ? base : null,
    taskType: typeof j.task_type === 'string' ? j.task_type : null,
  };
}
