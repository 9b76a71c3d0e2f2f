// Causal-LM checkpoints in Hugging Face's layouts, dispatched on config.json's model_type:
// GPT-2 (Conv1D weights stored (in, out), LM head tied to wte and not stored; with or without
// the `transformer.` prefix and the legacy attention-mask buffers) and the Llama family (llama,
// qwen2, mistral: `model.*` and `lm_head`, tied or not). A single model.safetensors or shards
// with model.safetensors.index.json; any float dtype on disk (bf16, f16) loads into the dtype
// asked for: float32 by default (TRL's create_model_from_path default), or 'auto', the
// checkpoint's own (config.json's dtype / torch_dtype, else its weights'), as transformers'
// from_pretrained(dtype="auto"); the model is made in that dtype, so a bf16 checkpoint never
// exists in float32 on the way. Names, shapes and dtypes (float only: quantized checkpoints are
// refused) are checked from the headers before anything is allocated, each shard must hold what
// its index's weight_map says, and the weights are streamed from the files into the model, so a
// load holds the model plus a few MiB, never a file's bytes.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { readSafetensorsHeader, saveSafetensors, SafetensorsReader, type SafetensorsHeader } from '../io/safetensors.js';
import { empty } from '../tensor/creation.js';
import { emptyCache, noGrad } from '../tensor/runtime.js';
import type { DType, Device } from '../tensor/types.js';
import { GPT, isLlamaConfig, resolveGPTConfig, type GPTConfig, type ModelConfig, type ModelOrigin } from './gpt.js';
import { llamaConfigFromHF, llamaConfigToHF, type LlamaConfig } from './llama-config.js';
import { rememberModelDir } from '../lora/adapter.js';
import { loadAdapterModel } from '../lora/load-adapter.js';
import { isAdapterDir } from '../lora/peft-files.js';

const TANH_GELUS = new Set(['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast']);

/**
 * Where config.json keeps each GPTConfig field: GPT-2's key first, then the names other HF
 * configs use. Bias is ours (GPT-2 always has biases).
 */
const HF_KEYS: Record<Exclude<keyof GPTConfig, 'arch'>, readonly string[]> = {
  vocabSize: ['vocab_size'],
  blockSize: ['n_positions', 'n_ctx', 'max_position_embeddings'],
  nLayer: ['n_layer', 'num_hidden_layers'],
  nHead: ['n_head', 'num_attention_heads'],
  nEmbd: ['n_embd', 'hidden_size'],
  dropout: ['resid_pdrop', 'embd_pdrop'],
  bias: ['torch_rlhf.bias'],
  layerNormEpsilon: ['layer_norm_epsilon'],
};
/** Defaults of the optional fields; the others must be present. */
const HF_DEFAULTS: Partial<Record<Exclude<keyof GPTConfig, 'arch'>, unknown>> = { dropout: 0, bias: true, layerNormEpsilon: 1e-5 };

/**
 * Reads an HF GPT-2 config.json into a GPTConfig. Values are checked (and bounded) by
 * resolveGPTConfig, so errors name the file and the key as config.json spells it.
 */
export function gptConfigFromHF(hf: Record<string, unknown>, file = 'config.json'): GPTConfig {
  if (hf.model_type !== undefined && hf.model_type !== 'gpt2')
    throw new Error(`${file}: model_type '${String(hf.model_type)}' is not supported (expected 'gpt2')`);
  const act = hf.activation_function ?? 'gelu_new';
  if (typeof act !== 'string' || !TANH_GELUS.has(act))
    throw new Error(`${file}: activation_function '${String(act)}' is not supported (GPT-2 uses gelu_new)`);
  const extra = (hf.torch_rlhf ?? {}) as Record<string, unknown>;
  const value = (key: string): unknown => (key === 'torch_rlhf.bias' ? extra.bias : hf[key]);
  const used = {} as Record<keyof GPTConfig, string>;
  const raw = {} as Record<keyof GPTConfig, unknown>;
  for (const [field, keys] of Object.entries(HF_KEYS) as [Exclude<keyof GPTConfig, 'arch'>, readonly string[]][]) {
    const key = keys.find((k) => value(k) !== undefined && value(k) !== null);
    if (key === undefined && !(field in HF_DEFAULTS)) throw new Error(`${file}: missing field '${keys[0]}'`);
    used[field] = key ?? keys[0]!;
    raw[field] = key === undefined ? HF_DEFAULTS[field] : value(key);
  }
  const config = resolveGPTConfig(raw as unknown as GPTConfig, {
    source: file,
    field: (k) => `field '${used[k as Exclude<keyof GPTConfig, 'arch'>] ?? k}'`,
  });
  const nInner = hf.n_inner;
  if (nInner !== undefined && nInner !== null && nInner !== 4 * config.nEmbd)
    throw new Error(`${file}: n_inner ${String(nInner)} is not supported (must be 4 × n_embd)`);
  return config;
}

