// GPT checkpoints in Hugging Face's GPT-2 layout: config.json (GPT-2 keys) + model.safetensors
// (Conv1D weights stored (in, out), LM head tied to wte and not stored). Real GPT-2
// checkpoints from the hub load as they are (with or without the `transformer.` prefix, with
// or without the legacy attention-mask buffers, single file or sharded).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../io/safetensors.js';
import { noGrad } from '../tensor/runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import type { DType, Device } from '../tensor/types.js';
import { GPT, resolveGPTConfig, type GPTConfig } from './gpt.js';

const TANH_GELUS = new Set(['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast']);

/** Reads an HF GPT-2 config.json into a GPTConfig; errors name the file and the field. */
export function gptConfigFromHF(hf: Record<string, unknown>, file = 'config.json'): GPTConfig {
  const int = (key: string, ...alts: string[]): number => {
    for (const k of [key, ...alts]) {
      const v = hf[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`${file}: field '${k}' must be a positive integer, got ${JSON.stringify(v)}`);
      return v;
    }
    throw new Error(`${file}: missing field '${key}'`);
  };
  if (hf.model_type !== undefined && hf.model_type !== 'gpt2') throw new Error(`${file}: model_type '${String(hf.model_type)}' is not supported (expected 'gpt2')`);
  const act = hf.activation_function ?? 'gelu_new';
  if (typeof act !== 'string' || !TANH_GELUS.has(act)) throw new Error(`${file}: activation_function '${String(act)}' is not supported (GPT-2 uses gelu_new)`);
  const nInner = hf.n_inner;
  const nEmbd = int('n_embd', 'hidden_size');
  if (nInner !== undefined && nInner !== null && nInner !== 4 * nEmbd) throw new Error(`${file}: n_inner ${String(nInner)} is not supported (must be 4 × n_embd)`);
  const pdrop = hf.resid_pdrop ?? hf.embd_pdrop ?? 0;
  if (typeof pdrop !== 'number') throw new Error(`${file}: field 'resid_pdrop' must be a number`);
  const eps = hf.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number') throw new Error(`${file}: field 'layer_norm_epsilon' must be a number`);
  const extra = (hf.torch_rlhf ?? {}) as { bias?: boolean };
  try {
    return resolveGPTConfig({
      vocabSize: int('vocab_size'),
      blockSize: int('n_positions', 'n_ctx', 'max_position_embeddings'),
      nLayer: int('n_layer', 'num_hidden_layers'),
      nHead: int('n_head', 'num_attention_heads'),
      nEmbd,
      dropout: pdrop,
      bias: extra.bias ?? true,
      layerNormEpsilon: eps,
    });
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
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

/** Writes config.json and model.safetensors into `dir` (created if needed), each atomically. */
export async function saveGPT(model: GPT, dir: string, extraConfig: Record<string, unknown> = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // namedParameters lists a tied parameter once: lm_head.weight is left out, as HF does.
  const tensors = new Map(model.namedParameters());
  await saveSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeJsonAtomic(join(dir, 'config.json'), gptConfigToHF(model.config, extraConfig));
}

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

/** The weight files of a checkpoint directory: one model.safetensors, or the shards of its index. */
function weightFiles(dir: string): string[] {
  const single = join(dir, 'model.safetensors');
  if (existsSync(single)) return [single];
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const map = readJsonFile(index).weight_map;
    if (typeof map !== 'object' || map === null) throw new Error(`${index}: missing field 'weight_map'`);
    return [...new Set(Object.values(map as Record<string, string>))].map((f) => join(dir, f));
  }
  if (existsSync(join(dir, 'pytorch_model.bin')))
    throw new Error(`${dir}: only safetensors checkpoints are read (pytorch_model.bin is a pickle); convert it with safetensors first`);
  throw new Error(`${dir}: no model.safetensors (or model.safetensors.index.json) found`);
}

/**
 * HF GPT-2 checkpoints name tensors with or without `transformer.`; ours always with. Heads
 * of the models built on the trunk (`score.*`, `v_head.*`) keep their names.
 */
function canonicalName(name: string): string | null {
  if (/\.attn\.(bias|masked_bias)$/.test(name)) return null; // legacy causal-mask buffers
  if (/^(h\.\d+|wte|wpe|ln_f)\./.test(name)) return `transformer.${name}`; // a bare GPT2Model checkpoint
  return name;
}

/** Every tensor name of a GPT with this config and its shape (what a checkpoint must hold). */
function expectedShapes(c: GPTConfig): Map<string, number[]> {
  const C = c.nEmbd;
  const m = new Map<string, number[]>([['transformer.wte.weight', [c.vocabSize, C]], ['transformer.wpe.weight', [c.blockSize, C]], ['lm_head.weight', [c.vocabSize, C]]]);
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

export interface LoadGPTOptions {
  device?: Device;
  dtype?: DType;
}

/** A model built on the GPT trunk: how to make it from a config, and its heads' tensors. */
export interface GPTFamily<T extends GPT> {
  create(config: GPTConfig, hfConfig: Record<string, unknown>, device?: Device): T;
  /** Head tensors beyond the trunk, by name, with their shapes. */
  heads?(config: GPTConfig): Map<string, number[]>;
  /** Heads may be absent (a fresh head on a pretrained trunk keeps its initialisation). */
  headsOptional?: boolean;
}

const plainGPT: GPTFamily<GPT> = { create: (c, _hf, device) => GPT.create(c, { device }) };

/** Loads a GPT from an HF GPT-2 directory (ours or the hub's). Nothing leaks on failure. */
export async function loadGPT(dir: string, options: LoadGPTOptions = {}): Promise<GPT> {
  return loadGPTFamily(dir, options, plainGPT);
}

/** Loads any model of the GPT family (GPT, RewardModel, ActorCritic) from a checkpoint directory. */
export async function loadGPTFamily<T extends GPT>(dir: string, options: LoadGPTOptions, family: GPTFamily<T>): Promise<T> {
  const configPath = join(dir, 'config.json');
  const hf = readJsonFile(configPath);
  const config = gptConfigFromHF(hf, configPath);
  const files = weightFiles(dir);
  const heads = family.heads?.(config) ?? new Map<string, number[]>();
  // Check names and shapes from the headers before reading any data.
  const expected = new Map([...expectedShapes(config), ...heads]);
  const present = new Set<string>();
  for (const f of files) {
    const header = await readSafetensorsHeader(f);
    for (const [raw, info] of header.tensors) {
      const name = canonicalName(raw);
      if (name === null) continue;
      const shape = expected.get(name);
      if (!shape) {
        // A GPT's weights may carry heads of a richer model (an RM's score): not ours to load.
        if (!name.startsWith('transformer.') && name !== 'lm_head.weight') continue;
        throw new Error(`${f}: unexpected tensor '${raw}' for a GPT-2 with ${config.nLayer} layers`);
      }
      if (shape.join(',') !== info.shape.join(','))
        throw new Error(`${f}: tensor '${raw}' has shape [${info.shape}], the config implies [${shape}]`);
      present.add(name);
    }
  }
  const missingHeads = [...heads.keys()].filter((k) => !present.has(k));
  if (missingHeads.length > 0 && !family.headsOptional) throw new Error(`${dir}: missing ${missingHeads.join(', ')} (is this the right kind of checkpoint?)`);
  const model = family.create(config, hf, options.device);
  const loaded = new Map<string, Tensor>();
  try {
    for (const f of files) {
      const { tensors } = await loadSafetensors(f);
      for (const [raw, t] of tensors) {
        const name = canonicalName(raw);
        if (name === null || loaded.has(name) || !expected.has(name)) t.dispose();
        else loaded.set(name, t);
      }
    }
    const head = loaded.get('lm_head.weight');
    const wte = loaded.get('transformer.wte.weight');
    if (head && wte && !noGrad(() => head.equal(wte)))
      throw new Error(`${dir}: lm_head.weight differs from transformer.wte.weight; untied LM heads are not supported`);
    if (!head && wte) loaded.set('lm_head.weight', wte);
    const { missingKeys } = model.loadStateDict(loaded, { strict: false });
    const missing = missingKeys.filter((k) => !(family.headsOptional && heads.has(k)));
    if (missing.length > 0) throw new Error(`missing keys: ${missing.join(', ')}`);
    if (options.dtype) model.to(options.dtype);
    return model;
  } catch (err) {
    model.dispose();
    throw err instanceof Error && !err.message.startsWith(dir) ? new Error(`${dir}: ${err.message}`) : err;
  } finally {
    for (const t of new Set(loaded.values())) t.dispose();
  }
}
