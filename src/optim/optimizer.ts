// Optimizer base: parameter groups and state, the torch.optim way. Subclasses implement one
// native step per group.
import { N } from '../native.js';
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

export type Hyper = Record<string, unknown>;
export interface ParamGroup<H extends object> {
  params: Tensor[];
  options: H;
}
/** Per-parameter state: numbers (step counts) and tensors (moments). */
export type ParamState = Record<string, number | Tensor | null>;

/** What stateDict() returns: tensors are the optimizer's own (clone them to keep a snapshot). */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: (Hyper & { params: number[] })[];
}

export abstract class Optimizer<H extends object> {
  readonly paramGroups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(params: Iterable<Tensor> | Iterable<{ params: Iterable<Tensor> } & Partial<H>>, defaults: H) {
    const list = [...params] as unknown[];
    if (list.length === 0) throw new Error('optimizer got an empty parameter list');
    const groups = list[0] instanceof Tensor ? [{ params: list as Tensor[] }] : (list as ({ params: Iterable<Tensor> } & Partial<H>)[]);
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g, gi) => {
      const { params: ps, ...over } = g as { params: Iterable<Tensor> } & Partial<H>;
      const tensors = [...ps];
      for (const p of tensors) {
        if (!(p instanceof Tensor)) throw new TypeError(`optimizer: param group ${gi} holds something that is not a Tensor`);
        if (seen.has(p)) throw new Error('optimizer: some parameters appear in more than one parameter group');
        seen.add(p);
      }
      return { params: tensors, options: { ...defaults, ...(over as unknown as Partial<H>) } as H };
    });
  }

  /** Sets every gradient to null (PyTorch's default set_to_none=True), or to zero. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups)
      for (const p of g.params) {
        if (setToNone) N.setGrad(p.handle, null);
        else p.grad?.zero_();
      }
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    for (const g of this.paramGroups) this.stepGroup(g);
  }

  /** step on the compute thread where the optimizer has a native async step (AdamW): the JS thread stays free meanwhile. */
  async stepAsync(): Promise<void> {
    for (const g of this.paramGroups) await this.stepGroupAsync(g);
  }

  protected abstract stepGroup(group: ParamGroup<H>): void;
  /** One group's update off the JS thread; by default the synchronous one. */
  protected async stepGroupAsync(group: ParamGroup<H>): Promise<void> {
    this.stepGroup(group);
  }

  /** The state of a parameter, created on first use and kept out of every tidy scope. */
  protected stateOf(p: Tensor, init: () => ParamState): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = keep(init());
      this.state.set(p, s);
    }
    return s;
  }

  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    const paramGroups: (Hyper & { params: number[] })[] = [];
    let i = 0;
    for (const g of this.paramGroups) {
      const ids: number[] = [];
      for (const p of g.params) {
        const s = this.state.get(p);
        if (s) state[i] = { ...s };
        ids.push(i++);
      }
      paramGroups.push({ ...g.options, params: ids });
    }
    return { state, paramGroups };
  }

  /** Restores hyperparameters and state (tensors are copied, so the source can be disposed). */
  loadStateDict(sd: OptimizerStateDict): void {
    if (!sd || !Array.isArray(sd.paramGroups) || typeof sd.state !== 'object')
      throw new Error('loadStateDict: expected { state, paramGroups }');
    if (sd.paramGroups.length !== this.paramGroups.length)
      throw new Error(`loadStateDict: the state has ${sd.paramGroups.length} parameter groups, the optimizer ${this.paramGroups.length}`);
    const params: Tensor[] = [];
    sd.paramGroups.forEach((g, gi) => {
      const mine = this.paramGroups[gi]!;
      if (g.params.length !== mine.params.length)
        throw new Error(`loadStateDict: parameter group ${gi} has ${g.params.length} parameters in the state, ${mine.params.length} here`);
      params.push(...mine.params);
    });
    const ids = sd.paramGroups.flatMap((g) => g.params);
    ids.forEach((id, k) => {
      const src = sd.state[id];
      const p = params[k]!;
      if (!src) return;
      const copy: ParamState = {};
      for (const [key, v] of Object.entries(src)) {
        if (v instanceof Tensor) {
          if (v.shape.join() !== p.shape.join() && key !== 'step')
            throw new Error(`loadStateDict: state '${key}' of parameter ${id} has shape [${v.shape}], the parameter [${p.shape}]`);
          copy[key] = tidy(() => v.detach().to({ dtype: p.dtype, device: p.device, copy: true }));
        } else copy[key] = v;
      }
      const old = this.state.get(p);
      if (old) for (const v of Object.values(old)) if (v instanceof Tensor) v.dispose();
      this.state.set(p, keep(copy));
    });
    sd.paramGroups.forEach((g, gi) => {
      const { params: _ids, ...hyper } = g;
      Object.assign(this.paramGroups[gi]!.options, hyper);
    });
  }

  /** Frees the optimizer's state tensors. */
  dispose(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }
}