/** A GPTConfig as HF GPT-2 config.json fields (what GPT2LMHeadModel.from_pretrained reads). */
export function gptConfigToHF(c: GPTConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_positions: c.blockSize,
    n_ctx: c.blockSize,
    n_embd: c.nEmbd,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_inner: null,
    activation_function: 'gelu_new',
    resid_pdrop: c.dropout,
    embd_pdrop: c.dropout,
    attn_pdrop: c.dropout,
    layer_norm_epsilon: c.layerNormEpsilon,
    initializer_range: 0.02,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    torch_rlhf: { bias: c.bias },
    ...extra,
  };
}

const LLAMA_FAMILY = new Set(['llama', 'qwen2', 'mistral']);

/** Reads any supported config.json (GPT-2 or the Llama family) by its model_type. */
export function modelConfigFromHF(hf: Record<string, unknown>, file = 'config.json'): ModelConfig {
  const type = hf.model_type;
  if (typeof type === 'string' && LLAMA_FAMILY.has(type)) return llamaConfigFromHF(hf, file);
  if (type === undefined || type === 'gpt2') return gptConfigFromHF(hf, file);
  throw new Error(`${file}: model_type '${String(type)}' is not supported (supported: gpt2, llama, qwen2, mistral)`);
}

/**
 * A config as its architecture's config.json; `ours` goes under torch_rlhf (the kind of model,
 * the reward normalisation), which transformers ignores.
 */
export function modelConfigToHF(
  c: ModelConfig,
  extra: Record<string, unknown> = {},
  ours: Record<string, unknown> = {},
): Record<string, unknown> {
  if (isLlamaConfig(c)) return llamaConfigToHF(c, { ...extra, ...(Object.keys(ours).length ? { torch_rlhf: ours } : {}) });
  return gptConfigToHF(c, { ...extra, torch_rlhf: { bias: c.bias, ...ours } });
}

/** transformers' sequence-classification class for the architecture (what a reward model is). */
export function sequenceClassificationArchitecture(c: ModelConfig): string {
  if (!isLlamaConfig(c)) return 'GPT2ForSequenceClassification';
  return `${{ llama: 'Llama', qwen2: 'Qwen2', mistral: 'Mistral' }[c.modelType]}ForSequenceClassification`;
}

/** Writes config.json and model.safetensors into `dir` (created if needed), each atomically. */
export async function saveGPT(model: GPT, dir: string, extraConfig: Record<string, unknown> = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // namedParameters lists a tied parameter once: a tied lm_head.weight is left out, as HF does.
  const tensors = new Map(model.namedParameters());
  await saveSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeJsonAtomic(
    join(dir, 'config.json'),
    modelConfigToHF(model.config, { ...dtypeMark(model), ...extraConfig }, originMark(model)),
  );
  rememberModelDir(model, resolve(dir)); // it now holds the model's weights: the base of an adapter put on it later
}

/** config.json's dtype keys (transformers v5 writes `dtype`, older versions read `torch_dtype`): the trunk's weights' dtype. */
export const dtypeMark = (model: GPT): Record<string, string> => {
  const d = model.tokenEmbedding.dtype;
  return { torch_dtype: d, dtype: d };
};

