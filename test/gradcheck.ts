// A finite-difference gradient checker, in the spirit of torch.autograd.gradcheck.
//
// For f = fn(...inputs) and an upstream gradient g (random, or all ones = "sum of the
// output"), the scalar L = Σ f·g has dL/dx = (∂f/∂x)ᵀ g. The analytic side comes from
// libtorch's autograd (out.backward(g), then leaf.grad); the numeric side perturbs each
// element of each differentiated input by ±eps and takes the central difference of L.
// Everything runs in float64 and inside torch.tidy, so nothing leaks.
import { mulberry32 } from '../src/data/random.js';
import { torch, type Tensor } from '../src/index.js';

export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  /** An element passes when |analytic − numeric| ≤ atol + rtol·|numeric|. */
  atol?: number;
  rtol?: number;
  /** 'random' (default): a fixed pseudo-random upstream gradient; 'ones': L = sum of the output(s). */
  upstream?: 'random' | 'ones';
  /** Seed of the upstream gradient's generator (a JS PRNG: the torch generator is not touched). */
  seed?: number;
  /** Return the report instead of throwing when the check fails. */
  raiseOnFailure?: boolean;
}

export interface GradcheckMismatch {
  /** Position of the input in `inputs`. */
  input: number;
  /** Flat (row-major) element index and its multi-index. */
  flatIndex: number;
  index: number[];
  analytic: number;
  numeric: number;
  absErr: number;
  tol: number;
}

export interface GradcheckReport {
  ok: boolean;
  /** Inputs that were differentiated (those with requiresGrad). */
  checkedInputs: number[];
  /** Elements compared, over all checked inputs. */
  checkedElements: number;
  /** Elements out of tolerance. */
  failures: number;
  /** The element with the largest absErr / tol (null when nothing was compared). */
  worst: GradcheckMismatch | null;
  /** Max |analytic − numeric| over all elements. */
  maxAbsErr: number;
}

export class GradcheckError extends Error {
  constructor(
    message: string,
    readonly report: GradcheckReport,
  ) {
    super(message);
    this.name = 'GradcheckError';
  }
}

type Fn = (...inputs: Tensor[]) => Tensor | Tensor[];

function unravel(flat: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d]!;
    flat = Math.floor(flat / shape[d]!);
  }
  return idx;
}

const asList = (out: Tensor | Tensor[]): Tensor[] => (Array.isArray(out) ? out : [out]);

function floatValues(t: Tensor, what: string): Float64Array {
  if (t.dtype !== 'float64') throw new TypeError(`gradcheck: ${what} must be float64, got ${t.dtype}`);
  return t.toTypedArray() as Float64Array;
}

const fromValues = (values: Float64Array, shape: number[]): Tensor => torch.tensor(values, { dtype: 'float64' }).reshape(shape);

/**
 * Compares autograd's gradients of `fn` with central finite differences, for every input
 * that requires grad (others, e.g. index tensors or masks, are passed through unchanged).
 * Differentiated inputs must be float64, as must every output. Throws a GradcheckError
 * naming the worst element unless `raiseOnFailure: false`; returns the report.
 */
