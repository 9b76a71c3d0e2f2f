// Factory functions: torch.tensor, zeros, ones, full, arange, rand, … (PyTorch's defaults:
// float32 for floating values, int64 for integers).
import { N } from '../native.js';
import { Tensor } from './tensor.js';
import type { DType, NestedArray, Scalar, TensorOptions } from './types.js';

type ShapeLike = number | number[];
const toShape = (s: ShapeLike): number[] => (Array.isArray(s) ? s : [s]);

function finish(t: Tensor, options: TensorOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

function typedArrayDtype(a: ArrayBufferView): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return 'uint8';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Int16Array) return 'int16';
  throw new TypeError(`tensor: unsupported typed array ${a.constructor.name}`);
}

/** Flattens a rectangular nested array, checking every row's length and element type. */
function flatten(data: NestedArray): { values: (number | boolean)[]; shape: number[] } {
  const shape: number[] = [];
  let probe: NestedArray = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0]!;
  }
  const values: (number | boolean)[] = [];
  const walk = (x: NestedArray, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof x !== 'number' && typeof x !== 'boolean')
        throw new TypeError(
          `tensor: element ${path || '(root)'} must be a number or boolean, got ${Array.isArray(x) ? 'an array' : typeof x}`,
        );
      values.push(x);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth])
      throw new TypeError(
        `tensor: ragged nested array at ${path || '(root)'}: expected ${shape[depth]} elements, got ` +
          `${Array.isArray(x) ? x.length : typeof x}`,
      );
    for (let i = 0; i < x.length; i++) walk(x[i]!, depth + 1, `${path}[${i}]`);
  };
  walk(data, 0, '');
  return { values, shape };
}

/**
 * A tensor from nested arrays, a number/boolean, or a typed array (1-D; reshape it after).
 * Like PyTorch: all-integer numbers → int64, any fraction → float32, booleans → bool.
 */
export function tensor(data: NestedArray | ArrayBufferView, options: TensorOptions = {}): Tensor {
  let t: Tensor;
  if (ArrayBuffer.isView(data)) {
    const src = typedArrayDtype(data);
    const n = (data as unknown as { length: number }).length;
    t = new Tensor(N.fromBuffer(data, [n], null, options.dtype ?? src, options.device ?? null));
  } else {
    const { values, shape } = flatten(data);
    const allBool = values.length > 0 && values.every((v) => typeof v === 'boolean');
    const allInt = values.every((v) => typeof v === 'boolean' || Number.isInteger(v));
    const inferred: DType = allBool ? 'bool' : allInt && values.length > 0 ? 'int64' : 'float32';
    const buf = Float64Array.from(values, (v) => Number(v));
    t = new Tensor(N.fromBuffer(buf, shape, null, options.dtype ?? inferred, options.device ?? null));
  }
  return finish(t, options);
}

export const zeros = (shape: ShapeLike, o: TensorOptions = {}): Tensor => finish(new Tensor(N.zeros(toShape(shape), o.dtype, o.device)), o);
export const ones = (shape: ShapeLike, o: TensorOptions = {}): Tensor => finish(new Tensor(N.ones(toShape(shape), o.dtype, o.device)), o);
/** Uninitialized memory, as torch.empty. */
export const empty = (shape: ShapeLike, o: TensorOptions = {}): Tensor => finish(new Tensor(N.empty(toShape(shape), o.dtype, o.device)), o);
/** Filled with `value`; the dtype defaults to bool, int64 or float32 after the value, like PyTorch. */
export function full(shape: ShapeLike, value: Scalar, o: TensorOptions = {}): Tensor {
  const dtype = o.dtype ?? (typeof value === 'boolean' ? 'bool' : Number.isInteger(value) ? 'int64' : 'float32');
  return finish(new Tensor(N.full(toShape(shape), value, dtype, o.device)), o);
}
/** `arange(end)` or `arange(start, end, step?)`; int64 when all bounds are integers. */
export function arange(startOrEnd: number, end?: number | TensorOptions, step?: number | TensorOptions, o: TensorOptions = {}): Tensor {
  let start = 0;
  let stop = startOrEnd;
  let st = 1;
  if (typeof end === 'number') {
    start = startOrEnd;
    stop = end;
    if (typeof step === 'number') st = step;
    else if (step) o = step;
  } else if (end) {
    o = end;
  }
  if (st === 0) throw new RangeError('arange: step must be nonzero');
  const dtype = o.dtype ?? ([start, stop, st].every(Number.isInteger) ? 'int64' : 'float32');
  return finish(new Tensor(N.arange(start, stop, st, dtype, o.device)), o);
}
export const eye = (n: number, m?: number | TensorOptions, o: TensorOptions = {}): Tensor => {
  if (typeof m === 'object') [o, m] = [m, n];
  return finish(new Tensor(N.eye(n, m ?? n, o.dtype, o.device)), o);
};
/** Uniform on [0, 1). */
export const rand = (shape: ShapeLike, o: TensorOptions = {}): Tensor => finish(new Tensor(N.rand(toShape(shape), o.dtype, o.device)), o);
/** Standard normal. */
export const randn = (shape: ShapeLike, o: TensorOptions = {}): Tensor => finish(new Tensor(N.randn(toShape(shape), o.dtype, o.device)), o);
/** Integers in [low, high): `randint(high, shape)` or `randint(low, high, shape)`. */
export function randint(a: number, b: number | ShapeLike, c?: ShapeLike | TensorOptions, o: TensorOptions = {}): Tensor {
  let low = 0,
    high: number,
    shape: number[];
  if (typeof b === 'number' && c !== undefined && (typeof c === 'number' || Array.isArray(c))) {
    low = a;
    high = b;
    shape = toShape(c);
  } else {
    high = a;
    shape = toShape(b);
    if (c && !Array.isArray(c) && typeof c === 'object') o = c;
  }
  if (!(high > low)) throw new RangeError(`randint: high (${high}) must be greater than low (${low})`);
  return new Tensor(N.randint(low, high, shape, o.dtype ?? 'int64', o.device));
}
/** A random permutation of 0..n-1. */
export const randperm = (n: number, o: TensorOptions = {}): Tensor => new Tensor(N.randperm(n, o.dtype ?? 'int64', o.device));

const likeOpts = (t: Tensor, o: TensorOptions): TensorOptions => ({
  dtype: o.dtype ?? t.dtype,
  device: o.device ?? t.device,
  requiresGrad: o.requiresGrad,
});
export const zerosLike = (t: Tensor, o: TensorOptions = {}): Tensor => zeros(t.shape, likeOpts(t, o));
export const onesLike = (t: Tensor, o: TensorOptions = {}): Tensor => ones(t.shape, likeOpts(t, o));
export const emptyLike = (t: Tensor, o: TensorOptions = {}): Tensor => empty(t.shape, likeOpts(t, o));
export const fullLike = (t: Tensor, value: Scalar, o: TensorOptions = {}): Tensor => full(t.shape, value, likeOpts(t, o));
export const randLike = (t: Tensor, o: TensorOptions = {}): Tensor => rand(t.shape, likeOpts(t, o));
export const randnLike = (t: Tensor, o: TensorOptions = {}): Tensor => randn(t.shape, likeOpts(t, o));

/** `steps` evenly spaced values from start to end inclusive (float32 unless told). */
export function linspace(start: number, end: number, steps: number, o: TensorOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const idx = arange(0, steps, 1, { dtype: o.dtype ?? 'float32', device: o.device });
  const out = idx.mul(steps > 1 ? (end - start) / (steps - 1) : 0).add_(start);
  idx.dispose();
  return finish(out, o);
}