/** config.json's torch_rlhf mark of a model trained here from random weights (what load reads back as origin 'from-scratch'). */
export const originMark = (model: GPT): Record<string, unknown> => (model.origin === 'pretrained' ? {} : { from_scratch: true });

/** The origin of a loaded checkpoint, from its config.json. */
const originOf = (hf: Record<string, unknown>): ModelOrigin =>
  (hf.torch_rlhf as { from_scratch?: unknown } | undefined)?.from_scratch === true ? 'from-scratch' : 'pretrained';

export function readJsonFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${path}: expected a JSON object`);
  return value as Record<string, unknown>;
}

/** A checkpoint's weight files and, when sharded, the shard its index's weight_map names for each tensor. */
interface WeightFiles {
  files: string[];
  /** Raw tensor name → the path of its shard; null for a single model.safetensors. */
  weightMap: Map<string, string> | null;
  index: string;
}

/** The weight files of a checkpoint directory: one model.safetensors, or the shards of its index. */
function weightFiles(dir: string): WeightFiles {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) return { files: [single], weightMap: null, index };
  if (existsSync(index)) {
    const map = readJsonFile(index).weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`${index}: missing field 'weight_map'`);
    const weightMap = new Map<string, string>();
    for (const [name, file] of Object.entries(map)) {
      if (typeof file !== 'string' || file === '')
        throw new Error(`${index}: weight_map[${JSON.stringify(name)}] must be a shard's file name, got ${JSON.stringify(file)}`);
      weightMap.set(name, join(dir, file));
    }
    return { files: [...new Set(weightMap.values())], weightMap, index };
  }
  if (existsSync(join(dir, 'pytorch_model.bin')))
    throw new Error(`${dir}: only safetensors checkpoints are read (pytorch_model.bin is a pickle); convert it with safetensors first`);
  throw new Error(`${dir}: no model.safetensors (or model.safetensors.index.json) found`);
}

/**
 * HF GPT-2 checkpoints name tensors with or without `transformer.`; ours always with. Heads
 * of the models built on the trunk (`score.*`, `v_head.*`) keep their names.
 */
function canonicalName(name: string, c: ModelConfig): string | null {
  if (isLlamaConfig(c)) {
    if (/\.rotary_emb\.inv_freq$/.test(name)) return null; // a buffer older transformers saved
    if (/^(layers\.\d+|embed_tokens|norm)\./.test(name)) return `model.${name}`; // a bare LlamaModel checkpoint
    return name;
  }
  if (/\.attn\.(bias|masked_bias)$/.test(name)) return null; // legacy causal-mask buffers
  if (/^(h\.\d+|wte|wpe|ln_f)\./.test(name)) return `transformer.${name}`; // a bare GPT2Model checkpoint
  return name;
}

/** The prefix of the trunk's tensors (a checkpoint's other tensors may be heads of richer models). */
const trunkPrefix = (c: ModelConfig): string => (isLlamaConfig(c) ? 'model.' : 'transformer.');

/** Whether lm_head.weight is the token embedding (then HF leaves it out of the file). */
const tiedHead = (c: ModelConfig): boolean => !isLlamaConfig(c) || c.tieWordEmbeddings;

/** Every tensor name of a Llama-family model with this config and its shape. */
function expectedLlamaShapes(c: LlamaConfig): Map<string, number[]> {
  const C = c.nEmbd,
    D = c.headDim,
    I = c.intermediateSize;
  const m = new Map<string, number[]>([
    ['model.embed_tokens.weight', [c.vocabSize, C]],
    ['model.norm.weight', [C]],
    ['lm_head.weight', [c.vocabSize, C]],
  ]);
  const linear = (name: string, out: number, inp: number, bias: boolean) => {
    m.set(`${name}.weight`, [out, inp]);
    if (bias) m.set(`${name}.bias`, [out]);
  };
  for (let i = 0; i < c.nLayer; i++) {
    const p = `model.layers.${i}`;
    m.set(`${p}.input_layernorm.weight`, [C]);
    linear(`${p}.self_attn.q_proj`, c.nHead * D, C, c.qkvBias);
    linear(`${p}.self_attn.k_proj`, c.nKvHead * D, C, c.qkvBias);
    linear(`${p}.self_attn.v_proj`, c.nKvHead * D, C, c.qkvBias);
    linear(`${p}.self_attn.o_proj`, C, c.nHead * D, c.oBias);
    m.set(`${p}.post_attention_layernorm.weight`, [C]);
    linear(`${p}.mlp.gate_proj`, I, C, c.mlpBias);
    linear(`${p}.mlp.up_proj`, I, C, c.mlpBias);
    linear(`${p}.mlp.down_proj`, C, I, c.mlpBias);
  }
  return m;
}

