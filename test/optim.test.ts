// Optimizers against PyTorch's documented update rules, computed by hand in float64.
import { describe, it, expect } from 'vitest';
import { torch, type Tensor } from '../src/index.js';

/** Sets p.grad = g (float64) through autograd: loss = Σ p·g. */
function setGrad(p: Tensor, g: number[]): void {
  torch.tidy(() =>
    p
      .mul(torch.tensor(g, { dtype: 'float64' }))
      .sum()
      .backward(),
  );
}

describe('AdamW', () => {
  it('matches the documented update step by step (decoupled weight decay, bias correction)', () => {
    const lr = 0.05,
      b1 = 0.9,
      b2 = 0.99,
      eps = 1e-8,
      wd = 0.1;
    const p = torch.tensor([1.0, -2.0, 0.5], { dtype: 'float64', requiresGrad: true });
    const opt = new torch.optim.AdamW([p], { lr, betas: [b1, b2], eps, weightDecay: wd });
    const grads = [
      [0.3, -1.2, 2.0],
      [-0.1, 0.4, 1.0],
      [0.7, 0.0, -3.0],
      [0.2, 0.2, 0.2],
    ];
    // By hand: PyTorch's AdamW algorithm (torch.optim.AdamW docs).
    const ref = [1.0, -2.0, 0.5];
    const m = [0, 0, 0],
      v = [0, 0, 0];
    grads.forEach((g, t0) => {
      const t = t0 + 1;
      for (let i = 0; i < 3; i++) {
        ref[i] = ref[i]! * (1 - lr * wd);
        m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
        v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
        const mhat = m[i]! / (1 - b1 ** t);
        const vhat = v[i]! / (1 - b2 ** t);
        ref[i] = ref[i]! - (lr * mhat) / (Math.sqrt(vhat) + eps);
      }
      opt.zeroGrad();
      setGrad(p, g);
      opt.step();
      const got = p.tolist() as number[];
      for (let i = 0; i < 3; i++) expect(got[i]).toBeCloseTo(ref[i]!, 12);
    });
    expect(opt.stateDict().state[0]!.step).toBe(4);
    opt.dispose();
    p.dispose();
  });

  it('first step with lr=0.1, wd=0.01 from p=1, g>0 gives 0.899 (hand value)', () => {
    const p = torch.tensor([1.0], { dtype: 'float64', requiresGrad: true });
    const opt = new torch.optim.AdamW([p], { lr: 0.1 });
    setGrad(p, [5]);
    opt.step();
    expect(p.item()).toBeCloseTo(0.899, 9);
  });

  it('skips parameters without a gradient and keeps their step count', () => {
    const a = torch.tensor([1.0], { dtype: 'float64', requiresGrad: true });
    const b = torch.tensor([1.0], { dtype: 'float64', requiresGrad: true });
    const opt = new torch.optim.AdamW([a, b], { lr: 0.1 });
    setGrad(a, [1]);
    opt.step();
    expect(b.item()).toBe(1);
    const sd = opt.stateDict();
    expect(sd.state[0]!.step).toBe(1);
    expect(sd.state[1]!.step).toBe(0);
  });

  it('supports parameter groups with their own options', () => {
    const a = torch.tensor([1.0], { dtype: 'float64', requiresGrad: true });
    const b = torch.tensor([1.0], { dtype: 'float64', requiresGrad: true });
    const opt = new torch.optim.AdamW(
      [
        { params: [a], weightDecay: 0 },
        { params: [b], lr: 0.2 },
      ],
      { lr: 0.1, weightDecay: 0.5 },
    );
    setGrad(a, [1]);
    setGrad(b, [1]);
    opt.step();
    expect(a.item()).toBeCloseTo(1 - 0.1 / (1 + 1e-8), 12); // no decay; first step moves lr·g/(|g|+eps)
    expect(b.item()).toBeCloseTo(1 * (1 - 0.2 * 0.5) - 0.2 / (1 + 1e-8), 12);
  });

  it('amsgrad keeps the maximum second moment', () => {
    const p = torch.tensor([0.0], { dtype: 'float64', requiresGrad: true });
    const opt = new torch.optim.AdamW([p], { lr: 0.1, weightDecay: 0, amsgrad: true, betas: [0.9, 0.999] });
    let ref = 0,
      m = 0,
      v = 0,
      vmax = 0;
    [3, 0.1, 0.1].forEach((g, t0) => {
      const t = t0 + 1;
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      vmax = Math.max(vmax, v);
      ref -= ((0.1 / (1 - 0.9 ** t)) * m) / (Math.sqrt(vmax) / Math.sqrt(1 - 0.999 ** t) + 1e-8);
      opt.zeroGrad();
      setGrad(p, [g]);
      opt.step();
      expect(p.item()).toBeCloseTo(ref, 12);
    });
  });

  it('stateDict / loadStateDict continue exactly', () => {
    const run = (split: boolean): number[] => {
      const p = torch.tensor([0.5, -0.5], { dtype: 'float64', requiresGrad: true });
      let opt = new torch.optim.AdamW([p], { lr: 0.01 });
      const gs = [
        [1, 2],
        [0.5, -1],
        [2, 2],
        [-1, 0.3],
      ];
      gs.forEach((g, i) => {
        if (split && i === 2) {
          const sd = opt.stateDict();
          const fresh = new torch.optim.AdamW([p], { lr: 999 });
          fresh.loadStateDict(sd);
          opt.dispose();
          opt = fresh;
        }
        opt.zeroGrad();
        setGrad(p, g);
        opt.step();
      });
      return p.tolist() as number[];
    };
    expect(run(true)).toEqual(run(false));
  });

  it('rejects bad options and mismatched state', () => {
    const p = torch.zeros([2], { requiresGrad: true });
    expect(() => new torch.optim.AdamW([p], { lr: -1 })).toThrow(/learning rate/);
    expect(() => new torch.optim.AdamW([p], { betas: [1.5, 0.9] })).toThrow(/betas/);
    expect(() => new torch.optim.AdamW([])).toThrow(/empty/);
    const opt = new torch.optim.AdamW([p]);
    expect(() => opt.loadStateDict({ state: {}, paramGroups: [] })).toThrow(/parameter groups/);
  });
});

