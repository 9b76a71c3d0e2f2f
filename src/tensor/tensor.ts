// Tensor: a JS handle on one libtorch tensor. Every op is one native call; autograd lives
// in libtorch, so the handles of intermediates can be disposed right after the forward pass.
import { N, UNARY_OPS, type Handle, type UnaryOp } from '../native.js';
import { keep, registerTensorClass, track } from './scope.js';
import type { DType, Device, NestedArray, Scalar } from './types.js';

export type TensorOrScalar = Tensor | Scalar;
type Dims = number | number[];
type Shape = number[] | [number[]];

/** Python-style varargs: `view(2, 3)` or `view([2, 3])`. */
const shapeArg = (args: Shape): number[] => (Array.isArray(args[0]) ? args[0] : (args as number[]));
const dimsArg = (d: Dims | undefined | null): number[] | null => (d === undefined || d === null ? null : Array.isArray(d) ? d : [d]);

function operand(op: string, x: unknown): Handle | number | boolean {
  if (x instanceof Tensor) return x.handle;
  if (typeof x === 'number' || typeof x === 'boolean') return x;
  throw new TypeError(`${op}: expected a Tensor, number or boolean, got ${describe(x)}`);
}
function tensorArg(op: string, x: unknown): Handle {
  if (x instanceof Tensor) return x.handle;
  throw new TypeError(`${op}: expected a Tensor, got ${describe(x)}`);
}
function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? (x.constructor?.name ?? 'an object') : typeof x;
}
const wrapAll = (hs: Handle[]): Tensor[] => hs.map((h) => new Tensor(h));
const pair = (hs: [Handle, Handle]): [Tensor, Tensor] => [new Tensor(hs[0]), new Tensor(hs[1])];

export interface BackwardOptions {
  retainGraph?: boolean;
  createGraph?: boolean;
}

const MAX_LIST_VALUES = 2 ** 24;
/** The arrays and numbers tolist() makes for a shape: every prefix's arrays plus the elements. */
function nestedValueCount(shape: readonly number[]): number {
  let count = 0;
  let arrays = 1;
  for (const size of shape) {
    count += arrays;
    arrays *= size;
  }
  return count + arrays;
}

// The interface Tensor below adds the generated unary methods, which the class defines at load.
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: deliberate, see above.
export class Tensor {
  #handle: Handle | null;
  #dtype?: DType;
  #device?: Device;
  #shape?: number[];
  #grad: Tensor | null = null; // owned: disposed with this tensor, or when the grad changes

  /** @internal Use the factory functions (`torch.tensor`, `torch.zeros`, …). */
  constructor(handle: Handle) {
    if (typeof handle !== 'object' || handle === null) throw new TypeError('Tensor: expected a native tensor handle');
    this.#handle = handle;
    track(this);
  }