/** Every tensor name of a model with this config and its shape (what a checkpoint must hold). */
function expectedShapes(config: ModelConfig): Map<string, number[]> {
  if (isLlamaConfig(config)) return expectedLlamaShapes(config);
  const c = config;
  const C = c.nEmbd;
  const m = new Map<string, number[]>([
    ['transformer.wte.weight', [c.vocabSize, C]],
    ['transformer.wpe.weight', [c.blockSize, C]],
    ['lm_head.weight', [c.vocabSize, C]],
  ]);
  const add = (name: string, w: number[], b: number[]) => {
    m.set(`${name}.weight`, w);
    if (c.bias) m.set(`${name}.bias`, b);
  };
  for (let i = 0; i < c.nLayer; i++) {
    const p = `transformer.h.${i}`;
    add(`${p}.ln_1`, [C], [C]);
    add(`${p}.attn.c_attn`, [C, 3 * C], [3 * C]);
    add(`${p}.attn.c_proj`, [C, C], [C]);
    add(`${p}.ln_2`, [C], [C]);
    add(`${p}.mlp.c_fc`, [C, 4 * C], [4 * C]);
    add(`${p}.mlp.c_proj`, [4 * C, C], [C]);
  }
  add('transformer.ln_f', [C], [C]);
  return m;
}

/**
 * The dtype a checkpoint's floating weights are held in: one of these, or 'auto', the
 * checkpoint's own (transformers' from_pretrained(dtype="auto")).
 */
export type LoadDType = 'auto' | 'float32' | 'bfloat16' | 'float16' | 'float64';
const LOAD_DTYPES: readonly LoadDType[] = ['auto', 'float32', 'bfloat16', 'float16', 'float64'];

export interface LoadGPTOptions {
  device?: Device;
  /**
   * The trunk's dtype (default 'float32', as TRL's create_model_from_path; 'auto': the checkpoint's
   * own, e.g. bf16, as transformers' from_pretrained). Heads that train (a reward model's score, the
   * value head) are float32 on a half-precision trunk, as are LoRA adapters put on it.
   */
  dtype?: LoadDType;
  /** For a directory holding a PEFT adapter: the base model's directory (default: adapter_config.json's base_model_name_or_path). */
  baseModel?: string;
}

/** A model built on the GPT trunk: how to make it from a config, and its heads' tensors. */
export interface GPTFamily<T extends GPT> {
  /** The model with its trunk in `dtype` (its heads in trainingDtype(dtype)). */
  create(config: ModelConfig, hfConfig: Record<string, unknown>, placement: { device?: Device; dtype: DType }): T;
  /** Head tensors beyond the trunk, by name, with their shapes. */
  heads?(config: ModelConfig): Map<string, number[]>;
  /** Heads may be absent (a fresh head on a pretrained trunk keeps its initialisation). */
  headsOptional?: boolean;
}

const plainGPT: GPTFamily<GPT> = { create: (c, _hf, placement) => GPT.create(c, placement) };

const FLOAT_DTYPES = new Set<string>(['float32', 'bfloat16', 'float16', 'float64']);

/**
 * What dtype: 'auto' resolves to, as transformers does it: config.json's `dtype` (or the older
 * `torch_dtype`), else the dtype of the checkpoint's first floating tensor, else float32.
 */
function autoDtype(hf: Record<string, unknown>, firstFloat: DType | undefined): DType {
  const declared = hf.dtype ?? hf.torch_dtype;
  if (typeof declared === 'string' && FLOAT_DTYPES.has(declared)) return declared as DType;
  return firstFloat ?? 'float32';
}

