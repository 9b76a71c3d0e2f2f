// F.scaledDotProductAttention against softmax(q kᵀ · scale + mask) v written from Tensor ops.
import { describe, it, expect } from 'vitest';
import { torch, F, type Tensor } from '../src/index.js';
import { expectClose } from './helpers.js';

interface Opts {
  attnMask?: Tensor | null;
  isCausal?: boolean;
  scale?: number;
}

/** The composition, op by op: masks become -inf (bool, false = blocked) or are added (float). */
function compose(q: Tensor, k: Tensor, v: Tensor, o: Opts = {}): Tensor {
  const E = q.shape[q.ndim - 1]!;
  const L = q.shape[q.ndim - 2]!;
  const S = k.shape[k.ndim - 2]!;
  const scale = o.scale ?? 1 / Math.sqrt(E);
  let scores = q.matmul(k.transpose(-2, -1)).mul(scale);
  if (o.isCausal) {
    const keep = torch.ones([L, S], { dtype: 'bool' }).tril();
    scores = scores.maskedFill(keep.logicalNot(), Number.NEGATIVE_INFINITY);
  }
  if (o.attnMask) {
    if (o.attnMask.dtype === 'bool') scores = scores.maskedFill(o.attnMask.logicalNot(), Number.NEGATIVE_INFINITY);
    else scores = scores.add(o.attnMask);
  }
  return scores.softmax(-1).matmul(v);
}

const B = 2,
  H = 3,
  L = 4,
  S = 5,
  E = 8;

function qkv(l = L, s = S, e = E, ev = e): [Tensor, Tensor, Tensor] {
  return [torch.randn([B, H, l, e]), torch.randn([B, H, s, e]), torch.randn([B, H, s, ev])];
}

/** (B, 1, 1, S) padding mask: batch 1 may not attend to its last two keys. */
function paddingMask(s = S): Tensor {
  const rows = [Array(s).fill(true), Array.from({ length: s }, (_, i) => i < s - 2)];
  return torch.tensor(rows).view(B, 1, 1, s);
}

function expectSame(a: Tensor, b: Tensor, atol = 1e-5): void {
  expect(a.shape).toEqual(b.shape);
  expect(a.isnan().any().item()).toBe(false);
  expectClose(a, b, atol, 1e-4);
}

