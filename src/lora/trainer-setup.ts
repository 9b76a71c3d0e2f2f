// How the trainers take LoRA (TRL's `peft_config`): the adapter goes on the model before the
// optimizer is made, so the optimizer holds the adapter (and the heads trained in full) and
// nothing else; a model that already carries an adapter (loaded from an adapter directory)
// keeps training it. With an adapter, the KL or DPO reference is the same model with the
// adapter off (TRL's null_ref_context), so no second copy of the weights is held. The adapter's
// initialisation (lora_A's random weights) is seeded from the run's seed, as transformers' Trainer
// seeds before PEFT's model is made, so identical runs start from identical adapters.
import type { GPT } from '../models/gpt.js';
import type { Module } from '../nn/module.js';
import { manualSeed } from '../tensor/runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import { adapterBaseDir, hasLora, markChangedInMemory, withAdapterDisabled } from './adapter.js';
import type { LoraConfigInput } from './config.js';
import { applyLora, trainInFull } from './inject.js';

/**
 * Puts `peftConfig`'s adapter on `model` (with `modulesToSave` added: a reward or value head
 * trains in full beside it), its initialisation seeded by `o.seed` (the run's seed; this seeds the
 * generators, as transformers' Trainer does when it is made). Returns whether the model trains an
 * adapter. A model that already has one (and no peftConfig) keeps it; both is an error (merge the
 * first one with `rlhf merge`). A model without one trains in full: its weights are no longer its
 * directory's until the run saves it.
 */
export function prepareLora(
  model: Module,
  peftConfig: LoraConfigInput | undefined,
  who: string,
  o: { seed: number; modulesToSave?: string[]; exclude?: string[] },
): boolean {
  if (peftConfig === undefined) {
    // An adapter loaded with the model keeps training, with the trainer's heads in full beside it.
    if (hasLora(model)) trainInFull(model, o.modulesToSave ?? []);
    else markChangedInMemory(model, `trained in full by ${who}`);
    return hasLora(model);
  }
  if (typeof peftConfig !== 'object' || peftConfig === null) throw new TypeError(`${who}: peftConfig must be a LoRA config object`);
  if (hasLora(model))
    throw new Error(
      `${who}: the model already has a LoRA adapter; leave out peftConfig to keep training it, or merge it into its base first ` +
        '(rlhf merge, or mergeAndUnload)',
    );
  const modulesToSave = [...new Set([...(peftConfig.modulesToSave ?? []), ...(o.modulesToSave ?? [])])];
  const baseModelNameOrPath = adapterBaseDir(model, who); // before anything changes: a base the adapter can name
  manualSeed(o.seed);
  applyLora(model, { ...peftConfig, modulesToSave }, { exclude: o.exclude, baseModelNameOrPath });
  return true;
}

/** The parameters an optimizer should get: those that train (a frozen base has no gradient and gets no state). */
export const trainableParameters = (model: Module): Tensor[] => model.parameters().filter((p) => p.requiresGrad);

/**
 * Runs `fn` on the reference: `ref` when there is one, else the policy itself with its adapter
 * off (the base model). Works for sync and async `fn`.
 */
export function onReference<T>(policy: GPT, ref: GPT | null, fn: (m: GPT) => T): T {
  return ref ? fn(ref) : withAdapterDisabled(policy, () => fn(policy));
}