/** options.dtype checked, with an error that names it. */
function requestedDtype(options: LoadGPTOptions): LoadDType {
  const d = options.dtype ?? 'float32';
  if (!LOAD_DTYPES.includes(d))
    throw new TypeError(`LoadGPTOptions.dtype must be one of ${LOAD_DTYPES.map((x) => `'${x}'`).join(', ')}, got ${JSON.stringify(d)}`);
  return d;
}

/** Loads a GPT from an HF GPT-2 directory (ours or the hub's). Nothing leaks on failure. */
export async function loadGPT(dir: string, options: LoadGPTOptions = {}): Promise<GPT> {
  return loadGPTFamily(dir, options, plainGPT);
}

/** Names for a message: the first few, then how many more (a wrong config can miss thousands). */
function someOf(names: string[], max = 5): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** What a loader checks a file's header against. */
interface LoadPlan {
  config: ModelConfig;
  expected: Map<string, number[]>;
  shards: WeightFiles;
}

/**
 * The tensors of file `f` that the model takes, as [its name, the file's name], each checked
 * from the header alone: a name the model has, the shape the config implies, a float dtype, and
 * (sharded) the shard the index's weight_map names for it. Runs before anything is allocated and
 * again on the header of the file that is then read, which may have been replaced meanwhile.
 */
function tensorsToLoad(f: string, header: SafetensorsHeader, plan: LoadPlan): [string, string][] {
  const { config, expected, shards } = plan;
  const out: [string, string][] = [];
  for (const [raw, info] of header.tensors) {
    const name = canonicalName(raw, config);
    if (name === null) continue;
    const shape = expected.get(name);
    if (!shape) {
      // A model's weights may carry heads of a richer model (an RM's score): not ours to load.
      if (!name.startsWith(trunkPrefix(config)) && name !== 'lm_head.weight') continue;
      const what = isLlamaConfig(config) ? `${config.modelType} model` : 'GPT-2';
      throw new Error(`${f}: unexpected tensor '${raw}' for a ${what} with ${config.nLayer} layers`);
    }
    const shard = shards.weightMap ? shards.weightMap.get(raw) : f;
    if (shard !== f)
      throw new Error(
        `${f}: holds tensor '${raw}', but ${shards.index}'s weight_map ` +
          `${shards.weightMap!.has(raw) ? `puts it in ${shard}` : 'does not list it'} (the index and the shards disagree)`,
      );
    if (shape.join(',') !== info.shape.join(','))
      throw new Error(`${f}: tensor '${raw}' has shape [${info.shape}], the config implies [${shape}]`);
    if (!FLOAT_DTYPES.has(info.dtype))
      throw new Error(
        `${f}: tensor '${raw}' is stored as ${info.dtype}, which the model's floating-point weight cannot take as is ` +
          '(quantized checkpoints are not supported; load the unquantized weights)',
      );
    out.push([name, raw]);
  }
  return out;
}