describe('scaledDotProductAttention', () => {
  it('a hand-computed case', () => {
    // scores = [1/√2, 0] → softmax [0.66976155, 0.33023845] → weights·v
    const q = torch.tensor([[1, 0]], { dtype: 'float32' });
    const k = torch.tensor(
      [
        [1, 0],
        [0, 1],
      ],
      { dtype: 'float32' },
    );
    const v = torch.tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'float32' },
    );
    expectClose(F.scaledDotProductAttention(q, k, v), [[1.66047692, 2.66047692]]);
    // scale 0 → uniform weights
    expectClose(F.scaledDotProductAttention(q, k, v, { scale: 0 }), [[2, 3]]);
    // causal with one query: attends to key 0 only
    expectClose(F.scaledDotProductAttention(q, k, v, { isCausal: true }), [[1, 2]]);
  });

  it('no mask', () => {
    torch.manualSeed(1);
    const [q, k, v] = qkv();
    const out = F.scaledDotProductAttention(q, k, v);
    expect(out.shape).toEqual([B, H, L, E]);
    expectSame(out, compose(q, k, v));
    // value dim may differ from the query/key dim
    const [q2, k2, v2] = qkv(L, S, E, 3);
    const out2 = F.scaledDotProductAttention(q2, k2, v2);
    expect(out2.shape).toEqual([B, H, L, 3]);
    expectSame(out2, compose(q2, k2, v2));
    // 3-D inputs
    const q3 = torch.randn([2, 4, 8]),
      k3 = torch.randn([2, 6, 8]),
      v3 = torch.randn([2, 6, 8]);
    expectSame(F.scaledDotProductAttention(q3, k3, v3), compose(q3, k3, v3));
  });

  it('isCausal (square and L ≠ S, top-left aligned)', () => {
    torch.manualSeed(2);
    const [q, k, v] = qkv(L, L);
    const out = F.scaledDotProductAttention(q, k, v, { isCausal: true });
    expectSame(out, compose(q, k, v, { isCausal: true }));
    // the first query sees only the first key
    const first = out.narrow(2, 0, 1);
    expectSame(first, v.narrow(2, 0, 1));
    expect(out.allclose(compose(q, k, v), 1e-4, 1e-5)).toBe(false);

    const [q2, k2, v2] = qkv(4, 6);
    expectSame(F.scaledDotProductAttention(q2, k2, v2, { isCausal: true }), compose(q2, k2, v2, { isCausal: true }));
  });

  it('bool padding mask (true = attend), broadcast over heads and queries', () => {
    torch.manualSeed(3);
    const [q, k, v] = qkv();
    const mask = paddingMask();
    const out = F.scaledDotProductAttention(q, k, v, { attnMask: mask });
    expectSame(out, compose(q, k, v, { attnMask: mask }));
    // batch 0 is unmasked; batch 1 equals attention over its first S-2 keys only
    expectSame(out.select(0, 0), compose(q, k, v).select(0, 0));
    const k1 = k.select(0, 1).narrow(1, 0, S - 2);
    const v1 = v.select(0, 1).narrow(1, 0, S - 2);
    expectSame(out.select(0, 1), compose(q.select(0, 1), k1, v1));
    // a (L, S) mask broadcast over batch and heads
    const m2 = torch.tensor([
      [true, false, true, true, false],
      [true, true, true, true, true],
      [false, false, true, false, false],
      [true, true, false, false, false],
    ]);
    expectSame(F.scaledDotProductAttention(q, k, v, { attnMask: m2 }), compose(q, k, v, { attnMask: m2 }));
  });

  it('float additive mask', () => {
    torch.manualSeed(4);
    const [q, k, v] = qkv();
    const mask = torch.randn([L, S]);
    const out = F.scaledDotProductAttention(q, k, v, { attnMask: mask });
    expectSame(out, compose(q, k, v, { attnMask: mask }));
    // -inf entries block like a bool mask
    const blocked = torch.zeros([B, 1, 1, S]).maskedFill(paddingMask().logicalNot(), Number.NEGATIVE_INFINITY);
    expectSame(F.scaledDotProductAttention(q, k, v, { attnMask: blocked }), compose(q, k, v, { attnMask: paddingMask() }));
    // a zero float mask changes nothing
    expectSame(F.scaledDotProductAttention(q, k, v, { attnMask: torch.zeros([L, S]) }), compose(q, k, v));
  });

  it('causal + padding combined', () => {
    torch.manualSeed(5);
    const [q, k, v] = qkv(S, S);
    const mask = paddingMask(S); // key 0 always allowed, so no row is fully blocked
    const out = F.scaledDotProductAttention(q, k, v, { attnMask: mask, isCausal: true });
    const ref = compose(q, k, v, { attnMask: mask, isCausal: true });
    expectSame(out, ref);
    expect(out.allclose(compose(q, k, v, { isCausal: true }), 1e-4, 1e-5)).toBe(false);
    expect(out.allclose(compose(q, k, v, { attnMask: mask }), 1e-4, 1e-5)).toBe(false);
    // causal + float mask
    const fm = torch.randn([S, S]);
    expectSame(F.scaledDotProductAttention(q, k, v, { attnMask: fm, isCausal: true }), compose(q, k, v, { attnMask: fm, isCausal: true }));
  });

  it('custom scale', () => {
    torch.manualSeed(6);
    const [q, k, v] = qkv();
    const out = F.scaledDotProductAttention(q, k, v, { scale: 0.3 });
    expectSame(out, compose(q, k, v, { scale: 0.3 }));
    expect(out.allclose(compose(q, k, v), 1e-4, 1e-5)).toBe(false);
    // the default scale is 1/√E
    expectSame(F.scaledDotProductAttention(q, k, v, { scale: 1 / Math.sqrt(E) }), F.scaledDotProductAttention(q, k, v));
    const m = paddingMask();
    expectSame(
      F.scaledDotProductAttention(q, k, v, { scale: 2, attnMask: m, isCausal: true }),
      compose(q, k, v, { scale: 2, attnMask: m, isCausal: true }),
    );
  });

  it('dropout: off when not training, on when training', () => {
    torch.manualSeed(7);
    const [q, k, v] = qkv();
    expectSame(F.scaledDotProductAttention(q, k, v, { dropoutP: 0.5, training: false }), compose(q, k, v));
    const d = F.scaledDotProductAttention(q, k, v, { dropoutP: 0.5 });
    expect(d.shape).toEqual([B, H, L, E]);
    expect(d.allclose(compose(q, k, v), 1e-4, 1e-5)).toBe(false);
  });

  it('scaledDotProductAttentionReference equals scaledDotProductAttention', () => {
    torch.manualSeed(8);
    const [q, k, v] = qkv();
    const [qc, kc, vc] = qkv(L, L);
    const cases: [Tensor, Tensor, Tensor, Opts][] = [
      [q, k, v, {}],
      [qc, kc, vc, { isCausal: true }],
      [q, k, v, { attnMask: paddingMask() }],
      [q, k, v, { attnMask: torch.randn([L, S]) }],
      [qc, kc, vc, { attnMask: paddingMask(L), isCausal: true }],
      [q, k, v, { scale: 0.3 }],
    ];
    for (const [a, b, c, o] of cases) {
      const fused = F.scaledDotProductAttention(a, b, c, o);
      const ref = F.scaledDotProductAttentionReference(a, b, c, o);
      expectSame(ref, fused);
      expectSame(ref, compose(a, b, c, o));
    }
  });

  it('enableGqa: 6 query heads over 2 key/value heads equal the heads repeated, values and gradients', () => {
    torch.manualSeed(9);
    const q = torch.randn([2, 6, 5, 8], { requiresGrad: true });
    const k = torch.randn([2, 2, 5, 8], { requiresGrad: true });
    const v = torch.randn([2, 2, 5, 8], { requiresGrad: true });
    // Query head h reads key/value head floor(h / 3), as PyTorch's enable_gqa.
    const rep = (x: Tensor) => x.unsqueeze(2).expand(2, 2, 3, 5, 8).reshape(2, 6, 5, 8);
    for (const o of [
      { isCausal: true },
      {
        attnMask: torch
          .tensor([
            [true, true, true, false, false],
            [true, true, true, true, true],
          ])
          .view(2, 1, 1, 5),
      },
    ]) {
      const gqa = F.scaledDotProductAttention(q, k, v, { ...o, enableGqa: true });
      const repeated = F.scaledDotProductAttention(q, rep(k), rep(v), o);
      expectClose(gqa, repeated, 1e-6, 1e-5);
      expectClose(F.scaledDotProductAttentionReference(q, k, v, { ...o, enableGqa: true }), repeated, 1e-6, 1e-5);
      q.grad?.zero_();
      k.grad?.zero_();
      gqa.sum().backward();
      const a = [q.grad!.clone(), k.grad!.clone()];
      q.grad!.zero_();
      k.grad!.zero_();
      repeated.sum().backward();
      expectClose(a[0]!, q.grad!, 1e-5, 1e-4);
      expectClose(a[1]!, k.grad!, 1e-5, 1e-4);
    }
    expect(() => F.scaledDotProductAttention(q, torch.randn([2, 4, 5, 8]), torch.randn([2, 4, 5, 8]), { enableGqa: true })).toThrow(
      /multiple of the key\/value heads/,
    );
  });

  it('gradients flow to q, k and v', () => {
    torch.manualSeed(9);
    const [q0, k0, v0] = qkv(L, L);
    const q = q0.requiresGrad_(),
      k = k0.requiresGrad_(),
      v = v0.requiresGrad_();
    const mask = paddingMask(L);
    const w = torch.randn([B, H, L, E]); // a non-uniform upstream gradient
    F.scaledDotProductAttention(q, k, v, { attnMask: mask, isCausal: true }).mul(w).sum().backward();
    expect(q.grad!.shape).toEqual([B, H, L, E]);
    expect(k.grad!.shape).toEqual([B, H, L, E]);
    expect(v.grad!.shape).toEqual([B, H, L, E]);
    for (const g of [q.grad!, k.grad!, v.grad!]) {
      expect(g.isfinite().all().item()).toBe(true);
      expect(g.abs().sum().item()).toBeGreaterThan(0);
    }
    const [gq, gk, gv] = [q.grad!.clone(), k.grad!.clone(), v.grad!.clone()];

    // the same gradients through the composition
    const q2 = q0.detach().clone().requiresGrad_(),
      k2 = k0.detach().clone().requiresGrad_(),
      v2 = v0.detach().clone().requiresGrad_();
    compose(q2, k2, v2, { attnMask: mask, isCausal: true }).mul(w).sum().backward();
    expectClose(gq, q2.grad!, 1e-4, 1e-4);
    expectClose(gk, k2.grad!, 1e-4, 1e-4);
    expectClose(gv, v2.grad!, 1e-4, 1e-4);

    // masked-out keys get no gradient: batch 1 may not attend to its last two keys
    expectClose(k.grad!.select(0, 1).narrow(1, L - 2, 2), torch.zeros([H, 2, E]));
    expectClose(v.grad!.select(0, 1).narrow(1, L - 2, 2), torch.zeros([H, 2, E]));
  });

  it("rows of 8+ keys in float32 (libtorch's fused CPU kernel): values and gradients equal the float64 composition", () => {
    torch.manualSeed(10);
    // 19 keys: two 8-wide blocks and a tail; 64: blocks only. Masks: causal, padding (B,1,1,S),
    // per query (B,1,L,1: constant along a row, one batch fully blocked → NaN like the composition).
    for (const s of [19, 64]) {
      const masks: Opts[] = [{ isCausal: true }, { attnMask: paddingMask(s), isCausal: true }, { attnMask: paddingMask(s), scale: 0.37 }];
      for (const o of masks) {
        torch.tidy(() => {
          const [q0, k0, v0] = qkv(s, s, 16);
          const w = torch.randn([B, H, s, 16]);
          const [q, k, v] = [q0, k0, v0].map((t) => t.clone().requiresGrad_()) as [Tensor, Tensor, Tensor];
          const out = F.scaledDotProductAttention(q, k, v, o);
          out.mul(w).sum().backward();
          const [qd, kd, vd] = [q0, k0, v0].map((t) => t.double().requiresGrad_()) as [Tensor, Tensor, Tensor];
          const od: Opts = { ...o, attnMask: o.attnMask ?? null };
          const ref = compose(qd, kd, vd, od);
          ref.mul(w.double()).sum().backward();
          expectClose(out.double(), ref.detach(), 2e-5, 1e-4);
          expectClose(q.grad!.double(), qd.grad!, 2e-5, 1e-4);
          expectClose(k.grad!.double(), kd.grad!, 2e-5, 1e-4);
          expectClose(v.grad!.double(), vd.grad!, 2e-5, 1e-4);
        });
      }
      torch.tidy(() => {
        const [q, k, v] = qkv(s, s, 16);
        const perQuery = torch.tensor([true, false]).view(B, 1, 1, 1).expand(B, 1, s, 1);
        const out = F.scaledDotProductAttention(q, k, v, { attnMask: perQuery });
        expectSame(out.select(0, 0), compose(q, k, v).select(0, 0));
        // A query that may attend to nothing gets zeros (PyTorch ≥ 2.5), in the kernel and the reference.
        expectSame(out.select(0, 1), torch.zeros([H, s, 16]));
        expectSame(F.scaledDotProductAttentionReference(q, k, v, { attnMask: perQuery }).select(0, 1), torch.zeros([H, s, 16]));
      });
    }
  });

  it('mismatched shapes throw a JS Error', () => {
    const q = torch.randn([2, 4, 8]);
    // query/key last dims differ
    expect(() => F.scaledDotProductAttention(q, torch.randn([2, 5, 6]), torch.randn([2, 5, 8]))).toThrow(Error);
    // key/value lengths differ
    expect(() => F.scaledDotProductAttention(q, torch.randn([2, 5, 8]), torch.randn([2, 6, 8]))).toThrow(Error);
    // fewer than 2 dims
    expect(() => F.scaledDotProductAttention(torch.randn([8]), torch.randn([8]), torch.randn([8]))).toThrow(Error);
    // batch dims that do not broadcast
    expect(() => F.scaledDotProductAttention(torch.randn([2, 4, 8]), torch.randn([3, 5, 8]), torch.randn([3, 5, 8]))).toThrow(Error);
    // a mask that does not broadcast to (…, L, S)
    expect(() =>
      F.scaledDotProductAttention(q, torch.randn([2, 5, 8]), torch.randn([2, 5, 8]), { attnMask: torch.ones([3, 3], { dtype: 'bool' }) }),
    ).toThrow(Error);
    // integer inputs
    expect(() =>
      F.scaledDotProductAttention(
        torch.ones([2, 2], { dtype: 'int64' }),
        torch.ones([2, 2], { dtype: 'int64' }),
        torch.ones([2, 2], { dtype: 'int64' }),
      ),
    ).toThrow(Error);
    // non-tensors
    expect(() => F.scaledDotProductAttention(q, null as unknown as Tensor, q)).toThrow(TypeError);
    let msg = '';
    try {
      F.scaledDotProductAttention(q, torch.randn([2, 5, 6]), torch.randn([2, 5, 6]));
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/8 vs 6/);
  });
});
