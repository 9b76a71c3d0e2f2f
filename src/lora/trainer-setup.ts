// How the trainers take LoRA (TRL's `peft_config`): the adapter goes on the model before the
// optimizer is made, so the optimizer holds the adapter (and the heads trained in full) and
// nothing else; a model that already carries an adapter (loaded from an adapter directory)
// keeps training it. With an adapter, the KL or DPO reference is the same model with the
// adapter off (TRL's null_ref_context), so no second copy of the weights is held.
import type { GPT } from '../models/gpt.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { hasLora, withAdapterDisabled } from './adapter.js';
import type { LoraConfigInput } from './config.js';
import { applyLora, trainInFull } from './inject.js';

/**
 * Puts `peftConfig`'s adapter on `model` (with `modulesToSave` added: a reward or value head
 * trains in full beside it). Returns whether the model trains an adapter. A model that already
 * has one (and no peftConfig) keeps it; both is an error (merge the first one with `rlhf merge`).
 */
export function prepareLora(
  model: Module,
  peftConfig: LoraConfigInput | undefined,
  who: string,
  o: { modulesToSave?: string[]; exclude?: string[] } = {},
): boolean {
  if (peftConfig === undefined) {
    // An adapter loaded with the model keeps training, with the trainer's heads in full beside it.
    if (hasLora(model)) trainInFull(model, o.modulesToSave ?? []);
    return hasLora(model);
  }
  if (typeof peftConfig !== 'object' || peftConfig === null) throw new TypeError(`${who}: peftConfig must be a LoRA config object`);
  if (hasLora(model))
    throw new Error(
      `${who}: the model already has a LoRA adapter; leave out peftConfig to keep training it, or merge it into its base first ` +
        '(rlhf merge, or mergeAndUnload)',
    );
  const modulesToSave = [...new Set([...(peftConfig.modulesToSave ?? []), ...(o.modulesToSave ?? [])])];
  applyLora(model, { ...peftConfig, modulesToSave }, { exclude: o.exclude });
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
