// The LoRA adapter of a model: which layers carry one (LoRALinear, by dotted path), the config
// it was made with, the modules trained in full beside it, and the model it adapts. Kept beside
// the model (not in it), so any Module can carry one. Here too are PEFT's operations on it:
// merge / unmerge the deltas into the base weights, enable / disable the adapter (the base model
// alone: the KL reference of the RL trainers, without a second copy of the weights), and the
// adapter's own parameters, which are what trains, what a checkpoint and adapter_model.safetensors hold.
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { LoraConfig } from './config.js';
import { withLayersOff, type LoRALinear } from './lora-linear.js';

export interface LoraAdapter {
  config: LoraConfig;
  /** The adapted layers by dotted path in the model. */
  layers: Map<string, LoRALinear>;
  /** target_modules as saved: the config's, or for 'all-linear' the names of the layers it matched. */
  targetModules: string[] | string;
  /** Whether the adapted layers store their weights (in, out) (GPT-2's Conv1D). */
  fanInFanOut: boolean;
  /** Where the base model was loaded from (base_model_name_or_path), when known. */
  baseModelNameOrPath: string | null;
}

const adapters = new WeakMap<Module, LoraAdapter>();
/** Where a model's weights are on disk: the directory it was loaded from or last saved to as a full model, unless changed since. */
const modelDirs = new WeakMap<Module, { dir: string; changedBy: string | null }>();

/** @internal Records the directory a model was loaded from or saved to: base_model_name_or_path of an adapter made on it. */
export function rememberModelDir(model: Module, dir: string): void {
  modelDirs.set(model, { dir, changedBy: null });
}
/**
 * @internal Records that the model's weights no longer are its directory's (`by`: what changed them,
 * mergeAndUnload or a trainer that trains it in full), until it is saved again.
 */
export function markChangedInMemory(model: Module, by: string): void {
  const known = modelDirs.get(model);
  if (known) known.changedBy = by;
}
/** The directory the model was loaded from (or saved to), when it was and its weights are still that directory's. */
export function modelDir(model: Module): string | null {
  const known = modelDirs.get(model);
  return known && known.changedBy === null ? known.dir : null;
}

/** @internal Runs `save` (a save into a temporary directory, as a checkpoint's) without it becoming the model's directory. */
export async function keepingModelDir<T>(model: Module, save: () => Promise<T>): Promise<T> {
  const before = modelDirs.get(model);
  try {
    return await save();
  } finally {
    if (before) modelDirs.set(model, before);
    else modelDirs.delete(model);
  }
}

/**
 * base_model_name_or_path for an adapter put on `model` now: its directory, or null for a model
 * that never had one. A model changed in memory since it was loaded (merged, or trained in full)
 * and not saved since has no directory that holds its weights: an adapter saved against the old
 * one would load without the changes, so this is an error that says to save the model first.
 */
export function adapterBaseDir(model: Module, who: string): string | null {
  const known = modelDirs.get(model);
  if (!known?.changedBy) return known?.dir ?? null;
  throw new Error(
    `${who}: the ${model.constructor.name} was changed in memory (${known.changedBy}) since it was loaded from ${known.dir}, and ` +
      `not saved since. An adapter trained on it would name ${known.dir} as its base and load without those changes. Save the ` +
      "model first (await model.save(dir)): the adapter's base_model_name_or_path is then that directory.",
  );
}

/** @internal Records (or, with null, forgets) the adapter of a model. */
export function setLoraAdapter(model: Module, adapter: LoraAdapter | null): void {
  if (adapter) adapters.set(model, adapter);
  else adapters.delete(model);
}

/** The model's LoRA adapter, or null. */
export function loraAdapter(model: Module): LoraAdapter | null {
  return adapters.get(model) ?? null;
}

export function hasLora(model: Module): boolean {
  return adapters.has(model);
}

function need(model: Module, what: string): LoraAdapter {
  const a = adapters.get(model);
  if (!a) throw new Error(`${what}: the ${model.constructor.name} has no LoRA adapter`);
  return a;
}

/** Adds every delta into its base weight: forward and generation then cost what the base model does. */
export function mergeAdapter(model: Module): void {
  for (const l of need(model, 'mergeAdapter').layers.values()) l.merge();
}

/** Takes the deltas back out of the base weights. */
export function unmergeAdapter(model: Module): void {
  for (const l of need(model, 'unmergeAdapter').layers.values()) l.unmerge();
}

/** Whether the deltas are merged into the base weights. */
export function isMerged(model: Module): boolean {
  return [...need(model, 'isMerged').layers.values()].some((l) => l.merged);
}

/** Turns the adapter off (the base model alone) or back on; disabling unmerges first, as PEFT does. */
export function setAdapterEnabled(model: Module, enabled: boolean): void {
  for (const l of need(model, enabled ? 'enableAdapter' : 'disableAdapter').layers.values()) {
    if (!enabled) l.unmerge();
    l.enabled = enabled;
  }
}

/**
 * Runs `fn` on the base model (the adapter off), then turns the adapter back on: PEFT's
 * `with model.disable_adapter():`. The adapter is off only for `fn` and what it awaits (an async
 * context, lora-linear.ts), so other work running meanwhile on the same model, such as a server's
 * generate() while a trainer runs its reference forward, still sees the adapter.
 */
export function withAdapterDisabled<T>(model: Module, fn: () => T): T {
  const layers = [...need(model, 'disableAdapter').layers.values()];
  for (const l of layers) l.unmerge(); // a merged adapter is in the weights themselves
  return withLayersOff(layers, fn);
}

/**
 * The adapter's parameters with their names in the model: lora_A / lora_B of every adapted
 * layer, then the parameters of the modules trained in full (modulesToSave).
 */
export function adapterParameters(model: Module): [string, Tensor][] {
  const a = need(model, 'adapterParameters');
  const out: [string, Tensor][] = [];
  for (const [path, l] of a.layers) out.push([`${path}.lora_A.weight`, l.lora_A.weight], [`${path}.lora_B.weight`, l.lora_B.weight]);
  for (const [path, m] of model.namedModules()) if (matchesModuleName(path, a.config.modulesToSave)) out.push(...m.namedParameters(path));
  const seen = new Set<Tensor>();
  return out.filter(([, p]) => !seen.has(p) && !!seen.add(p));
}

/** PEFT's name match: the whole dotted path, or its last parts ('c_attn' matches transformer.h.0.attn.c_attn). */
export function matchesModuleName(path: string, names: readonly string[]): boolean {
  return path !== '' && names.some((n) => path === n || path.endsWith(`.${n}`));
}
