// PEFT's adapter files: adapter_config.json (LoraConfig's fields) and adapter_model.safetensors
// holding the adapter's tensors under PEFT's keys, `base_model.model.<module path>.lora_A.weight`
// and `.lora_B.weight`, and the modules trained in full under `base_model.model.<path>.weight`.
// What PeftModel.save_pretrained writes and PeftModel.from_pretrained reads. Reading checks the
// names and shapes from the header against the model before any tensor is copied.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../io/safetensors.js';
import { readJsonFile } from '../models/gpt-checkpoint.js';
import type { Module } from '../nn/module.js';
import { noGrad } from '../tensor/runtime.js';
import { adapterParameters, loraAdapter } from './adapter.js';
import { fromPeftConfig, toPeftConfig, type PeftAdapterConfig } from './config.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** PEFT's prefix: PeftModel.base_model (the LoraModel) .model (the adapted model). */
export const PEFT_KEY_PREFIX = 'base_model.model.';

/** Whether a directory holds a PEFT adapter (rather than, or beside, a full model). */
export const isAdapterDir = (dir: string): boolean => existsSync(join(dir, ADAPTER_CONFIG_FILE));

export type PeftTaskType = 'CAUSAL_LM' | 'SEQ_CLS';

/** Writes the model's adapter as PeftModel.save_pretrained does (each file atomically). */
export async function saveAdapter(model: Module, dir: string, taskType: PeftTaskType): Promise<void> {
  const a = loraAdapter(model);
  if (!a) throw new Error(`saveAdapter: the ${model.constructor.name} has no LoRA adapter`);
  mkdirSync(dir, { recursive: true });
  const tensors = new Map(adapterParameters(model).map(([name, t]) => [PEFT_KEY_PREFIX + name, t]));
  await saveSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: 'pt' });
  await writeJsonAtomic(
    join(dir, ADAPTER_CONFIG_FILE),
    toPeftConfig(a.config, {
      targetModules: a.targetModules,
      fanInFanOut: a.fanInFanOut,
      baseModelNameOrPath: a.baseModelNameOrPath,
      taskType,
    }),
  );
}

/** The adapter_config.json of a directory, checked. */
export function readAdapterConfig(dir: string): PeftAdapterConfig {
  const file = join(dir, ADAPTER_CONFIG_FILE);
  return fromPeftConfig(readJsonFile(file), file);
}

/** The module paths an adapter file holds (lora layers aside): what it trains in full. */
export async function fullModulesInAdapterFile(dir: string): Promise<string[]> {
  const file = join(dir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(file)) throw new Error(`${dir}: no ${ADAPTER_WEIGHTS_FILE} beside ${ADAPTER_CONFIG_FILE}`);
  const names = [...(await readSafetensorsHeader(file)).tensors.keys()].map((k) => fileKeyToName(k, file));
  return [...new Set(names.filter((n) => !/\.lora_[AB]\.weight$/.test(n)).map((n) => n.split('.')[0]!))];
}

/** A key of adapter_model.safetensors as a parameter name of the model. */
function fileKeyToName(key: string, file: string): string {
  if (!key.startsWith(PEFT_KEY_PREFIX))
    throw new Error(`${file}: tensor '${key}' does not start with '${PEFT_KEY_PREFIX}' (not a PEFT adapter file?)`);
  // Files of older PEFT versions may keep the adapter's name ("default") in the key.
  return key
    .slice(PEFT_KEY_PREFIX.length)
    .replace(/\.(lora_[AB])\.default\.weight$/, '.$1.weight')
    .replace(/\.modules_to_save\.default\./, '.');
}

/**
 * Copies adapter_model.safetensors of `dir` into the model's adapter. Every adapter tensor
 * must be there with its shape, and nothing else; nothing is written unless all of it checks out.
 */
export async function loadAdapterWeights(model: Module, dir: string): Promise<void> {
  const file = join(dir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(file)) throw new Error(`${dir}: no ${ADAPTER_WEIGHTS_FILE} beside ${ADAPTER_CONFIG_FILE}`);
  const own = new Map(adapterParameters(model));
  const header = await readSafetensorsHeader(file);
  const seen = new Set<string>();
  for (const [key, info] of header.tensors) {
    const name = fileKeyToName(key, file);
    const p = own.get(name);
    if (!p)
      throw new Error(
        `${file}: unexpected tensor '${key}' (the model's adapter has no '${name}'; does the adapter belong to this base model and ` +
          'config?)',
      );
    if (p.shape.join(',') !== info.shape.join(','))
      throw new Error(`${file}: tensor '${key}' has shape [${info.shape}], the model's adapter [${p.shape}]`);
    seen.add(name);
  }
  const missing = [...own.keys()].filter((n) => !seen.has(n));
  if (missing.length)
    throw new Error(
      `${file}: missing ${missing
        .slice(0, 5)
        .map((n) => `'${PEFT_KEY_PREFIX}${n}'`)
        .join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`,
    );
  const { tensors } = await loadSafetensors(file);
  try {
    noGrad(() => {
      for (const [key, t] of tensors) own.get(fileKeyToName(key, file))!.copy_(t);
    });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
