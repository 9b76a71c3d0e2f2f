// A frozen copy of a causal LM: the same architecture (GPT-2 or Llama family), config and
// weights in new tensors, without gradients and in eval mode. DPO's reference model is a frozen
// copy of the starting policy (TRL's create_reference_model), so that training the policy
// never moves it.
import { captureRng, restoreRng } from '../trainers/checkpoint.js';
import { noGrad } from '../tensor/runtime.js';
import { GPT } from './gpt.js';

/** A frozen deep copy of `model` on its device and dtype; the global generator is left as it was. */
export function frozenCopy(model: GPT): GPT {
  const first = model.parameters()[0]!;
  // Building a model draws its initial weights; they are overwritten at once, and the caller's
  // random stream must not depend on whether a copy was made.
  const rng = captureRng();
  const copy = GPT.create(model.config, { device: first.device, dtype: first.dtype });
  restoreRng(rng);
  noGrad(() => copy.loadStateDict(model.stateDict()));
  copy.origin = model.origin;
  return copy.requiresGrad_(false).eval();
}
