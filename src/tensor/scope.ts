// tidy / keep: the tfjs-style discipline that frees intermediate native tensors
// deterministically instead of waiting for the garbage collector.
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** Called by every new Tensor: the innermost open `tidy` scope owns it. */
export function track(t: Tensor): void {
  if (scopes.length > 0) scopes[scopes.length - 1]!.add(t);
}

/** Exempts tensors from every enclosing `tidy` scope; returns its argument. */
export function keep<T>(value: T): T {
  forEachTensor(value, (t) => {
    for (const s of scopes) s.delete(t);
  });
  return value;
}

/**
 * Runs `fn` and disposes every tensor created inside it except those it returns (a tensor,
 * or tensors inside arrays and plain objects) or `keep()`s. Returned tensors move to the
 * enclosing scope. Synchronous only: a Promise-returning function is refused.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy: fn must be synchronous (it returned a Promise); dispose tensors of async code explicitly');
  }
  const returned = new Set<Tensor>();
  forEachTensor(result, (t) => returned.add(t));
  for (const t of scope) if (!returned.has(t)) t.dispose();
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of returned) if (scope.has(t)) parent.add(t);
  return result;
}

/** Disposes every tensor in a value (a tensor, or arrays/objects of tensors). */
export function dispose(value: unknown): void {
  forEachTensor(value, (t) => t.dispose());
}

let TensorClass: (new (...args: never[]) => Tensor) | undefined;
/** Set once by tensor.ts, to avoid an import cycle. */
export function registerTensorClass(c: new (...args: never[]) => Tensor): void {
  TensorClass = c;
}

function forEachTensor(value: unknown, f: (t: Tensor) => void, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  if (TensorClass && value instanceof TensorClass) {
    f(value as Tensor);
    return;
  }
  seen.add(value);
  if (Array.isArray(value)) {
    for (const v of value) forEachTensor(v, f, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) forEachTensor(v, f, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) forEachTensor(v, f, seen);
  }
}