describe('SGD', () => {
  it('plain, momentum, dampening, Nesterov and weight decay follow PyTorch', () => {
    const cases = [
      { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
      { momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false },
      { momentum: 0.9, dampening: 0.1, weightDecay: 0.01, nesterov: false },
      { momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true },
    ];
    for (const c of cases) {
      const lr = 0.1;
      const p = torch.tensor([1.0], { dtype: 'float64', requiresGrad: true });
      const opt = new torch.optim.SGD([p], { lr, ...c });
      let ref = 1.0;
      let buf: number | null = null;
      for (const g of [0.5, -1.0, 2.0]) {
        let d = g + c.weightDecay * ref;
        if (c.momentum) {
          buf = buf === null ? d : c.momentum * buf + (1 - c.dampening) * d;
          d = c.nesterov ? d + c.momentum * buf : buf;
        }
        ref -= lr * d;
        opt.zeroGrad();
        setGrad(p, [g]);
        opt.step();
        expect(p.item()).toBeCloseTo(ref, 12);
      }
    }
  });
});

describe('clipGradNorm', () => {
  it('returns the total norm and scales gradients to maxNorm', () => {
    const a = torch.tensor([3.0], { dtype: 'float64', requiresGrad: true });
    const b = torch.tensor([0.0, 0.0], { dtype: 'float64', requiresGrad: true });
    setGrad(a, [3]);
    setGrad(b, [4, 0]);
    const norm = torch.nn.utils.clipGradNorm([a, b], 1.0);
    expect(norm).toBeCloseTo(5, 12);
    expect(a.grad!.item()).toBeCloseTo(3 / (5 + 1e-6), 9);
    expect((b.grad!.tolist() as number[])[0]).toBeCloseTo(4 / (5 + 1e-6), 9);
  });
  it('leaves small gradients alone, supports the inf norm, and can refuse non-finite norms', () => {
    const a = torch.tensor([0.3, -0.4], { dtype: 'float64', requiresGrad: true });
    setGrad(a, [0.3, -0.4]);
    expect(torch.nn.utils.clipGradNorm([a], 10)).toBeCloseTo(0.5, 12);
    expect(a.grad!.tolist()).toEqual([0.3, -0.4]);
    expect(torch.nn.utils.clipGradNorm([a], 10, Infinity)).toBeCloseTo(0.4, 12);
    setGrad(a, [NaN, 0]);
    expect(() => torch.nn.utils.clipGradNorm([a], 1, 2, { errorIfNonfinite: true })).toThrow(/non-finite/);
  });
});
