// Puts LoRA adapters into a model (PEFT's get_peft_model for LoRA) and takes them out again
// (merge_and_unload). The targets are the linear layers (Linear, GPT-2's Conv1D) that
// targetModules names; 'all-linear' is every one but the output heads (lm_head, a reward model's
// score, the value head), as PEFT. Every base parameter is frozen, so the optimizer gets the
// adapter (and modulesToSave) alone: no gradient and no AdamW state for the base weights.
import { Conv1D } from '../models/gpt.js';
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  adapterBaseDir,
  hasLora,
  loraAdapter,
  markChangedInMemory,
  matchesModuleName,
  setLoraAdapter,
  type LoraAdapter,
} from './adapter.js';
import { loraScaling, resolveLoraConfig, type LoraConfigInput } from './config.js';
import { LoRALinear, type UnwrapLayer } from './lora-linear.js';

/** The output heads 'all-linear' leaves alone (PEFT skips the output embedding and a classifier). */
const OUTPUT_HEADS = ['lm_head', 'score', 'v_head.summary'];

export interface ApplyLoraOptions {
  /** Submodules left out entirely (e.g. a critic with its own trunk and its own adapter). */
  exclude?: string[];
  /**
   * base_model_name_or_path for the saved adapter_config.json. Default: the directory the model
   * was loaded from or last saved to (an error when it was changed in memory since, by a merge or
   * a full training run: save it first).
   */
  baseModelNameOrPath?: string | null;
}

type Layer = Linear | Conv1D;
const isLayer = (m: Module): m is Layer => m instanceof Linear || m instanceof Conv1D;

/** How to rebuild the plain layer from merged weights. */
function unwrapper(layer: Layer): UnwrapLayer {
  return (weight, bias) => {
    const placement = { dtype: weight.dtype, device: weight.device };
    const plain =
      layer instanceof Conv1D
        ? new Conv1D(weight.shape[0]!, weight.shape[1]!, bias !== null, 0, placement)
        : new Linear(weight.shape[1]!, weight.shape[0]!, { bias: bias !== null, ...placement });
    plain.loadStateDict(
      new Map<string, Tensor>(
        bias
          ? [
              ['weight', weight],
              ['bias', bias],
            ]
          : [['weight', weight]],
      ),
    );
    return plain;
  };
}

/**
 * Wraps the targeted linear layers of `model` in LoRALinear (in place) and freezes everything
 * else but modulesToSave. Returns the adapter; the model's stateDict keeps its names and gains
 * `<layer>.lora_A.weight` / `<layer>.lora_B.weight`. Create the optimizer after this.
 */
export function applyLora(model: Module, configInput: LoraConfigInput, options: ApplyLoraOptions = {}): LoraAdapter {
  const config = resolveLoraConfig(configInput);
  if (hasLora(model)) throw new Error(`applyLora: the ${model.constructor.name} already has a LoRA adapter (merge and unload it first)`);
  const baseModelNameOrPath = options.baseModelNameOrPath !== undefined ? options.baseModelNameOrPath : adapterBaseDir(model, 'applyLora');
  const exclude = options.exclude ?? [];
  const skipped = (path: string) => exclude.some((e) => path === e || path.startsWith(`${e}.`));
  // Modules inside an adapted layer (its lora_A and lora_B) are never targets.
  const inside: string[] = [];
  const candidates: [string, Module][] = [];
  for (const [path, m] of model.namedModules()) {
    if (path === '' || skipped(path) || inside.some((p) => path.startsWith(`${p}.`))) continue;
    if (m instanceof LoRALinear) inside.push(path);
    else candidates.push([path, m]);
  }
  const t = config.targetModules;
  const wanted = (path: string): boolean => {
    if (t === 'all-linear') return !matchesModuleName(path, [...OUTPUT_HEADS, ...config.modulesToSave]);
    if (typeof t === 'string') return new RegExp(`^(?:${t})$`).test(path);
    return matchesModuleName(path, t);
  };
  const targets = candidates.filter(([path, m]) => wanted(path) && (t !== 'all-linear' || isLayer(m)));
  const notLinear = targets.filter(([, m]) => !isLayer(m));
  if (notLinear.length)
    throw new Error(
      `applyLora: target '${notLinear[0]![0]}' is a ${notLinear[0]![1].constructor.name}; LoRA adapts linear layers only (Linear ` +
        `and GPT-2's Conv1D)`,
    );
  if (targets.length === 0) {
    const names = [...new Set(candidates.filter(([, m]) => isLayer(m)).map(([p]) => p.split('.').pop()!))];
    throw new Error(
      `applyLora: targetModules ${JSON.stringify(t)} match no linear layer of the ${model.constructor.name} (its linear layers: ` +
        `${names.join(', ')})`,
    );
  }
  const missing = config.modulesToSave.filter((n) => !candidates.some(([p]) => matchesModuleName(p, [n])));
  if (missing.length)
    throw new Error(`applyLora: modulesToSave ${JSON.stringify(missing)} are not modules of the ${model.constructor.name}`);
  for (const [path, p] of model.namedParameters()) if (!skipped(path)) p.requiresGrad_(false);
  for (const [path, m] of candidates) if (matchesModuleName(path, config.modulesToSave)) m.requiresGrad_(true);
  const scaling = loraScaling(config);
  const layers = new Map<string, LoRALinear>();
  for (const [path, m] of targets) {
    const layer = m as Layer;
    const lora = new LoRALinear(
      layer,
      { r: config.r, scaling, dropout: config.loraDropout, fanInFanOut: layer instanceof Conv1D },
      unwrapper(layer),
    );
    model.setSubmodule(path, lora);
    layers.set(path, lora);
  }
  const leafNames = [...new Set([...layers.keys()].map((p) => p.split('.').pop()!))].sort();
  const adapter: LoraAdapter = {
    config,
    layers,
    targetModules: t === 'all-linear' ? leafNames : t,
    fanInFanOut: [...layers.values()].some((l) => l.spec.fanInFanOut),
    baseModelNameOrPath,
  };
  setLoraAdapter(model, adapter);
  return adapter;
}

/**
 * Adds modules to an existing adapter's modulesToSave (unfrozen, saved with it): a reward model
 * loaded from an SFT adapter trains its new score head. Names the model lacks are skipped.
 */
export function trainInFull(model: Module, names: readonly string[]): void {
  const a = loraAdapter(model);
  if (!a) throw new Error(`trainInFull: the ${model.constructor.name} has no LoRA adapter`);
  for (const n of names) {
    if (a.config.modulesToSave.includes(n)) continue;
    const found = [...model.namedModules()].filter(([p]) => matchesModuleName(p, [n]));
    if (found.length === 0) continue;
    for (const [, m] of found) m.requiresGrad_(true);
    a.config.modulesToSave.push(n);
  }
}

/**
 * Merges the adapter into the base weights and puts plain layers back (PEFT's
 * merge_and_unload): the model is the base architecture again, saved as a full model. Its
 * weights are then no longer its directory's: save it (model.save) before a new adapter goes on,
 * so that the adapter names a base that holds them.
 */
export function mergeAndUnload<M extends Module>(model: M): M {
  const a = loraAdapter(model);
  if (!a) throw new Error(`mergeAndUnload: the ${model.constructor.name} has no LoRA adapter`);
  for (const [path, l] of a.layers) {
    l.enabled = true;
    l.merge();
    const plain = l.unwrap(l.weight, l.bias);
    plain.requiresGrad_(false);
    model.setSubmodule(path, plain);
    l.dispose();
  }
  setLoraAdapter(model, null);
  markChangedInMemory(model, 'mergeAndUnload');
  return model;
}