export function gradcheck(fn: Fn, inputs: Tensor[], options: GradcheckOptions = {}): GradcheckReport {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-3, upstream = 'random', seed = 1234, raiseOnFailure = true } = options;
  const checked = inputs.flatMap((t, i) => (t.requiresGrad ? [i] : []));
  if (checked.length === 0) throw new Error('gradcheck: no input requires grad');

  const report = torch.tidy((): GradcheckReport => {
    // Fresh leaves, so the caller's tensors (and their .grad) are left alone.
    const leaves = inputs.map((t, i) => {
      if (!t.requiresGrad) return t;
      floatValues(t, `input ${i}`);
      return t.detach().clone().requiresGrad_(true);
    });
    const baseValues = leaves.map((t, i) => (checked.includes(i) ? (t.toTypedArray() as Float64Array) : null));

    // ---- analytic ----
    const outs = asList(fn(...leaves));
    if (outs.length === 0) throw new Error('gradcheck: fn returned no output');
    const rand = mulberry32(seed);
    const ups = outs.map((o, k) => {
      const n = floatValues(o, `output ${k}`).length;
      const u = new Float64Array(n);
      // Uniform in ±[0.5, 1.5): no near-zero weights hiding an element's gradient.
      for (let j = 0; j < n; j++) u[j] = upstream === 'ones' ? 1 : (rand() < 0.5 ? -1 : 1) * (0.5 + rand());
      return u;
    });
    const differentiable = outs.filter((o) => o.requiresGrad);
    if (outs.length === 1 && differentiable.length === 1) {
      outs[0]!.backward(fromValues(ups[0]!, outs[0]!.shape));
    } else if (differentiable.length > 0) {
      // Several outputs: backpropagate L = Σ_k sum(out_k · g_k).
      const terms: Tensor[] = [];
      for (let k = 0; k < outs.length; k++) if (outs[k]!.requiresGrad) terms.push(outs[k]!.mul(fromValues(ups[k]!, outs[k]!.shape)).sum());
      torch.stack(terms).sum().backward();
    }
    const analytic = checked.map((i) => {
      const g = leaves[i]!.grad;
      if (g === null) return new Float64Array(baseValues[i]!.length); // unused input: zero gradient
      return floatValues(g, `gradient of input ${i}`);
    });

    // ---- numeric ----
    const objective = (args: Tensor[]): number =>
      torch.tidy(() => {
        const o = asList(fn(...args));
        if (o.length !== outs.length) throw new Error('gradcheck: fn returned a different number of outputs on a perturbed input');
        let s = 0;
        o.forEach((t, k) => {
          const v = floatValues(t, `output ${k}`);
          const u = ups[k]!;
          if (v.length !== u.length) throw new Error('gradcheck: fn returned a differently sized output on a perturbed input');
          for (let j = 0; j < v.length; j++) s += v[j]! * u[j]!;
        });
        return s;
      });

    let worst: GradcheckMismatch | null = null;
    let worstRatio = -1;
    let failures = 0;
    let checkedElements = 0;
    let maxAbsErr = 0;
    torch.noGrad(() => {
      const args = leaves.map((t, i) => (checked.includes(i) ? t.detach() : t));
      checked.forEach((i, c) => {
        const base = baseValues[i]!;
        const shape = leaves[i]!.shape;
        const work = Float64Array.from(base);
        for (let j = 0; j < base.length; j++) {
          const x = base[j]!;
          work[j] = x + eps;
          args[i] = fromValues(work, shape);
          const plus = objective(args);
          work[j] = x - eps;
          args[i] = fromValues(work, shape);
          const minus = objective(args);
          work[j] = x;
          const numeric = (plus - minus) / (2 * eps);
          const a = analytic[c]![j]!;
          const absErr = Math.abs(a - numeric);
          const tol = atol + rtol * Math.abs(numeric);
          checkedElements++;
          const bad = !(absErr <= tol); // NaN counts as a failure
          if (bad) failures++;
          maxAbsErr = Math.max(maxAbsErr, Number.isNaN(absErr) ? Infinity : absErr);
          const ratio = Number.isNaN(absErr) ? Infinity : absErr / tol;
          if (ratio > worstRatio) {
            worstRatio = ratio;
            worst = { input: i, flatIndex: j, index: unravel(j, shape), analytic: a, numeric, absErr, tol };
          }
        }
      });
    });
    return { ok: failures === 0, checkedInputs: checked, checkedElements, failures, worst, maxAbsErr };
  });

  if (!report.ok && raiseOnFailure) throw new GradcheckError(describeReport(report), report);
  return report;
}

export function describeReport(r: GradcheckReport): string {
  if (r.ok)
    return (
      `gradcheck passed: ${r.checkedElements} elements of inputs [${r.checkedInputs.join(', ')}], max |err| ` +
      `${r.maxAbsErr.toExponential(2)}`
    );
  const w = r.worst!;
  return (
    `gradcheck failed: ${r.failures} of ${r.checkedElements} elements out of tolerance; worst at input ${w.input} ` +
    `element [${w.index.join(', ')}] (flat ${w.flatIndex}): analytic ${w.analytic}, numeric ${w.numeric}, ` +
    `|diff| ${w.absErr.toExponential(3)} > tol ${w.tol.toExponential(3)}`
  );
}
