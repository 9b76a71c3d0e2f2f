// torch.optim.AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's exact
// update, all parameters of a group in one native call.
import { N, type NativeAdamWStep } from '../native.js';
import { zerosLike } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamGroup } from './optimizer.js';
import { eventLoopTurns } from '../tensor/event-loop-turns.js';

export interface AdamWOptions {
  lr: number;
  betas: number[];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

export class AdamW extends Optimizer<AdamWOptions> {
  /** Defaults as PyTorch: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01. */
  constructor(params: ConstructorParameters<typeof Optimizer<AdamWOptions>>[0], options: Partial<AdamWOptions> = {}) {
    const o: AdamWOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, ...options };
    if (!(o.lr >= 0)) throw new RangeError(`AdamW: invalid learning rate ${o.lr}`);
    if (!(o.eps >= 0)) throw new RangeError(`AdamW: invalid epsilon ${o.eps}`);
    if (o.betas.length !== 2 || !o.betas.every((b) => b >= 0 && b < 1)) throw new RangeError(`AdamW: invalid betas [${o.betas}]`);
    if (!(o.weightDecay >= 0)) throw new RangeError(`AdamW: invalid weight decay ${o.weightDecay}`);
    super(params, o);
  }

  protected stepGroup(group: ParamGroup<AdamWOptions>): void {
    const { states, args } = this.stepArgs(group);
    N.adamwStep(args).forEach((step, i) => (states[i]!.step = step));
  }

  protected override async stepGroupAsync(group: ParamGroup<AdamWOptions>): Promise<void> {
    // The first step makes the moments (twice the parameters' bytes): in pieces, letting the event loop in.
    const turns = eventLoopTurns();
    for (const p of group.params) {
      if (this.state.has(p)) continue;
      this.momentsOf(p, group.options);
      await turns.after(p.numel() * 8);
    }
    const { states, args } = this.stepArgs(group);
    (await N.adamwStepAsync(args)).forEach((step, i) => (states[i]!.step = step));
  }

  /** A parameter's state, its moments made on first use. */
  private momentsOf(p: Tensor, o: AdamWOptions) {
    return this.stateOf(p, () => ({ step: 0, expAvg: zerosLike(p), expAvgSq: zerosLike(p), maxExpAvgSq: o.amsgrad ? zerosLike(p) : null }));
  }

  /** A group's native step arguments, its parameters' states created on first use. */
  private stepArgs(group: ParamGroup<AdamWOptions>) {
    const o = group.options;
    const states = group.params.map((p) => this.momentsOf(p, o));
    const args: NativeAdamWStep = {
      params: group.params.map((p, i) => {
        const s = states[i]!;
        return {
          param: p.handle,
          expAvg: (s.expAvg as Tensor).handle,
          expAvgSq: (s.expAvgSq as Tensor).handle,
          maxExpAvgSq: o.amsgrad ? (s.maxExpAvgSq as Tensor).handle : null,
          step: s.step as number,
        };
      }),
      lr: o.lr,
      beta1: o.betas[0]!,
      beta2: o.betas[1]!,
      eps: o.eps,
      weightDecay: o.weightDecay,
      amsgrad: o.amsgrad,
      maximize: o.maximize,
    };
    return { states, args };
  }
}