  /** @internal The native handle; throws if the tensor was disposed. */
  get handle(): Handle {
    if (this.#handle === null) throw new Error('Tensor has been disposed');
    return this.#handle;
  }

  get isDisposed(): boolean {
    return this.#handle === null;
  }

  /** Frees the native tensor now. Disposing twice is a no-op. */
  dispose(): void {
    if (this.#handle === null) return;
    this.#grad?.dispose();
    this.#grad = null;
    N.dispose(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- metadata (immutable for a tensor, so read once) ----
  get shape(): number[] {
    this.#shape ??= N.shape(this.handle);
    return this.#shape.slice();
  }
  get dtype(): DType {
    this.#dtype ??= N.dtype(this.handle) as DType;
    return this.#dtype;
  }
  get device(): Device {
    this.#device ??= N.device(this.handle) as Device;
    return this.#device;
  }
  get ndim(): number {
    this.#shape ??= N.shape(this.handle);
    return this.#shape.length;
  }
  size(dim?: number): number | number[] {
    if (dim === undefined) return this.shape;
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`size: dimension ${dim} out of range for a ${s.length}-d tensor`);
    return s[d]!;
  }
  numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get requiresGrad(): boolean {
    return N.info(this.handle).requiresGrad;
  }
  set requiresGrad(flag: boolean) {
    N.setRequiresGrad(this.handle, flag);
  }
  get isLeaf(): boolean {
    return N.info(this.handle).isLeaf;
  }
  /** Name of the autograd node that made this tensor (e.g. `MulBackward0`), or null. */
  get gradFn(): string | null {
    return N.info(this.handle).gradFn;
  }

  // ---- reading ----
  /** The value of a one-element tensor (booleans as true/false). */
  item(): number {
    return N.item(this.handle) as number;
  }
  /** A flat copy of the elements: float16/bfloat16 widen to Float32Array, bool → Uint8Array, int64 → BigInt64Array. */
  toTypedArray(): Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array {
    return N.toBuffer(this.handle);
  }
  /**
   * Nested arrays, like PyTorch's `tolist()` (int64 as numbers, bool as booleans). Refuses
   * more than 2^24 JS values (arrays and numbers): an empty [1e4, 1e4, 0] tensor is 1e8
   * arrays, and V8 aborts the process when its heap runs out rather than throwing.
   */
  tolist(): NestedArray {
    const values = nestedValueCount(this.shape);
    if (values > MAX_LIST_VALUES)
      throw new RangeError(
        `tolist: a tensor of shape [${this.shape.join(', ')}] would make ${values.toExponential(2)} JS arrays and numbers, over ` +
          'the limit of 2^24; use toTypedArray() or slices',
      );
    const flat = N.toBuffer(this.handle);
    const isBool = this.dtype === 'bool';
    const value = (i: number): number | boolean => {
      const v = flat[i]!;
      return isBool ? v !== 0 : Number(v);
    };
    const shape = this.shape;
    if (shape.length === 0) return value(0);
    let offset = 0;
    const build = (d: number): NestedArray[] => {
      const out: NestedArray[] = new Array(shape[d]);
      for (let i = 0; i < shape[d]!; i++) out[i] = d === shape.length - 1 ? value(offset++) : build(d + 1);
      return out;
    };
    return build(0);
  }
  toString(): string {
    if (this.isDisposed) return 'tensor(<disposed>)';
    const body = nestedValueCount(this.shape) <= 1000 ? JSON.stringify(this.tolist()) : `<${this.shape.join('×')}>`;
    const extras = [`dtype=${this.dtype}`];
    if (this.device !== 'cpu') extras.push(`device='${this.device}'`);
    if (this.requiresGrad) extras.push('requiresGrad=true');
    return `tensor(${body}, ${extras.join(', ')})`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ---- conversion ----
  /** `to('cuda')`, `to('float64')`, or `to({ device, dtype, copy })`. */
  to(target: DType | Device | { dtype?: DType; device?: Device; copy?: boolean }): Tensor {
    if (typeof target === 'string') {
      const isDevice = target === 'cpu' || target.startsWith('cuda');
      return new Tensor(N.to(this.handle, isDevice ? null : target, isDevice ? target : null, false));
    }
    return new Tensor(N.to(this.handle, target.dtype ?? null, target.device ?? null, target.copy ?? false));
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  cuda(index?: number): Tensor {
    return this.to(index === undefined ? 'cuda' : `cuda:${index}`);
  }
  // float(), double(), half(), bfloat16(), long(), int() and bool() are added below, from DTYPE_CASTS.
  clone(): Tensor {
    return new Tensor(N.clone(this.handle));
  }
  /** A new tensor sharing storage, cut from the autograd graph. */
  detach(): Tensor {
    return new Tensor(N.detach(this.handle));
  }
  contiguous(): Tensor {
    return new Tensor(N.contiguous(this.handle));
  }

  // ---- arithmetic (PyTorch broadcasting and type promotion) ----
  add(other: TensorOrScalar, alpha?: number): Tensor {
    return new Tensor(N.add(this.handle, operand('add', other), alpha));
  }
  sub(other: TensorOrScalar, alpha?: number): Tensor {
    return new Tensor(N.sub(this.handle, operand('sub', other), alpha));
  }
  mul(other: TensorOrScalar): Tensor {
    return new Tensor(N.mul(this.handle, operand('mul', other)));
  }
  /** True division; `roundingMode` 'trunc' or 'floor' as in PyTorch. */
  div(other: TensorOrScalar, roundingMode?: 'trunc' | 'floor'): Tensor {
    return new Tensor(N.div(this.handle, operand('div', other), roundingMode ?? null));
  }
  pow(exponent: TensorOrScalar): Tensor {
    return new Tensor(N.pow(this.handle, operand('pow', exponent)));
  }
  remainder(other: TensorOrScalar): Tensor {
    return new Tensor(N.remainder(this.handle, operand('remainder', other)));
  }
  fmod(other: TensorOrScalar): Tensor {
    return new Tensor(N.fmod(this.handle, operand('fmod', other)));
  }
  maximum(other: Tensor): Tensor {
    return new Tensor(N.maximum(this.handle, tensorArg('maximum', other)));
  }
  minimum(other: Tensor): Tensor {
    return new Tensor(N.minimum(this.handle, tensorArg('minimum', other)));
  }
  lerp(end: Tensor, weight: TensorOrScalar): Tensor {
    return new Tensor(N.lerp(this.handle, tensorArg('lerp', end), operand('lerp', weight)));
  }

  // ---- comparisons and logic ----
  eq(other: TensorOrScalar): Tensor {
    return new Tensor(N.eq(this.handle, operand('eq', other)));
  }
  ne(other: TensorOrScalar): Tensor {
    return new Tensor(N.ne(this.handle, operand('ne', other)));
  }
  lt(other: TensorOrScalar): Tensor {
    return new Tensor(N.lt(this.handle, operand('lt', other)));
  }
  le(other: TensorOrScalar): Tensor {
    return new Tensor(N.le(this.handle, operand('le', other)));
  }
  gt(other: TensorOrScalar): Tensor {
    return new Tensor(N.gt(this.handle, operand('gt', other)));
  }
  ge(other: TensorOrScalar): Tensor {
    return new Tensor(N.ge(this.handle, operand('ge', other)));
  }
  logicalAnd(other: Tensor): Tensor {
    return new Tensor(N.logicalAnd(this.handle, tensorArg('logicalAnd', other)));
  }
  logicalOr(other: Tensor): Tensor {
    return new Tensor(N.logicalOr(this.handle, tensorArg('logicalOr', other)));
  }
  logicalXor(other: Tensor): Tensor {
    return new Tensor(N.logicalXor(this.handle, tensorArg('logicalXor', other)));
  }
  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
    return N.allclose(this.handle, tensorArg('allclose', other), rtol, atol);
  }
  equal(other: Tensor): boolean {
    return N.equal(this.handle, tensorArg('equal', other));
  }
  /** `cond ? this : other`, elementwise (PyTorch's `x.where(cond, y)`). */
  where(condition: Tensor, other: TensorOrScalar): Tensor {
    return new Tensor(N.where(tensorArg('where', condition), this.handle, operand('where', other)));
  }

  // ---- elementwise functions: the unary ops (UNARY_OPS) are added below, from the addon's table ----
  /** GELU; `approximate: 'tanh'` is GPT-2's variant. */
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return new Tensor(N.gelu(this.handle, approximate));
  }
  clamp(min?: TensorOrScalar | null, max?: TensorOrScalar | null): Tensor {
    return new Tensor(
      N.clamp(
        this.handle,
        min === undefined || min === null ? null : operand('clamp', min),
        max === undefined || max === null ? null : operand('clamp', max),
      ),
    );
  }

  // ---- reductions (no dim: over everything) ----
  sum(dim?: Dims | null, keepdim = false, options: { dtype?: DType } = {}): Tensor {
    return new Tensor(N.sum(this.handle, dimsArg(dim), keepdim, options.dtype ?? null));
  }
  mean(dim?: Dims | null, keepdim = false, options: { dtype?: DType } = {}): Tensor {
    return new Tensor(N.mean(this.handle, dimsArg(dim), keepdim, options.dtype ?? null));
  }
  prod(dim?: number | null, keepdim = false): Tensor {
    return new Tensor(N.prod(this.handle, dim ?? null, keepdim));
  }
  /** Variance; unbiased (Bessel's correction) by default, as PyTorch. */
  var(dim?: Dims | null, options: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return new Tensor(N.var(this.handle, dimsArg(dim), options.keepdim ?? false, options.unbiased ?? true));
  }
  std(dim?: Dims | null, options: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return new Tensor(N.std(this.handle, dimsArg(dim), options.keepdim ?? false, options.unbiased ?? true));
  }
  /** `max()` → the largest element; `max(dim)` → [values, indices]; `max(other)` → `maximum`. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): [Tensor, Tensor];
  max(other: Tensor): Tensor;
  max(dim?: number | Tensor, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim instanceof Tensor) return this.maximum(dim);
    if (dim === undefined || dim === null) return new Tensor(N.max(this.handle));
    return pair(N.max(this.handle, dim, keepdim));
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): [Tensor, Tensor];
  min(other: Tensor): Tensor;
  min(dim?: number | Tensor, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim instanceof Tensor) return this.minimum(dim);
    if (dim === undefined || dim === null) return new Tensor(N.min(this.handle));
    return pair(N.min(this.handle, dim, keepdim));
  }
  amax(dim?: Dims | null, keepdim = false): Tensor {
    return new Tensor(N.amax(this.handle, dimsArg(dim), keepdim));
  }
  amin(dim?: Dims | null, keepdim = false): Tensor {
    return new Tensor(N.amin(this.handle, dimsArg(dim), keepdim));
  }
  argmax(dim?: number | null, keepdim = false): Tensor {
    return new Tensor(N.argmax(this.handle, dim ?? null, keepdim));
  }
  argmin(dim?: number | null, keepdim = false): Tensor {
    return new Tensor(N.argmin(this.handle, dim ?? null, keepdim));
  }
  logsumexp(dim?: Dims | null, keepdim = false): Tensor {
    return new Tensor(N.logsumexp(this.handle, dimsArg(dim), keepdim));
  }
  norm(p = 2, dim?: Dims | null, keepdim = false): Tensor {
    return new Tensor(N.norm(this.handle, p, dimsArg(dim), keepdim));
  }
  all(dim?: number | null, keepdim = false): Tensor {
    return new Tensor(N.all(this.handle, dim ?? null, keepdim));
  }
  any(dim?: number | null, keepdim = false): Tensor {
    return new Tensor(N.any(this.handle, dim ?? null, keepdim));
  }
  cumsum(dim: number, options: { dtype?: DType } = {}): Tensor {
    return new Tensor(N.cumsum(this.handle, dim, options.dtype ?? null));
  }
  softmax(dim: number, options: { dtype?: DType } = {}): Tensor {
    return new Tensor(N.softmax(this.handle, dim, options.dtype ?? null));
  }
  logSoftmax(dim: number, options: { dtype?: DType } = {}): Tensor {
    return new Tensor(N.logSoftmax(this.handle, dim, options.dtype ?? null));
  }

  // ---- products ----
  matmul(other: Tensor): Tensor {
    return new Tensor(N.matmul(this.handle, tensorArg('matmul', other)));
  }
  bmm(other: Tensor): Tensor {
    return new Tensor(N.bmm(this.handle, tensorArg('bmm', other)));
  }
  mm(other: Tensor): Tensor {
    return new Tensor(N.mm(this.handle, tensorArg('mm', other)));
  }
  outer(other: Tensor): Tensor {
    return new Tensor(N.outer(this.handle, tensorArg('outer', other)));
  }

  // ---- shape and views ----
  view(...shape: Shape): Tensor {
    return new Tensor(N.view(this.handle, shapeArg(shape)));
  }
  reshape(...shape: Shape): Tensor {
    return new Tensor(N.reshape(this.handle, shapeArg(shape)));
  }
  permute(...dims: Shape): Tensor {
    return new Tensor(N.permute(this.handle, shapeArg(dims)));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(N.transpose(this.handle, dim0, dim1));
  }
  /** Transpose of a matrix (PyTorch's `t()`). */
  t(): Tensor {
    if (this.ndim > 2) throw new RangeError(`t: expects a tensor with <= 2 dimensions, got ${this.ndim}`);
    return this.ndim < 2 ? new Tensor(N.alias(this.handle)) : this.transpose(0, 1);
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(N.unsqueeze(this.handle, dim));
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(N.squeeze(this.handle, dim ?? null));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(N.flatten(this.handle, startDim, endDim));
  }
  expand(...shape: Shape): Tensor {
    return new Tensor(N.expand(this.handle, shapeArg(shape)));
  }
  expandAs(other: Tensor): Tensor {
    return this.expand(other.shape);
  }
  repeat(...reps: Shape): Tensor {
    return new Tensor(N.repeat(this.handle, shapeArg(reps)));
  }
  /** Pieces of `splitSize` along `dim`, or pieces of the given sizes. */
  split(splitSize: number | number[], dim = 0): Tensor[] {
    return wrapAll(N.split(this.handle, splitSize, dim));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return wrapAll(N.chunk(this.handle, chunks, dim));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(N.narrow(this.handle, dim, start, length));
  }
  select(dim: number, index: number): Tensor {
    return new Tensor(N.select(this.handle, dim, index));
  }
  /** Python's `x[start:end:step]` along `dim`; negative bounds count from the end. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return new Tensor(N.slice(this.handle, dim, start ?? null, end ?? null, step));
  }
  flip(...dims: Shape): Tensor {
    return new Tensor(N.flip(this.handle, shapeArg(dims)));
  }

  // ---- indexing ----
  /** Advanced indexing: `x.index([rows, null, cols])` is Python's `x[rows, :, cols]`. */
  index(indices: (Tensor | null)[]): Tensor {
    return new Tensor(
      N.index(
        this.handle,
        indices.map((t) => (t === null ? null : tensorArg('index', t))),
      ),
    );
  }
  /** In place: `x[indices] = values` (or `+=` with accumulate). */
  indexPut_(indices: (Tensor | null)[], values: TensorOrScalar, accumulate = false): this {
    N.indexPut_(
      this.handle,
      indices.map((t) => (t === null ? null : tensorArg('indexPut_', t))),
      operand('indexPut_', values),
      accumulate,
    );
    return this;
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(N.indexSelect(this.handle, dim, tensorArg('indexSelect', index)));
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(N.gather(this.handle, dim, tensorArg('gather', index)));
  }
  scatter(dim: number, index: Tensor, src: TensorOrScalar): Tensor {
    return new Tensor(N.scatter(this.handle, dim, tensorArg('scatter', index), operand('scatter', src)));
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(N.scatterAdd(this.handle, dim, tensorArg('scatterAdd', index), tensorArg('scatterAdd', src)));
  }
  maskedFill(mask: Tensor, value: TensorOrScalar): Tensor {
    return new Tensor(N.maskedFill(this.handle, tensorArg('maskedFill', mask), operand('maskedFill', value)));
  }
  maskedSelect(mask: Tensor): Tensor {
    return new Tensor(N.maskedSelect(this.handle, tensorArg('maskedSelect', mask)));
  }
  tril(diagonal = 0): Tensor {
    return new Tensor(N.tril(this.handle, diagonal));
  }
  triu(diagonal = 0): Tensor {
    return new Tensor(N.triu(this.handle, diagonal));
  }
  topk(k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] {
    return pair(N.topk(this.handle, k, dim, largest, sorted));
  }
  sort(dim = -1, descending = false, stable = false): [Tensor, Tensor] {
    return pair(N.sort(this.handle, dim, descending, stable));
  }
  argsort(dim = -1, descending = false): Tensor {
    return new Tensor(N.argsort(this.handle, dim, descending));
  }
  /** Samples indices from each row's (unnormalized) probabilities; seeded by `torch.manualSeed`. */
  multinomial(numSamples: number, replacement = false): Tensor {
    return new Tensor(N.multinomial(this.handle, numSamples, replacement));
  }
  nonzero(): Tensor {
    return new Tensor(N.nonzero(this.handle));
  }

  // ---- in place (PyTorch's rules: not on a leaf that requires grad, outside noGrad) ----
  copy_(src: Tensor): this {
    N.copy_(this.handle, tensorArg('copy_', src));
    return this;
  }
  zero_(): this {
    N.zero_(this.handle);
    return this;
  }
  fill_(value: TensorOrScalar): this {
    N.fill_(this.handle, operand('fill_', value));
    return this;
  }
  add_(other: TensorOrScalar, alpha?: number): this {
    N.add_(this.handle, operand('add_', other), alpha);
    return this;
  }
  sub_(other: TensorOrScalar, alpha?: number): this {
    N.sub_(this.handle, operand('sub_', other), alpha);
    return this;
  }
  mul_(other: TensorOrScalar): this {
    N.mul_(this.handle, operand('mul_', other));
    return this;
  }
  div_(other: TensorOrScalar): this {
    N.div_(this.handle, operand('div_', other));
    return this;
  }
  pow_(exponent: TensorOrScalar): this {
    N.pow_(this.handle, operand('pow_', exponent));
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    N.clamp_(this.handle, min ?? null, max ?? null);
    return this;
  }
  maskedFill_(mask: Tensor, value: TensorOrScalar): this {
    N.maskedFill_(this.handle, tensorArg('maskedFill_', mask), operand('maskedFill_', value));
    return this;
  }
  uniform_(from = 0, to = 1): this {
    N.uniform_(this.handle, from, to);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    N.normal_(this.handle, mean, std);
    return this;
  }
  requiresGrad_(flag = true): this {
    N.setRequiresGrad(this.handle, flag);
    return this;
  }

  // ---- autograd ----
  /** Accumulates gradients into the leaves' `.grad`. A non-scalar output needs `gradient`. */
  backward(gradient?: Tensor | null, options: BackwardOptions = {}): void {
    N.backward(this.handle, gradient ? tensorArg('backward', gradient) : null, options.retainGraph ?? null, options.createGraph ?? false);
  }
  /**
   * backward on the compute thread: the JS thread (a server's requests) stays free meanwhile.
   * Do not touch the graph's leaves until it resolves.
   */
  backwardAsync(gradient?: Tensor | null, options: BackwardOptions = {}): Promise<void> {
    const g = gradient ? tensorArg('backward', gradient) : null;
    return N.backwardAsync(this.handle, g, options.retainGraph ?? null, options.createGraph ?? false);
  }
  /**
   * The accumulated gradient, or null. The returned tensor is owned by this one (disposed
   * with it); it is not tracked by `tidy`, so reading `.grad` never leaks.
   */
  get grad(): Tensor | null {
    const cached = this.#grad && !this.#grad.isDisposed ? this.#grad.handle : null;
    const h = N.gradIfChanged(this.handle, cached);
    if (h === undefined) return this.#grad;
    this.#grad?.dispose();
    this.#grad = h === null ? null : untracked(h);
    return this.#grad;
  }
  set grad(value: Tensor | null) {
    N.setGrad(this.handle, value ? tensorArg('grad', value) : null);
    this.#grad?.dispose();
    this.#grad = null;
  }
  /** Keep `.grad` for this non-leaf tensor after backward. */
  retainGrad(): void {
    N.retainGrad(this.handle);
  }
}

/** A Tensor outside every tidy scope (its owner disposes it). */
const untracked = (h: Handle): Tensor => keep(new Tensor(h));

/** The unary ops as methods of Tensor (`x.exp()`, …): one per name in UNARY_OPS, made below. */
export type UnaryMethods = { [K in UnaryOp]: () => Tensor };
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- the methods are defined on the prototype below
export interface Tensor extends UnaryMethods, CastMethods {}

/** PyTorch's dtype shorthands (`x.float()` is `x.to('float32')`, …), made below as methods. */
const DTYPE_CASTS = {
  float: 'float32',
  double: 'float64',
  half: 'float16',
  bfloat16: 'bfloat16',
  long: 'int64',
  int: 'int32',
  bool: 'bool',
} as const satisfies Record<string, DType>;
export type CastMethods = { [K in keyof typeof DTYPE_CASTS]: () => Tensor };

for (const [name, dtype] of Object.entries(DTYPE_CASTS)) {
  Object.defineProperty(Tensor.prototype, name, {
    value: function (this: Tensor): Tensor {
      return this.to(dtype);
    },
    writable: true,
    configurable: true,
  });
}

for (const op of UNARY_OPS) {
  const fn = N[op] as (h: Handle) => Handle;
  Object.defineProperty(Tensor.prototype, op, {
    value: function (this: Tensor): Tensor {
      return new Tensor(fn(this.handle));
    },
    writable: true,
    configurable: true,
  });
}
export type { UnaryOp };

registerTensorClass(Tensor);
