// LoRALinear: a linear layer (torch's Linear, or GPT-2's Conv1D that stores its weight (in, out))
// with a low-rank adapter beside it, as PEFT's lora.Linear: y = base(x) + B(A(dropout(x)))·s,
// s = alpha / r (rsLoRA: alpha / √r). It takes the place of the layer in the model and keeps
// the layer's weight and bias under their own names (frozen), so the model's checkpoint names
// do not change; the adapter is lora_A (r × in, torch's Linear initialisation) and lora_B
// (out × r, zeros, so training starts from the base model), whose names are PEFT's file keys
// without `base_model.model.`. With fanInFanOut (Conv1D) the delta B·A is transposed when
// merged, as PEFT's fan_in_fan_out does.
//
// On a half-precision base (a bf16 checkpoint loaded as it is stored) the adapter is float32,
// as PEFT's get_peft_model(autocast_adapter_dtype=True) makes it: lora_A and lora_B, their
// gradients and so their AdamW state are float32, and only the frozen base is bf16. Forward
// then does what PEFT's lora.Linear does: the base layer in its dtype, the input cast to the
// adapter's dtype for B·A, the sum taken in float32 and the result cast back to the base's
// output dtype. Merging adds the float32 delta into the bf16 weight (one rounding).
import { AsyncLocalStorage } from 'node:async_hooks';
import * as F from '../nn/functional.js';
import { Dropout, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { trainingDtype } from '../tensor/types.js';

export interface LoRALayerSpec {
  r: number;
  /** The delta's scale (loraScaling of the config). */
  scaling: number;
  dropout: number;
  /** The base weight is stored (in, out), as GPT-2's Conv1D. */
  fanInFanOut: boolean;
}

/** The plain layer a LoRALinear replaced, rebuilt from weights (for mergeAndUnload). */
export type UnwrapLayer = (weight: Tensor, bias: Tensor | null) => Module;

/**
 * Layers whose adapter is off in the current async context. withAdapterDisabled (adapter.ts) turns
 * an adapter off for one call and everything it awaits, not for the whole process: a reference
 * forward awaits the compute thread layer by layer, and a server's generate() running meanwhile
 * must still see the adapter.
 */
const offHere = new AsyncLocalStorage<ReadonlySet<LoRALinear>>();

/** Runs `fn` (and what it awaits) with these layers' adapters off. */
export function withLayersOff<T>(layers: Iterable<LoRALinear>, fn: () => T): T {
  return offHere.run(new Set([...(offHere.getStore() ?? []), ...layers]), fn);
}

export class LoRALinear extends Module {
  readonly lora_A: Linear;
  readonly lora_B: Linear;
  readonly lora_dropout: Dropout;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** False while the adapter is disabled (the base model alone). */
  enabled = true;
  /** The delta is in the base weight (merge()). */
  merged = false;

  constructor(
    base: { weight: Tensor; bias: Tensor | null },
    readonly spec: LoRALayerSpec,
    readonly unwrap: UnwrapLayer,
  ) {
    super();
    const w = base.weight;
    [this.inFeatures, this.outFeatures] = spec.fanInFanOut ? [w.shape[0]!, w.shape[1]!] : [w.shape[1]!, w.shape[0]!];
    this.tieParameter('weight', w.requiresGrad_(false));
    if (base.bias) this.tieParameter('bias', base.bias.requiresGrad_(false));
    const placement = { dtype: trainingDtype(w.dtype), device: w.device };
    this.lora_A = this.registerModule('lora_A', new Linear(this.inFeatures, spec.r, { bias: false, ...placement }));
    this.lora_B = this.registerModule('lora_B', new Linear(spec.r, this.outFeatures, { bias: false, ...placement }));
    noGrad(() => void this.lora_B.weight.zero_());
    this.lora_dropout = this.registerModule('lora_dropout', new Dropout(spec.dropout));
  }

  get weight(): Tensor {
    return this.param('weight');
  }
  get bias(): Tensor | null {
    return this.optParam('bias');
  }
  /** Whether forward adds the adapter (enabled, not merged into the weight, not turned off in this async context). */
  get active(): boolean {
    return this.enabled && !this.merged && !offHere.getStore()?.has(this);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = F.linear(x, this.spec.fanInFanOut ? this.weight.t() : this.weight, this.bias);
      if (!this.active) return y;
      // PEFT's lora.Linear: x in the adapter's dtype, the sum in the wider of the two, the result in the base's.
      const xa = x.dtype === this.lora_A.weight.dtype ? x : x.to(this.lora_A.weight.dtype);
      const input = this.spec.dropout > 0 ? this.lora_dropout.forward(xa) : xa;
      const out = y.add(this.lora_B.forward(this.lora_A.forward(input)), this.spec.scaling);
      return out.dtype === y.dtype ? out : out.to(y.dtype);
    });
  }

  /**
   * B·A, unscaled, in the adapter's dtype (float32 on a half-precision base, so that a merge
   * rounds once) and the base weight's layout: (in, out) with fanInFanOut, made as Aᵀ·Bᵀ (no
   * transposed copy).
   */
  private product(): Tensor {
    return tidy(() => {
      const [a, b] = [this.lora_A.weight, this.lora_B.weight];
      return this.spec.fanInFanOut ? a.t().matmul(b.t()) : b.matmul(a);
    });
  }

  /** s·B·A in the adapter's dtype (what PEFT's get_delta_weight returns). */
  private scaledProduct(): Tensor {
    return tidy(() => this.product().mul(this.spec.scaling));
  }

  /** s·B·A in the base weight's dtype and layout ((in, out) with fanInFanOut). */
  deltaWeight(): Tensor {
    return tidy(() => this.scaledProduct().to(this.weight.dtype));
  }

  /** W + s·B·A in a new tensor of the base weight's dtype, without autograd (what the native calls get). */
  effectiveWeight(): Tensor {
    return noGrad(() => tidy(() => this.weight.add(this.scaledProduct()).to(this.weight.dtype)));
  }

  /**
   * Adds the delta into the base weight (forward then costs what the plain layer does). On a
   * bf16 base the float32 delta is added in float32 and rounded once, as PEFT's merge.
   */
  merge(): void {
    if (this.merged) return;
    noGrad(() => tidy(() => void this.weight.add_(this.scaledProduct())));
    this.merged = true;
  }

  /** Takes the delta back out of the base weight (as PEFT's unmerge: the delta rounded to the weight's dtype, then subtracted). */
  unmerge(): void {
    if (!this.merged) return;
    noGrad(() => tidy(() => void this.weight.sub_(this.deltaWeight())));
    this.merged = false;
  }
}

/** An adapter's tensors and settings, as the native layers take them beside the base weight. */
export interface LoRAAdapterTensors {
  /** lora_A's weight (r, in) and lora_B's (out, r), in the adapter's dtype. */
  a: Tensor;
  b: Tensor;
  scaling: number;
  dropout: number;
}

/**
 * The adapter the native forward, generation and checkpointed layers should add beside a
 * linear layer's base weight (never merged into a copy of it), or null where none is in effect
 * (a plain layer, a disabled or merged adapter).
 */
export function activeAdapter(layer: { weight: Tensor }): LoRAAdapterTensors | null {
  if (!(layer instanceof LoRALinear) || !layer.active) return null;
  const { scaling, dropout } = layer.spec;
  return { a: layer.lora_A.weight, b: layer.lora_B.weight, scaling, dropout };
}
