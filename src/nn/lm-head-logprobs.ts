// Log-probabilities, entropy and cross entropy of a linear LM head straight from the hidden
// states, over the vocabulary in chunks of positions (native/lm_head_logprobs.h). The plain way,
// linear → logSoftmax → gather, holds the whole (positions, vocabulary) float32 logits and
// autograd keeps them, and logSoftmax's copy, for backward: 600 KB a position each at Qwen2.5's
// vocabulary of 151,936, gigabytes for one batch. Here one chunk of logits (about 32 MB) exists
// at a time, backward recomputes it, and positions whose target is ignored cost nothing.
import { N, type Handle as NativeHandle, type NativeLMHeadOptions } from '../native.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

export interface LMHeadLogprobsOptions {
  /** The logits are divided by it (PPO and GRPO score tokens at the sampling temperature); default 1. */
  temperature?: number;
  /**
   * How many positions' logits are computed at a time (in tiles of rows × vocabulary columns);
   * default: about 32 MB of float32 logits (2²³ / vocabulary positions).
   */
  chunkSize?: number;
  /** Targets equal to it are skipped: log-prob 0, entropy 0, argmax -1, no gradient (default -100, PyTorch's). */
  ignoreIndex?: number;
  /** Also the entropy of each position's distribution (differentiable). */
  entropy?: boolean;
  /** Also each position's most likely token (int64, no gradient). */
  argmax?: boolean;
  /** Also each position's sum of the logits over the vocabulary (after the temperature; no gradient). */
  logitSum?: boolean;
}

export interface LMHeadLogprobs {
  /** log p(target) per position, shaped as the targets; float32 (float64 for float64 inputs). */
  logprobs: Tensor;
  entropy: Tensor | null;
  argmax: Tensor | null;
  logitSum: Tensor | null;
}

/**
 * log softmax(hidden · weightᵀ / temperature) at `targets`, chunked: hidden (…, C), weight
 * (V, C) (a tied embedding or a head of its own; a weight without requiresGrad gets no gradient
 * computed, as a frozen head under LoRA), targets (…) integer ids. The outputs have the targets'
 * shape. Equal to the plain computation (linear, logSoftmax, gather) in values and gradients.
 * Under autocast the matmuls run in its dtype, otherwise in the weight's; the softmax in float32.
 */
export function lmHeadLogprobs(hidden: Tensor, weight: Tensor, targets: Tensor, options: LMHeadLogprobsOptions = {}): LMHeadLogprobs {
  const native = headOptions(hidden, weight, targets, options);
  return tidy(() => {
    const [h, t] = flatten(hidden, targets);
    return shapedAs(targets, N.lmHeadLogprobs(h.handle, weight.handle, t.handle, native));
  });
}

/** lmHeadLogprobs on the compute thread (the training step), under the modes it is called in: the JS thread stays free meanwhile. */
export async function lmHeadLogprobsAsync(
  hidden: Tensor,
  weight: Tensor,
  targets: Tensor,
  options: LMHeadLogprobsOptions = {},
): Promise<LMHeadLogprobs> {
  const native = headOptions(hidden, weight, targets, options);
  const [h, t] = tidy(() => flatten(hidden, targets));
  try {
    const out = await N.lmHeadLogprobsAsync(h.handle, weight.handle, t.handle, native);
    return tidy(() => shapedAs(targets, out));
  } finally {
    h.dispose();
    t.dispose();
  }
}

/** The arguments checked, and the native options. */
function headOptions(hidden: Tensor, weight: Tensor, targets: Tensor, options: LMHeadLogprobsOptions): NativeLMHeadOptions {
  for (const [name, t] of [
    ['hidden', hidden],
    ['weight', weight],
    ['targets', targets],
  ] as const)
    if (!(t instanceof Tensor)) throw new TypeError(`lmHeadLogprobs: ${name} must be a Tensor`);
  if (hidden.ndim < 1 || targets.ndim !== hidden.ndim - 1)
    throw new TypeError(`lmHeadLogprobs: hidden [${hidden.shape}] must be targets' shape [${targets.shape}] plus a width`);
  const { temperature, chunkSize, ignoreIndex, entropy, argmax, logitSum } = options;
  if (chunkSize !== undefined && !(Number.isInteger(chunkSize) && chunkSize > 0))
    throw new RangeError(`lmHeadLogprobs: chunkSize must be a positive integer, got ${chunkSize}`);
  return { temperature, chunkSize, ignoreIndex, entropy, argmax, logitSum };
}

/** hidden as (positions, C) and targets as (positions). */
const flatten = (hidden: Tensor, targets: Tensor): [Tensor, Tensor] => [
  hidden.reshape(-1, hidden.shape[hidden.ndim - 1]!),
  targets.reshape(-1),
];

/** The native outputs in the targets' shape. */
function shapedAs(targets: Tensor, [lp, h, am, ls]: [NativeHandle, NativeHandle | null, NativeHandle | null, NativeHandle | null]) {
  const shaped = (x: NativeHandle | null) => (x === null ? null : new Tensor(x).view(...targets.shape));
  return { logprobs: shaped(lp)!, entropy: shaped(h), argmax: shaped(am), logitSum: shaped(ls) };
}

/**
 * Cross entropy of a linear LM head against `targets`, chunked (lmHeadLogprobs): the mean over
 * the targets that are not ignoreIndex (NaN when there are none, as PyTorch's cross_entropy),
 * their sum, or per position ('none': 0 at ignored ones). Equals
 * F.crossEntropy(linear(hidden, weight), targets, {ignoreIndex}) without its logits.
 */
export function lmHeadCrossEntropy(
  hidden: Tensor,
  weight: Tensor,
  targets: Tensor,
  options: { reduction?: 'mean' | 'sum' | 'none'; ignoreIndex?: number; chunkSize?: number } = {},
): Tensor {
  const { ignoreIndex = -100, chunkSize } = options;
  return tidy(() => reduceNll(lmHeadLogprobs(hidden, weight, targets, { ignoreIndex, chunkSize }).logprobs, targets, options));
}

/** lmHeadCrossEntropy on the compute thread (see lmHeadLogprobsAsync). */
export async function lmHeadCrossEntropyAsync(
  hidden: Tensor,
  weight: Tensor,
  targets: Tensor,
  options: { reduction?: 'mean' | 'sum' | 'none'; ignoreIndex?: number; chunkSize?: number } = {},
): Promise<Tensor> {
  const { ignoreIndex = -100, chunkSize } = options;
  const { logprobs } = await lmHeadLogprobsAsync(hidden, weight, targets, { ignoreIndex, chunkSize });
  return tidy(() => reduceNll(logprobs, targets, options));
}

/** The cross entropy from the targets' log-probs, reduced as asked (the log-probs are consumed). */
function reduceNll(logprobs: Tensor, targets: Tensor, options: { reduction?: 'mean' | 'sum' | 'none'; ignoreIndex?: number }): Tensor {
  const { reduction = 'mean', ignoreIndex = -100 } = options;
  const nll = logprobs.neg();
  logprobs.dispose();
  if (reduction === 'none') return nll;
  if (reduction === 'sum') return nll.sum();
  return nll.sum().div(targets.ne(ignoreIndex).sum());
}
