// The chunked LM head (native/lm_head_logprobs.h, src/nn/lm-head-logprobs.ts) against the plain
// computation it replaces: linear → logSoftmax → gather, and entropy from the full logits;
// values and gradients (hidden and weight), chunk sizes that divide the positions and that do
// not, temperature, ignored targets, frozen weights, autocast, and the model-level helpers.
import { describe, expect, it } from 'vitest';
import {
  F,
  GPT,
  collateSequences,
  entropyFromLogits,
  languageModelLoss,
  lmHeadCrossEntropy,
  lmHeadLogprobs,
  lmLossFromLogits,
  tokenLogprobs,
  torch,
  type Tensor,
} from '../src/index.js';
import { expectClose } from './helpers.js';
import { gradcheck } from './gradcheck.js';

const F64 = { dtype: 'float64' as const };
const IGNORE = -100;

/** The plain computation: (logprobs, entropy) of targets under linear(hidden, weight) / temperature, 0 at ignored targets. */
function plain(hidden: Tensor, weight: Tensor, targets: Tensor, temperature = 1): { logprobs: Tensor; entropy: Tensor } {
  return torch.tidy(() => {
    const logits = F.linear(hidden, weight).div(temperature);
    const keep = targets.ne(IGNORE);
    const logprobs = logits.logSoftmax(-1).gather(-1, targets.clamp(0).unsqueeze(-1)).squeeze(-1).mul(keep);
    return { logprobs, entropy: entropyFromLogits(logits).mul(keep) };
  });
}

/** Targets (n) in [0, V) with -100 at `ignored` positions. */
function targetsOf(n: number, V: number, ignored: number[] = []): Tensor {
  const ids = Array.from({ length: n }, (_, i) => (ignored.includes(i) ? IGNORE : (i * 7 + 3) % V));
  return torch.tensor(ids, { dtype: 'int64' });
}

interface Case {
  chunkSize?: number;
  temperature?: number;
  entropy: boolean;
  ignored: number[];
}

/** d/d(hidden, weight) of Σ a·logprobs + Σ b·entropy, for fixed random a and b. */
function gradsOf(fn: (h: Tensor, w: Tensor) => { logprobs: Tensor; entropy: Tensor | null }, h0: Tensor, w0: Tensor, a: Tensor, b: Tensor) {
  const h = h0.detach().requiresGrad_(true);
  const w = w0.detach().requiresGrad_(true);
  const out = fn(h, w);
  torch.tidy(() => {
    let L = out.logprobs.mul(a).sum();
    if (out.entropy) L = L.add(out.entropy.mul(b).sum());
    L.backward();
  });
  const r = { logprobs: out.logprobs.detach(), entropy: out.entropy?.detach() ?? null, dh: h.grad!.clone(), dw: w.grad!.clone() };
  torch.dispose([h, w, out]);
  return r;
}