/** Loads any model of the GPT family (GPT, RewardModel, ActorCritic) from a checkpoint directory. */
export async function loadGPTFamily<T extends GPT>(dir: string, options: LoadGPTOptions, family: GPTFamily<T>): Promise<T> {
  const requested = requestedDtype(options);
  // A PEFT adapter directory loads as its base model plus the adapter.
  if (isAdapterDir(dir)) return loadAdapterModel(dir, options, family);
  const configPath = join(dir, 'config.json');
  const hf = readJsonFile(configPath);
  const config = modelConfigFromHF(hf, configPath);
  const shards = weightFiles(dir);
  const heads = family.heads?.(config) ?? new Map<string, number[]>();
  const plan: LoadPlan = { config, expected: new Map([...expectedShapes(config), ...heads]), shards };
  // A tied LM head is the embedding (and HF leaves it out); optional heads keep their initialisation.
  const optional = (name: string): boolean =>
    (name === 'lm_head.weight' && tiedHead(config)) || (!!family.headsOptional && heads.has(name));
  const checkComplete = (absent: string[]): void => {
    const missing = absent.filter((k) => !optional(k));
    if (missing.length === 0) return;
    if (missing.every((k) => heads.has(k))) throw new Error(`${dir}: missing ${someOf(missing)} (is this the right kind of checkpoint?)`);
    throw new Error(`${dir}: missing keys: ${someOf(missing)} (${missing.length} of the ${plan.expected.size} tensors the config implies)`);
  };
  // Names, shapes and dtypes from the headers, all of them, before any data is read or the model
  // allocated: a config that does not match its weights fails at once, whatever size it implies.
  const present = new Set<string>();
  let firstFloat: DType | undefined;
  for (const f of shards.files) {
    const header = await readSafetensorsHeader(f);
    for (const [name, raw] of tensorsToLoad(f, header, plan)) {
      firstFloat ??= header.tensors.get(raw)!.dtype;
      present.add(name);
    }
  }
  checkComplete([...plan.expected.keys()].filter((k) => !present.has(k)));
  const dtype = requested === 'auto' ? autoDtype(hf, firstFloat) : requested;
  const model = family.create(config, hf, { device: options.device, dtype });
  try {
    const loaded = await streamWeights(dir, model, plan);
    // Again on what was read: a file replaced since its header was checked must not load half.
    checkComplete([...plan.expected.keys()].filter((k) => !loaded.has(k)));
    model.origin = originOf(hf);
    rememberModelDir(model, resolve(dir));
    return model;
  } catch (err) {
    model.dispose();
    throw err instanceof Error && !err.message.startsWith(dir) ? new Error(`${dir}: ${err.message}`, { cause: err }) : err;
  } finally {
    emptyCache(); // what loading cached (its read pieces) is not kept as a high-water mark
  }
}

/**
 * Reads every weight straight from its file into the model's parameter, in pieces, cast to the
 * parameter's dtype and device: loading holds the model plus one piece of a file, never a file or
 * a copy of the weights in the file's dtype. A tied LM head stored anyway must equal the embedding.
 */
async function streamWeights(dir: string, model: GPT, plan: LoadPlan): Promise<Set<string>> {
  const { config } = plan;
  const own = model.stateDict();
  const loaded = new Set<string>();
  let storedTiedHead: { file: string; raw: string } | undefined;
  for (const f of plan.shards.files) {
    const reader = await SafetensorsReader.open(f);
    try {
      for (const [name, raw] of tensorsToLoad(f, reader.header, plan)) {
        if (loaded.has(name)) continue;
        loaded.add(name);
        if (name === 'lm_head.weight' && tiedHead(config)) storedTiedHead = { file: f, raw };
        else {
          const dst = own.get(name);
          if (!dst) throw new Error(`the model has no parameter '${name}' for ${f}'s tensor '${raw}'`);
          await reader.readInto(raw, dst);
        }
      }
    } finally {
      await reader.close();
    }
  }
  if (storedTiedHead) await checkTiedHead(dir, model, storedTiedHead);
  return loaded;
}

/** A tied LM head that the checkpoint stores anyway must be the embedding (read once more, in the embedding's dtype). */
async function checkTiedHead(dir: string, model: GPT, { file, raw }: { file: string; raw: string }): Promise<void> {
  const wte = model.tokenEmbedding;
  const reader = await SafetensorsReader.open(file);
  try {
    const head = empty(wte.shape, { dtype: wte.dtype, device: wte.device });
    let same: boolean;
    try {
      await reader.readInto(raw, head);
      same = noGrad(() => head.equal(wte));
    } finally {
      head.dispose();
    }
    if (!same) {
      const embedName = isLlamaConfig(model.config) ? 'model.embed_tokens.weight' : 'transformer.wte.weight';
      throw new Error(
        `${dir}: lm_head.weight differs from ${embedName}, but the config ties ` +
          `them${isLlamaConfig(model.config) ? ' (tie_word_embeddings)' : '; untied LM heads are not supported for GPT-2'}`,
      );
    }
  } finally {
    await reader.close();
  }
}
