// torch.nn.functional: the layers' math, each one native call.
import { N, type NativeAttentionOptions } from '../native.js';
import { Tensor } from '../tensor/tensor.js';

export type Reduction = 'mean' | 'sum' | 'none';

const tensor = (op: string, t: unknown): Tensor => {
  if (t instanceof Tensor) return t;
  throw new TypeError(`${op}: expected a Tensor, got ${t === null ? 'null' : typeof t}`);
};
const h = (op: string, t: unknown): Tensor['handle'] => tensor(op, t).handle;
const optH = (op: string, t: Tensor | null | undefined) => (t === null || t === undefined ? null : h(op, t));

/** y = x Wᵀ + b, with W of shape (out, in). */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return new Tensor(N.linear(h('linear', input), h('linear', weight), optH('linear', bias)));
}

/** Rows of `weight` picked by integer `indices`; rows at `paddingIdx` get no gradient. */
export function embedding(indices: Tensor, weight: Tensor, options: { paddingIdx?: number } = {}): Tensor {
  let pad = options.paddingIdx;
  if (pad !== undefined) {
    // As PyTorch: a negative index counts from the end; natively -1 means "no padding row".
    const rows = weight.shape[0] ?? 0;
    if (!Number.isInteger(pad) || pad >= rows || pad < -rows)
      throw new RangeError(`embedding: paddingIdx ${pad} must be within the ${rows} embeddings`);
    if (pad < 0) pad += rows;
  }
  return new Tensor(N.embedding(h('embedding', weight), h('embedding', indices), pad ?? -1));
}

export function layerNorm(input: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const options = { weight: optH('layerNorm', weight), bias: optH('layerNorm', bias), eps };
  return new Tensor(N.layerNorm(h('layerNorm', input), normalizedShape, options));
}

/** x / √(mean(x²) + eps) · weight over the last dims (Llama's RMSNorm, torch.nn.functional.rms_norm). */
export function rmsNorm(input: Tensor, normalizedShape: number[], weight?: Tensor | null, eps = 1e-6): Tensor {
  return new Tensor(N.rmsNorm(h('rmsNorm', input), normalizedShape, optH('rmsNorm', weight), eps));
}

/** Zeroes elements with probability p and scales the rest by 1/(1-p), when training. */
export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: probability must be in [0, 1], got ${p}`);
  return new Tensor(N.dropout(h('dropout', input), p, training));
}

export interface CrossEntropyOptions {
  weight?: Tensor | null;
  ignoreIndex?: number;
  reduction?: Reduction;
  labelSmoothing?: number;
}
/** Cross entropy from logits (N, C) or (N, C, d…) and class indices; targets equal to ignoreIndex (-100) are skipped. */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  return new Tensor(
    N.crossEntropy(h('crossEntropy', input), h('crossEntropy', target), {
      weight: optH('crossEntropy', options.weight),
      reduction: options.reduction,
      ignoreIndex: options.ignoreIndex,
      labelSmoothing: options.labelSmoothing,
    }),
  );
}

export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return new Tensor(N.mseLoss(h('mseLoss', input), h('mseLoss', target), reduction));
}

export const relu = (x: Tensor): Tensor => tensor('relu', x).relu();
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor => tensor('gelu', x).gelu(approximate);
export const sigmoid = (x: Tensor): Tensor => tensor('sigmoid', x).sigmoid();
export const logsigmoid = (x: Tensor): Tensor => tensor('logsigmoid', x).logSigmoid();
export const softmax = (x: Tensor, dim: number): Tensor => tensor('softmax', x).softmax(dim);
export const logSoftmax = (x: Tensor, dim: number): Tensor => tensor('logSoftmax', x).logSoftmax(dim);

export interface AttentionOptions {
  /** bool (true = may attend) or float (added to the scores), broadcastable to (…, L, S). */
  attnMask?: Tensor | null;
  dropoutP?: number;
  /** Query i attends to keys 0..i (top-left aligned, as PyTorch). */
  isCausal?: boolean;
  /** Defaults to 1/√E. */
  scale?: number;
  /** Dropout applies only when training (default true, as the functional form in PyTorch). */
  training?: boolean;
  /**
   * Grouped-query attention (PyTorch's enable_gqa): key and value have fewer heads (dim -3)
   * than the query, each serving query.heads / key.heads query heads, without being repeated.
   */
  enableGqa?: boolean;
}
/**
 * softmax(q kᵀ · scale + mask) v: libtorch's own fused kernel (flash attention on CPU; flash or
 * memory-efficient on CUDA). A query that may attend to no key gets zeros, as in PyTorch ≥ 2.5.
 */
export function scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, options: AttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttention';
  return new Tensor(N.scaledDotProductAttention(h(op, query), h(op, key), h(op, value), nativeAttentionOptions(options, false)));
}
/** @internal The op-by-op composition, for the parity test. */
export function scaledDotProductAttentionReference(query: Tensor, key: Tensor, value: Tensor, options: AttentionOptions = {}): Tensor {
  return new Tensor(N.scaledDotProductAttention(query.handle, key.handle, value.handle, nativeAttentionOptions(options, true)));
}
function nativeAttentionOptions(o: AttentionOptions, reference: boolean): NativeAttentionOptions {
  const { dropoutP, isCausal, scale, training, enableGqa } = o;
  return { attnMask: optH('scaledDotProductAttention', o.attnMask), dropoutP, isCausal, scale, training, reference, enableGqa };
}