describe('lmHeadLogprobs', () => {
  const N = 7;
  const C = 5;
  const V = 11;
  const cases: Case[] = [
    { entropy: false, ignored: [] },
    { entropy: true, ignored: [] },
    { chunkSize: 3, entropy: true, ignored: [] },
    { chunkSize: 1, entropy: true, ignored: [0, 4] },
    { chunkSize: 7, temperature: 0.7, entropy: true, ignored: [2] },
    { chunkSize: 2, temperature: 1.3, entropy: false, ignored: [1, 2, 6] },
    { chunkSize: 4, temperature: 0.5, entropy: true, ignored: [0, 1, 2, 3, 4, 5] },
  ];
  it.each(cases)('equals linear → logSoftmax → gather, values and gradients (%o)', (c) => {
    torch.tidy(() => {
      torch.manualSeed(1);
      const h = torch.randn([N, C], F64);
      const w = torch.randn([V, C], F64);
      const t = targetsOf(N, V, c.ignored);
      const a = torch.randn([N], F64);
      const b = torch.randn([N], F64);
      const o = { chunkSize: c.chunkSize, temperature: c.temperature, entropy: c.entropy };
      const got = gradsOf((hh, ww) => lmHeadLogprobs(hh, ww, t, o), h, w, a, b);
      const want = gradsOf(
        (hh, ww) => {
          const p = plain(hh, ww, t, c.temperature);
          return { logprobs: p.logprobs, entropy: c.entropy ? p.entropy : null };
        },
        h,
        w,
        a,
        b,
      );
      expect(got.logprobs.dtype).toBe('float64');
      expectClose(got.logprobs, want.logprobs, 1e-12, 1e-10);
      if (c.entropy) expectClose(got.entropy!, want.entropy!, 1e-12, 1e-10);
      else expect(got.entropy).toBeNull();
      expectClose(got.dh, want.dh, 1e-12, 1e-10);
      expectClose(got.dw, want.dw, 1e-12, 1e-10);
      // Ignored positions: log-prob 0, no gradient.
      for (const i of c.ignored) {
        expect(got.logprobs.select(0, i).item()).toBe(0);
        expect(got.dh.select(0, i).abs().max().item()).toBe(0);
      }
    });
  });

  it('keeps the targets’ shape: hidden (B, T, C), targets (B, T)', () => {
    torch.tidy(() => {
      const h = torch.randn([2, 3, C], F64);
      const w = torch.randn([V, C], F64);
      const t = targetsOf(6, V, [5]).view(2, 3);
      const got = lmHeadLogprobs(h, w, t, { entropy: true, chunkSize: 4 });
      const want = plain(h, w, t);
      expect(got.logprobs.shape).toEqual([2, 3]);
      expectClose(got.logprobs, want.logprobs, 1e-12);
      expectClose(got.entropy!, want.entropy, 1e-12);
    });
  });

  it('argmax and logitSum are those of the scaled logits (-1 and 0 at ignored targets), without gradient', () => {
    torch.tidy(() => {
      const h = torch.randn([N, C], { ...F64, requiresGrad: true });
      const w = torch.randn([V, C], F64);
      const t = targetsOf(N, V, [3]);
      const got = lmHeadLogprobs(h, w, t, { argmax: true, logitSum: true, temperature: 2, chunkSize: 3 });
      const logits = F.linear(h, w).div(2).detach();
      const keep = t.ne(IGNORE);
      expect(got.argmax!.dtype).toBe('int64');
      expect(got.argmax!.tolist()).toEqual(logits.argmax(-1).where(keep, -1).tolist());
      expectClose(got.logitSum!, logits.sum(-1).mul(keep), 1e-12);
      expect(got.argmax!.requiresGrad).toBe(false);
      expect(got.logitSum!.requiresGrad).toBe(false);
      expect(got.logprobs.requiresGrad).toBe(true);
    });
  });

  it('passes a finite-difference check (hidden and weight, with entropy and temperature)', () => {
    torch.tidy(() => {
      torch.manualSeed(2);
      const h = torch.randn([5, 3], { ...F64, requiresGrad: true });
      const w = torch.randn([6, 3], { ...F64, requiresGrad: true });
      const t = torch.tensor([0, IGNORE, 5, 2, 3], { dtype: 'int64' });
      const r = gradcheck(
        (hh, ww) => {
          const o = lmHeadLogprobs(hh!, ww!, t, { entropy: true, temperature: 0.8, chunkSize: 2 });
          return [o.logprobs, o.entropy!];
        },
        [h, w],
      );
      expect(r.ok).toBe(true);
      expect(r.checkedElements).toBe(5 * 3 + 6 * 3);
    });
  });

  it('computes no gradient for a frozen weight, and the hidden states’ all the same', () => {
    torch.tidy(() => {
      const h = torch.randn([N, C], { ...F64, requiresGrad: true });
      const w = torch.randn([V, C], F64);
      const t = targetsOf(N, V, [1]);
      lmHeadLogprobs(h, w, t, { entropy: true, chunkSize: 3 }).logprobs.sum().backward();
      expect(w.grad).toBeNull();
      const h2 = h.detach().requiresGrad_(true);
      plain(h2, w, t).logprobs.sum().backward();
      expectClose(h.grad!, h2.grad!, 1e-12);
    });
  });

  it('without grad mode returns the same values and keeps no graph', () => {
    torch.tidy(() => {
      const h = torch.randn([N, C], { ...F64, requiresGrad: true });
      const w = torch.randn([V, C], { ...F64, requiresGrad: true });
      const t = targetsOf(N, V, [0]);
      const got = torch.noGrad(() => lmHeadLogprobs(h, w, t, { entropy: true, chunkSize: 2 }));
      expect(got.logprobs.requiresGrad).toBe(false);
      const want = plain(h, w, t);
      expectClose(got.logprobs, want.logprobs.detach(), 1e-12);
      expectClose(got.entropy!, want.entropy.detach(), 1e-12);
    });
  });

  it('float32: equal to the plain float32 computation to float32 precision', () => {
    torch.tidy(() => {
      torch.manualSeed(3);
      const [n, c, v] = [37, 16, 1000];
      const h = torch.randn([n, c]);
      const w = torch.randn([v, c]).mul(0.3);
      const t = torch.randint(0, v, [n], { dtype: 'int64' });
      const a = torch.randn([n]);
      const b = torch.randn([n]);
      const got = gradsOf((hh, ww) => lmHeadLogprobs(hh, ww, t, { entropy: true, chunkSize: 8 }), h, w, a, b);
      const want = gradsOf((hh, ww) => plain(hh, ww, t), h, w, a, b);
      expect(got.logprobs.dtype).toBe('float32');
      expectClose(got.logprobs, want.logprobs, 1e-5, 1e-5);
      expectClose(got.entropy!, want.entropy!, 1e-5, 1e-5);
      expectClose(got.dh, want.dh, 1e-5, 1e-4);
      expectClose(got.dw, want.dw, 1e-5, 1e-4);
    });
  });

  it('under bf16 autocast: the matmul in bf16 as F.linear under autocast, the softmax in float32', () => {
    torch.tidy(() => {
      torch.manualSeed(4);
      const h = torch.randn([9, 8]);
      const w = torch.randn([50, 8]);
      const t = torch.randint(0, 50, [9], { dtype: 'int64' });
      const a = torch.randn([9]);
      const b = torch.randn([9]);
      const got = torch.autocast('cpu', () => gradsOf((hh, ww) => lmHeadLogprobs(hh, ww, t, { entropy: true, chunkSize: 4 }), h, w, a, b));
      const want = torch.autocast('cpu', () =>
        gradsOf(
          (hh, ww) => {
            const logits = F.linear(hh, ww).float();
            return { logprobs: logits.logSoftmax(-1).gather(1, t.unsqueeze(1)).squeeze(1), entropy: entropyFromLogits(logits) };
          },
          h,
          w,
          a,
          b,
        ),
      );
      expect(got.logprobs.dtype).toBe('float32');
      expectClose(got.logprobs, want.logprobs, 1e-5, 1e-5);
      expectClose(got.entropy!, want.entropy!, 1e-5, 1e-5);
      // The gradients go through bf16 matmuls on both sides.
      expectClose(got.dh, want.dh, 2e-2, 2e-2);
      expectClose(got.dw, want.dw, 2e-2, 2e-2);
    });
  });

  it('a bf16 weight (a frozen bf16 head) with float32 hidden states computes in bf16', () => {
    torch.tidy(() => {
      const h = torch.randn([6, 8], { requiresGrad: true });
      const w = torch.randn([20, 8]).to('bfloat16');
      const t = torch.randint(0, 20, [6], { dtype: 'int64' });
      const got = lmHeadLogprobs(h, w, t);
      got.logprobs.sum().backward();
      expect(h.grad!.dtype).toBe('float32');
      const logits = F.linear(h.detach().to('bfloat16'), w).float();
      expectClose(got.logprobs, logits.logSoftmax(-1).gather(1, t.unsqueeze(1)).squeeze(1), 1e-5, 1e-5);
    });
  });

  it('throws clear errors on bad input', () => {
    torch.tidy(() => {
      const h = torch.randn([4, 3]);
      const w = torch.randn([10, 3]);
      const t = torch.tensor([1, 2, 3, 4], { dtype: 'int64' });
      expect(() => lmHeadLogprobs(h, torch.randn([10, 4]), t)).toThrow(/hidden's width 3 differs from weight's 4/);
      expect(() => lmHeadLogprobs(h, torch.randn([10]), t)).toThrow(/weight must be \(vocabulary, width\)/);
      expect(() => lmHeadLogprobs(h, w, torch.tensor([1, 2], { dtype: 'int64' }))).toThrow(/targets must be \(4\)/);
      expect(() => lmHeadLogprobs(h, w, t.view(2, 2))).toThrow(/must be targets' shape/);
      expect(() => lmHeadLogprobs(h, w, t.float())).toThrow(/targets must be integer token ids/);
      expect(() => lmHeadLogprobs(h.long(), w, t)).toThrow(/must be floating point/);
      expect(() => lmHeadLogprobs(h, w, torch.tensor([1, 2, 10, 4], { dtype: 'int64' }))).toThrow(
        /target 10 is out of the vocabulary \[0, 10\)/,
      );
      expect(() => lmHeadLogprobs(h, w, torch.tensor([1, -5, 3, 4], { dtype: 'int64' }))).toThrow(/target -5 is out of the vocabulary/);
      expect(() => lmHeadLogprobs(h, w, t, { temperature: 0 })).toThrow(/temperature must be > 0/);
      expect(() => lmHeadLogprobs(h, w, t, { chunkSize: 0 })).toThrow(/chunkSize must be a positive integer/);
      expect(() => lmHeadLogprobs(h, null as unknown as Tensor, t)).toThrow(/weight must be a Tensor/);
      if (torch.cuda.isAvailable()) expect(() => lmHeadLogprobs(h, w.to('cuda'), t)).toThrow(/must be on one device/);
    });
  });

  it('leaks no tensors, forward and backward', () => {
    const h = torch.randn([N, C], { requiresGrad: true });
    const w = torch.randn([V, C], { requiresGrad: true });
    const t = targetsOf(N, V, [2]);
    const base = torch.memory();
    torch.tidy(() => {
      const o = lmHeadLogprobs(h, w, t, { entropy: true, argmax: true, logitSum: true, chunkSize: 3 });
      o.logprobs.sum().add(o.entropy!.sum()).backward();
    });
    h.grad = null;
    w.grad = null;
    expect(torch.memory()).toEqual(base);
    torch.dispose([h, w, t]);
  });
});

describe('lmHeadCrossEntropy', () => {
  it.each(['mean', 'sum', 'none'] as const)('equals F.crossEntropy of the logits with ignoreIndex (%s), and its gradients', (reduction) => {
    torch.tidy(() => {
      torch.manualSeed(5);
      const h = torch.randn([2, 5, 4], F64);
      const w = torch.randn([9, 4], F64);
      const t = torch.tensor(
        [
          [1, IGNORE, 3, 8, 0],
          [IGNORE, IGNORE, 2, 2, 7],
        ],
        { dtype: 'int64' },
      );
      const run = (fn: (hh: Tensor, ww: Tensor) => Tensor) => {
        const hh = h.detach().requiresGrad_(true);
        const ww = w.detach().requiresGrad_(true);
        const loss = fn(hh, ww);
        (reduction === 'none' ? loss.sum() : loss).backward();
        return { loss: loss.detach(), dh: hh.grad!, dw: ww.grad! };
      };
      const got = run((hh, ww) => lmHeadCrossEntropy(hh, ww, t, { reduction, chunkSize: 3 }));
      const want = run((hh, ww) =>
        F.crossEntropy(F.linear(hh, ww).view(-1, 9), t.view(-1), { reduction, ignoreIndex: IGNORE }).reshape(
          reduction === 'none' ? [2, 5] : [],
        ),
      );
      expectClose(got.loss, want.loss, 1e-12);
      expectClose(got.dh, want.dh, 1e-12);
      expectClose(got.dw, want.dw, 1e-12);
    });
  });

  it('mean over no labeled token is NaN, as PyTorch’s', () => {
    torch.tidy(() => {
      const t = torch.full([3], IGNORE, { dtype: 'int64' });
      const h = torch.randn([3, 4]);
      const w = torch.randn([5, 4]);
      expect(Number.isNaN(lmHeadCrossEntropy(h, w, t).item())).toBe(true);
      expect(Number.isNaN(F.crossEntropy(F.linear(h, w), t).item())).toBe(true);
      expect(lmHeadCrossEntropy(h, w, t, { reduction: 'sum' }).item()).toBe(0);
    });
  });
});

describe('on a model', () => {
  const config = { vocabSize: 40, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 8 };
  const llama = { arch: 'llama' as const, vocabSize: 40, blockSize: 16, nLayer: 1, nHead: 2, nKvHead: 1, nEmbd: 8, intermediateSize: 16 };

  it.each([
    ['GPT-2 (tied head)', config],
    ['Llama (own head)', { ...llama, tieWordEmbeddings: false }],
  ])('%s: tokenLogprobs equals the logits’ log-probs, from an offset, with padding', (_, cfg) => {
    torch.manualSeed(6);
    const model = new GPT(cfg);
    torch.tidy(() => {
      const ids = torch.tensor(
        [
          [0, 5, 6, 7, 8, 9],
          [3, 4, 5, 6, 7, 0],
        ],
        { dtype: 'int64' },
      );
      const mask = torch.tensor(
        [
          [false, true, true, true, true, true],
          [true, true, true, true, true, false],
        ],
        { dtype: 'bool' },
      );
      const targets = torch.tensor(
        [
          [7, 8, 9],
          [6, 7, IGNORE],
        ],
        { dtype: 'int64' },
      );
      const got = tokenLogprobs(model, ids, targets, { attentionMask: mask, start: 2, temperature: 0.9, entropy: true });
      const logits = model.forward(ids, { attentionMask: mask }).logits.narrow(1, 2, 3);
      const want = plain(logits.reshape(-1, 40), torch.eye(40), targets.reshape(-1), 0.9);
      expectClose(got.logprobs.reshape(-1), want.logprobs, 1e-5);
      expectClose(got.entropy!.reshape(-1), want.entropy, 1e-5);
    });
    model.dispose();
  });

  it('languageModelLoss equals lmLossFromLogits of the logits, value and every parameter’s gradient', () => {
    torch.manualSeed(7);
    const model = new GPT(config);
    const batch = collateSequences(
      [
        { ids: [1, 2, 3, 4, 5], labels: [IGNORE, IGNORE, 3, 4, 5] },
        { ids: [6, 7, 8], labels: [6, 7, 8] },
      ],
      0,
      'cpu',
    );
    const gradsAfter = (loss: () => Tensor) => {
      model.zeroGrad();
      const v = torch.tidy(() => {
        const l = loss();
        l.backward();
        return l.item();
      });
      return { v, grads: model.parameters().map((p) => p.grad!.clone()) };
    };
    const got = gradsAfter(() => languageModelLoss(model, batch));
    const want = gradsAfter(() =>
      lmLossFromLogits(model.forward(batch.inputIds, { attentionMask: batch.attentionMask }).logits, batch.labels),
    );
    expect(got.v).toBeCloseTo(want.v, 6);
    got.grads.forEach((g, i) => expectClose(g, want.grads[i]!, 1e-6, 1e-4));
    torch.dispose([got.grads, want.grads, batch]);
    model.dispose();
  });
});
