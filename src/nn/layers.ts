// The basic layers, initialised as torch.nn initialises them.
import * as F from './functional.js';
import { Module } from './module.js';
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import { cat } from '../tensor/join.js';
import { empty, ones, zeros } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { isHalfDtype, type DType, type Device } from '../tensor/types.js';

interface Placement {
  dtype?: DType;
  device?: Device;
}
const uniform = (shape: number[], bound: number, o: Placement): Tensor => noGrad(() => empty(shape, o).uniform_(-bound, bound));

/** A copy of `old` with `n` rows: cut, or grown with rows at the mean of the old ones (HF's resize_token_embeddings). */
function resizedRows(what: string, old: Tensor, n: number): Tensor {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what}: size must be a positive integer, got ${n}`);
  const rows = old.shape[0]!;
  return noGrad(() =>
    tidy(() => (n <= rows ? old.narrow(0, 0, n).clone() : cat([old, old.mean(0, true).expand(n - rows, old.shape[1]!)], 0))),
  );
}

/** y = x Wᵀ + b; W (out, in) and b ~ U(-1/√in, 1/√in) as torch.nn.Linear. */
export class Linear extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } & Placement = {},
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    this.registerParameter('weight', uniform([outFeatures, inFeatures], bound, options));
    if (options.bias ?? true) this.registerParameter('bias', uniform([outFeatures], bound, options));
  }
  get weight(): Tensor {
    return this.param('weight');
  }
  get bias(): Tensor | null {
    return this.optParam('bias');
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
  /** Resizes to `n` outputs (an untied LM head after the vocabulary grew); new rows start at the mean. */
  resizeOutputs(n: number): void {
    const old = this.weight;
    this.registerParameter('weight', resizedRows('Linear.resizeOutputs', old, n));
    old.dispose();
    const bias = this.bias;
    if (bias) {
      this.registerParameter(
        'bias',
        tidy(() => resizedRows('Linear.resizeOutputs', bias.unsqueeze(1), n).squeeze(1).contiguous()),
      );
      bias.dispose();
    }
    (this as { outFeatures: number }).outFeatures = n;
  }
}

/** A lookup table of `num` vectors of size `dim`, N(0, 1) as torch.nn.Embedding. */
export class Embedding extends Module {
  readonly paddingIdx?: number;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: { paddingIdx?: number } & Placement = {},
  ) {
    super();
    const w = noGrad(() => empty([numEmbeddings, embeddingDim], options).normal_(0, 1));
    if (options.paddingIdx !== undefined) {
      this.paddingIdx = options.paddingIdx < 0 ? options.paddingIdx + numEmbeddings : options.paddingIdx;
      noGrad(() => w.select(0, this.paddingIdx!).zero_().dispose());
    }
    this.registerParameter('weight', w);
  }
  get weight(): Tensor {
    return this.param('weight');
  }
  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight, { paddingIdx: this.paddingIdx });
  }
  /**
   * Grows (or shrinks) the table to `n` rows; new rows start at the mean of the old ones (as
   * Hugging Face's resize_token_embeddings). The parameter is replaced: create optimizers after.
   */
  resize(n: number): Tensor {
    const old = this.weight;
    const next = resizedRows('Embedding.resize', old, n);
    this.registerParameter('weight', next);
    old.dispose();
    return next;
  }
}

/** Layer normalisation over the last dimensions; weight 1, bias 0. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  constructor(
    normalizedShape: number | number[],
    readonly options: { eps?: number; elementwiseAffine?: boolean; bias?: boolean } & Placement = {},
  ) {
    super();
    this.normalizedShape = Array.isArray(normalizedShape) ? normalizedShape : [normalizedShape];
    if (options.elementwiseAffine ?? true) {
      this.registerParameter('weight', ones(this.normalizedShape, options));
      if (options.bias ?? true) this.registerParameter('bias', zeros(this.normalizedShape, options));
    }
  }
  get eps(): number {
    return this.options.eps ?? 1e-5;
  }
  get weight(): Tensor | null {
    return this.optParam('weight');
  }
  get bias(): Tensor | null {
    return this.optParam('bias');
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}

/** Zeroes elements with probability p while training; the identity in eval mode. */
/** Root-mean-square normalisation with a learned scale (no bias, no centring), as torch.nn.RMSNorm. */
export class RMSNorm extends Module {
  constructor(
    readonly size: number,
    readonly eps = 1e-6,
    options: Placement = {},
  ) {
    super();
    this.registerParameter('weight', ones([size], options));
  }
  get weight(): Tensor {
    return this.param('weight');
  }
  /**
   * In half precision, transformers' LlamaRMSNorm step by step: normalised in float32, rounded to
   * the input's dtype, then scaled by the weight in it (torch's fused rms_norm scales before
   * rounding, which differs in the last bit); in float32 the two are the same, and fused is faster.
   */
  forward(x: Tensor): Tensor {
    if (!isHalfDtype(x.dtype)) return F.rmsNorm(x, [this.size], this.weight, this.eps);
    return tidy(() => F.rmsNorm(x.float(), [this.size], null, this.eps).to(x.dtype).mul(this.weight));
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout: probability must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}
