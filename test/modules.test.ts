// torch.nn modules: naming, state dicts, modes, freezing, moving, disposing.
import { describe, it, expect } from 'vitest';
import { torch, F, Module, ModuleList, Linear, Embedding, LayerNorm, Dropout, GPT, type Tensor } from '../src/index.js';

class TwoLayer extends Module {
  readonly fc1: Linear;
  readonly blocks: ModuleList<Linear>;
  readonly drop: Dropout;
  constructor() {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(4, 8));
    this.blocks = this.registerModule('blocks', new ModuleList([new Linear(8, 8, { bias: false }), new Linear(8, 2)]));
    this.drop = this.registerModule('drop', new Dropout(0.5));
  }
  forward(x: Tensor): Tensor {
    let h = this.drop.forward(this.fc1.forward(x).relu());
    for (const b of this.blocks) h = b.forward(h);
    return h;
  }
}

describe('Module', () => {
  it('names parameters with dotted paths and counts them', () => {
    const m = new TwoLayer();
    expect(m.namedParameters().map(([n, p]) => `${n}:${p.shape}`)).toEqual([
      'fc1.weight:8,4',
      'fc1.bias:8',
      'blocks.0.weight:8,8',
      'blocks.1.weight:2,8',
      'blocks.1.bias:2',
    ]);
    expect(m.numParameters()).toBe(32 + 8 + 64 + 16 + 2);
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect([...m.namedModules()].map(([n]) => n)).toEqual(['', 'fc1', 'blocks', 'blocks.0', 'blocks.1', 'drop']);
    m.dispose();
  });

  it('train()/eval() reach every submodule; dropout is the identity in eval', () => {
    const m = new TwoLayer();
    const x = torch.randn([16, 4]);
    m.eval();
    expect([...m.namedModules()].every(([, c]) => !c.training)).toBe(true);
    torch.tidy(() => expect(m.forward(x).equal(m.forward(x))).toBe(true));
    m.train();
    torch.tidy(() => expect(m.forward(x).equal(m.forward(x))).toBe(false));
    m.dispose();
    x.dispose();
  });

  it('stateDict/loadStateDict copy values and report missing, unexpected and mis-shaped keys', () => {
    const a = new TwoLayer();
    const b = new TwoLayer();
    b.loadStateDict(a.stateDict());
    for (const [[na, pa], [nb, pb]] of a.namedParameters().map((x, i) => [x, b.namedParameters()[i]!] as const)) {
      expect(na).toBe(nb);
      expect(pa.equal(pb)).toBe(true);
      expect(pa).not.toBe(pb);
    }
    const sd = new Map(a.stateDict());
    sd.delete('fc1.bias');
    expect(() => b.loadStateDict(sd)).toThrow(/missing keys: fc1\.bias/);
    expect(b.loadStateDict(sd, { strict: false }).missingKeys).toEqual(['fc1.bias']);
    const extra = new Map(a.stateDict());
    const junk = torch.zeros([1]);
    extra.set('nope.weight', junk);
    expect(() => b.loadStateDict(extra)).toThrow(/unexpected keys: nope\.weight/);
    const wrong = new Map(a.stateDict());
    const bad = torch.zeros([3, 3]);
    wrong.set('fc1.weight', bad);
    const before = b.namedParameters()[1]![1].tolist();
    expect(() => b.loadStateDict(wrong, { strict: false })).toThrow(/size mismatch for fc1\.weight: checkpoint \[3,3\] vs model \[8,4\]/);
    expect(b.namedParameters()[1]![1].tolist()).toEqual(before); // nothing written
    torch.dispose([junk, bad]);
    a.dispose();
    b.dispose();
  });

  it('requiresGrad_(false) freezes; zeroGrad clears', () => {
    const m = new TwoLayer();
    torch.tidy(() =>
      m
        .forward(torch.randn([2, 4]))
        .sum()
        .backward(),
    );
    expect(m.fc1.weight.grad).not.toBeNull();
    m.zeroGrad();
    expect(m.fc1.weight.grad).toBeNull();
    m.requiresGrad_(false);
    expect(m.numParameters({ trainableOnly: true })).toBe(0);
    expect(torch.tidy(() => m.forward(torch.randn([2, 4])).requiresGrad)).toBe(false);
    m.dispose();
  });

  it('to(dtype) converts floating parameters (keeping ties) and disposes the old ones', () => {
    const base = torch.memory().tensors;
    const g = GPT.create({ vocabSize: 20, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 });
    const n = torch.memory().tensors;
    g.to('float64');
    expect(torch.memory().tensors).toBe(n);
    expect(g.parameters().every((p) => p.dtype === 'float64' && p.requiresGrad)).toBe(true);
    expect(g.stateDict().get('lm_head.weight')).toBe(g.stateDict().get('transformer.wte.weight'));
    torch.tidy(() => expect(g.forward(torch.tensor([[1, 2, 3]])).logits.dtype).toBe('float64'));
    g.dispose();
    expect(torch.memory().tensors).toBe(base);
  });

  it('layers: Linear matches F.linear, Embedding paddingIdx row is zero, LayerNorm normalizes', () => {
    torch.manualSeed(0);
    const lin = new Linear(3, 2);
    const bound = 1 / Math.sqrt(3);
    expect(lin.weight.abs().max().item()).toBeLessThanOrEqual(bound);
    torch.tidy(() => {
      const x = torch.randn([5, 3]);
      expect(lin.forward(x).equal(F.linear(x, lin.weight, lin.bias))).toBe(true);
    });
    const emb = new Embedding(5, 3, { paddingIdx: 0 });
    expect(emb.weight.select(0, 0).tolist()).toEqual([0, 0, 0]);
    const ln = new LayerNorm(4);
    torch.tidy(() => {
      const y = ln.forward(torch.tensor([[1, 2, 3, 4]], { dtype: 'float32' }));
      expect(Math.abs(y.mean().item())).toBeLessThan(1e-6);
      expect(y.var(-1, { unbiased: false }).item()).toBeCloseTo(1, 4);
    });
    expect(() => new Dropout(1.5)).toThrow(/probability/);
    torch.dispose([lin, emb, ln].flatMap((m) => m.parameters()));
  });

  it('GPT config validation names the field', () => {
    expect(() => GPT.create({ vocabSize: 10, nEmbd: 10, nHead: 3 })).toThrow(/nEmbd \(10\) must be divisible by nHead \(3\)/);
    expect(() => GPT.create({ vocabSize: 0 })).toThrow(/vocabSize must be a positive integer/);
    expect(() => GPT.create({ vocabSize: 10, dropout: 1 })).toThrow(/dropout/);
  });

  it('GPT with bias=false has no biases and still runs natively', async () => {
    const g = GPT.create({ vocabSize: 20, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, bias: false });
    expect(g.namedParameters().some(([n]) => n.endsWith('.bias'))).toBe(false);
    g.eval();
    torch.tidy(() => {
      const ids = torch.tensor([[1, 2, 3]]);
      expect(g.forward(ids, { path: 'modules' }).logits.allclose(g.forward(ids, { path: 'native' }).logits, 1e-5, 1e-6)).toBe(true);
    });
    const out = await g.generate([[1, 2]], { greedy: true, maxNewTokens: 3 });
    expect(out.tokens.shape).toEqual([1, 3]);
    torch.dispose(out);
    g.dispose();
  });
});
