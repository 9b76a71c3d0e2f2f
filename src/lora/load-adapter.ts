// Loading a directory that holds a PEFT adapter as base model plus adapter, for every kind of
// model directory (causal LM, reward model, actor-critic): the base comes from an explicit
// directory (the CLI's --base-model) or adapter_config.json's base_model_name_or_path, taken
// as it is when absolute, else relative to the adapter's directory and then to the working
// directory. The loaded adapter stays trainable (training continues it), the base frozen.
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { GPT } from '../models/gpt.js';
import { loadGPTFamily, type GPTFamily, type LoadGPTOptions } from '../models/gpt-checkpoint.js';
import { applyLora } from './inject.js';
import { ADAPTER_CONFIG_FILE, fullModulesInAdapterFile, loadAdapterWeights, readAdapterConfig } from './peft-files.js';
import { matchesModuleName } from './adapter.js';

/** The base model's directory for an adapter directory. */
export function resolveBaseModelDir(adapterDir: string, nameOrPath: string | null, explicit?: string): string {
  if (explicit !== undefined) {
    if (!existsSync(join(explicit, 'config.json'))) throw new Error(`base model ${explicit}: no config.json there`);
    return explicit;
  }
  if (nameOrPath === null)
    throw new Error(
      `${join(adapterDir, ADAPTER_CONFIG_FILE)}: no base_model_name_or_path; pass the base model's directory (--base-model, or ` +
        'LoadGPTOptions.baseModel)',
    );
  const places = isAbsolute(nameOrPath) ? [nameOrPath] : [resolve(adapterDir, nameOrPath), resolve(nameOrPath)];
  const found = places.find((p) => existsSync(join(p, 'config.json')));
  if (found) return found;
  throw new Error(
    `${join(adapterDir, ADAPTER_CONFIG_FILE)}: the base model '${nameOrPath}' was not found (looked in ` +
      `${[...new Set(places)].join(', ')}); ` +
      'pass its directory with --base-model (LoadGPTOptions.baseModel)',
  );
}

/** Loads base + adapter; nothing leaks on failure. */
export async function loadAdapterModel<T extends GPT>(
  dir: string,
  options: LoadGPTOptions & { baseModel?: string },
  family: GPTFamily<T>,
): Promise<T> {
  const peft = readAdapterConfig(dir);
  // dtype 'auto' is the base's own (the adapter file's float32 tensors say nothing of it).
  const baseDir = resolveBaseModelDir(dir, peft.baseModelNameOrPath, options.baseModel);
  // The heads an adapter trains in full (a reward model's score, a value head) come from the adapter.
  const model = await loadGPTFamily(baseDir, { device: options.device, dtype: options.dtype }, { ...family, headsOptional: true });
  try {
    const modules = new Set<string>();
    for (const m of [...peft.config.modulesToSave, ...(await fullModulesInAdapterFile(dir))])
      if ([...model.namedModules()].some(([p]) => matchesModuleName(p, [m]))) modules.add(m);
    applyLora(model, { ...peft.config, modulesToSave: [...modules] }, { baseModelNameOrPath: resolve(baseDir), exclude: ['critic'] });
    await loadAdapterWeights(model, dir);
    return model;
  } catch (err) {
    model.dispose();
    throw err instanceof Error && !err.message.includes(dir) ? new Error(`${dir}: ${err.message}`, { cause: err }) : err;
  }
}
