// Module: the torch.nn.Module of torch-rlhf. Owns its parameters (until dispose()), knows its
// children, names everything with PyTorch's dotted paths, and moves/loads/saves state.
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../tensor/runtime.js';
import type { DType, Device } from '../tensor/types.js';
import { isFloatingDtype } from '../tensor/types.js';

export type StateDict = Map<string, Tensor>;

export abstract class Module {
  training = true;
  readonly #params = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Registers (and takes ownership of) a parameter; it requires grad. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.#params.set(name, keep(t).requiresGrad_(true));
    return t;
  }
  /** A tensor that is state but not trained (e.g. a mask); saved in stateDict. */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, keep(t));
    return t;
  }
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }
  /** A registered parameter by its local name. */
  protected param(name: string): Tensor {
    const p = this.#params.get(name);
    if (!p) throw new Error(`${this.constructor.name}: no parameter '${name}'`);
    return p;
  }
  protected optParam(name: string): Tensor | null {
    return this.#params.get(name) ?? null;
  }
  protected buffer(name: string): Tensor {
    const b = this.#buffers.get(name);
    if (!b) throw new Error(`${this.constructor.name}: no buffer '${name}'`);
    return b;
  }

  children(): Module[] {
    return [...this.#children.values()];
  }
  namedChildren(): [string, Module][] {
    return [...this.#children.entries()];
  }
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.#children) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  /**
   * Puts `m` in place of the submodule at a dotted path (PyTorch's set_submodule): in the
   * parent's children and in the parent's field that held the old one, so the parent's forward
   * calls the new module. How an adapter wraps a layer in place. Returns the old module.
   */
  setSubmodule(path: string, m: Module): Module {
    const parts = path.split('.');
    const name = parts.pop()!;
    let parent: Module = this;
    for (const p of parts) {
      const child = parent.#children.get(p);
      if (!child) throw new Error(`${this.constructor.name}: no submodule '${path}'`);
      parent = child;
    }
    const old = parent.#children.get(name);
    if (!old) throw new Error(`${this.constructor.name}: no submodule '${path}'`);
    parent.#children.set(name, m);
    parent.replaceChild(old, m);
    return old;
  }
  /** Points the fields that held a replaced child at its replacement (ModuleList: its items). */
  protected replaceChild(old: Module, m: Module): void {
    const fields = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(fields)) if (fields[key] === old) fields[key] = m;
  }

  /** [name, parameter] pairs with dotted names; a shared (tied) parameter is listed once. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix))
      for (const [name, p] of m.#params) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([path ? `${path}.${name}` : name, p]);
      }
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix)) for (const [name, b] of m.#buffers) out.push([path ? `${path}.${name}` : name, b]);
    return out;
  }

  /** Number of parameter elements (tied parameters counted once). */
  numParameters(options: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !options.trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.numel(), 0);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes every parameter. */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad_(flag);
    return this;
  }

  /** Sets every parameter's gradient to null. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * Parameters and buffers by dotted name. The tensors are the module's own (not copies):
   * clone them to keep a snapshot. Tied parameters appear under every name, as in PyTorch.
   */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const [path, m] of this.namedModules()) {
      for (const [name, p] of m.#params) sd.set(path ? `${path}.${name}` : name, p);
      for (const [name, b] of m.#buffers) sd.set(path ? `${path}.${name}` : name, b);
    }
    return sd;
  }

  /**
   * Copies values into the parameters and buffers (casting to their dtype and device).
   * strict: every key must match (missing and unexpected keys are errors); shapes always must.
   * Nothing is written unless everything checks out.
   */
  loadStateDict(
    sd: StateDict | Record<string, Tensor>,
    options: { strict?: boolean } = {},
  ): { missingKeys: string[]; unexpectedKeys: string[] } {
    const strict = options.strict ?? true;
    const src = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !src.has(k));
    const unexpectedKeys = [...src.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of src) {
      const mine = own.get(k);
      if (!mine) continue;
      if (!(t instanceof Tensor)) throw new TypeError(`loadStateDict: value for '${k}' is not a Tensor`);
      if (t.shape.join(',') !== mine.shape.join(',')) mismatched.push(`${k}: checkpoint [${t.shape}] vs model [${mine.shape}]`);
    }
    const problems: string[] = [];
    if (mismatched.length) problems.push(`size mismatch for ${mismatched.join('; ')}`);
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (problems.length) throw new Error(`Error(s) in loading state dict for ${this.constructor.name}: ${problems.join('. ')}`);
    noGrad(() => {
      for (const [k, t] of src) own.get(k)?.copy_(t);
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Moves parameters and buffers to a device and/or casts floating ones to a dtype. The
   * parameter tensors are replaced (the old ones are disposed), so create optimizers after.
   */
  to(target: Device | DType | { device?: Device; dtype?: DType }): this {
    const spec =
      typeof target === 'string'
        ? target === 'cpu' || target.startsWith('cuda')
          ? { device: target as Device }
          : { dtype: target as DType }
        : target;
    const moved = new Map<Tensor, Tensor>();
    const convert = (t: Tensor, isParam: boolean): Tensor => {
      const done = moved.get(t);
      if (done) return done;
      const dtype = spec.dtype && isFloatingDtype(t.dtype) ? spec.dtype : undefined;
      if ((!spec.device || spec.device === t.device) && (!dtype || dtype === t.dtype)) {
        moved.set(t, t);
        return t;
      }
      const requiresGrad = isParam && t.requiresGrad;
      const n = keep(noGrad(() => tidy(() => t.detach().to({ device: spec.device, dtype }))));
      if (requiresGrad) n.requiresGrad_(true);
      moved.set(t, n);
      return n;
    };
    for (const [, m] of this.namedModules()) {
      for (const [k, p] of m.#params) m.#params.set(k, convert(p, true));
      for (const [k, b] of m.#buffers) m.#buffers.set(k, convert(b, false));
    }
    for (const [old, n] of moved) if (old !== n) old.dispose();
    return this;
  }

  /** Frees every parameter and buffer (shared ones once). */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const p of m.#params.values()) p.dispose();
      for (const b of m.#buffers.values()) b.dispose();
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal Shares a parameter of another module under a local name (weight tying). */
  protected tieParameter(name: string, t: Tensor): void {
    this.#params.set(name, t);
  }
}

/** Children named 0, 1, 2, … (PyTorch's nn.ModuleList). */
export class ModuleList<M extends Module> extends Module implements Iterable<M> {
  readonly #items: M[] = [];
  constructor(items: Iterable<M> = []) {
    super();
    for (const m of items) this.push(m);
  }
  push(m: M): void {
    this.registerModule(String(this.#items.length), m);
    this.#items.push(m);
  }
  get length(): number {
    return this.#items.length;
  }
  protected override replaceChild(old: Module, m: Module): void {
    const i = this.#items.indexOf(old as M);
    if (i >= 0) this.#items[i] = m as M;
  }
  at(i: number): M {
    const m = this.#items.at(i);
    if (!m) throw new RangeError(`ModuleList: index ${i} out of range (${this.#items.length} modules)`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.#items[Symbol.iterator]();
  }
}
