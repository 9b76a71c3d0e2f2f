// Memory discipline: dispose, tidy, keep, Symbol.dispose, owned grads, and the finalizer
// safety net, all measured with torch.memory()'s live-tensor counter.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { torch, F } from '../src/index.js';
import { liveMemory } from './helpers.js';
import { totalmem } from 'node:os';

const live = () => torch.memory().tensors;

describe('memory', () => {
  it('10,000 create/compute/dispose iterations return to the baseline', () => {
    const base = liveMemory();
    for (let i = 0; i < 10_000; i++) {
      const a = torch.randn([8, 8]);
      const m = a.matmul(a);
      const b = m.relu();
      const c = b.sum(1);
      c.dispose();
      b.dispose();
      m.dispose();
      a.dispose();
    }
    expect(liveMemory()).toEqual(base);
  });

  it('counts bytes per device and drops them on dispose', () => {
    const base = liveMemory();
    const t = torch.zeros([100], { dtype: 'float64' });
    const m = liveMemory();
    expect(m.tensors - base.tensors).toBe(1);
    expect(m.bytes - base.bytes).toBe(800);
    expect(m.devices.cpu!.bytes - (base.devices.cpu?.bytes ?? 0)).toBe(800);
    t.dispose();
    t.dispose(); // twice is a no-op
    expect(liveMemory()).toEqual(base);
  });

  it('tidy disposes everything but what fn returns or keeps, also on throw', () => {
    const base = live();
    const kept: unknown[] = [];
    const [x, obj] = torch.tidy(() => {
      const a = torch.ones([3]);
      const b = a.add(1);
      kept.push(torch.keep(b.mul(2)));
      return [a.exp(), { y: b.neg(), n: 3 }] as const;
    });
    expect(live() - base).toBe(3);
    expect(x.tolist()).toEqual([Math.E, Math.E, Math.E].map((v) => Math.fround(v)));
    expect(obj.y.tolist()).toEqual([-2, -2, -2]);
    torch.dispose([x, obj, kept]);
    expect(live()).toBe(base);
    expect(() =>
      torch.tidy(() => {
        torch.ones([2]).add(1);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(live()).toBe(base);
  });

  it('nested tidy hands returned tensors to the outer scope', () => {
    const base = live();
    const out = torch.tidy(() => {
      const inner = torch.tidy(() => torch.ones([2]).add(1));
      expect(inner.isDisposed).toBe(false);
      return inner.mul(3);
    });
    expect(out.tolist()).toEqual([6, 6]);
    out.dispose();
    expect(live()).toBe(base);
  });

  it('tidy refuses async functions', () => {
    const base = live();
    expect(() => torch.tidy((async () => torch.ones([1])) as unknown as () => number)).toThrow(/synchronous/);
    expect(live()).toBe(base);
  });

  it('`using` disposes at the end of the block', () => {
    const base = live();
    {
      using t = torch.ones([4]);
      using s = t.sum();
      expect(s.item()).toBe(4);
      expect(live() - base).toBe(2);
    }
    expect(live()).toBe(base);
  });

  it('a training loop under tidy keeps memory flat for thousands of steps, and .grad reads never leak', () => {
    torch.manualSeed(1);
    const w = torch.randn([16, 8], { requiresGrad: true });
    const b = torch.zeros([16], { requiresGrad: true });
    const opt = new torch.optim.AdamW([w, b], { lr: 1e-2 });
    const x = torch.randn([32, 8]);
    const y = torch.randint(0, 16, [32]);
    const step = () =>
      torch.tidy(() => {
        opt.zeroGrad();
        const loss = F.crossEntropy(F.linear(x, w, b), y);
        loss.backward();
        void w.grad!.abs().max().item(); // reading .grad inside the loop
        torch.nn.utils.clipGradNorm([w, b], 1.0);
        opt.step();
        return loss.item();
      });
    step(); // creates the optimizer state
    const base = liveMemory();
    let first = 0,
      last = 0;
    for (let i = 0; i < 2000; i++) {
      const l = step();
      if (i === 0) first = l;
      last = l;
      if (i % 500 === 0) expect(liveMemory()).toEqual(base);
    }
    expect(liveMemory()).toEqual(base);
    expect(last).toBeLessThan(first);
    for (let i = 0; i < 1000; i++) void w.grad;
    expect(liveMemory()).toEqual(base);
    opt.dispose();
    torch.dispose([w, b, x, y]);
  });

  it('the grad handle is owned by its tensor and freed with it', () => {
    const base = live();
    const p = torch.ones([3], { requiresGrad: true });
    torch.tidy(() => p.mul(2).sum().backward());
    const g1 = p.grad;
    expect(g1).toBe(p.grad);
    expect(g1!.tolist()).toEqual([2, 2, 2]);
    torch.tidy(() => p.mul(3).sum().backward()); // accumulates in place: same handle
    expect(p.grad).toBe(g1);
    expect(p.grad!.tolist()).toEqual([5, 5, 5]);
    p.grad = null;
    expect(p.grad).toBeNull();
    p.dispose();
    expect(live()).toBe(base);
  });

  it('process memory (RSS) stays flat over many steps: freed tensor memory is reused', () => {
    const x = torch.randn([768, 1024]);
    const step = () => torch.tidy(() => x.add(x).mul(2).relu().sum().item());
    for (let i = 0; i < 20; i++) step();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 300; i++) step();
    // 300 steps × 9 MiB of activations would be 2.7 GiB if nothing were reused.
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 2 ** 20);
    expect(torch.cpuCache().cachedBytes).toBeGreaterThan(0);
    torch.emptyCache();
    expect(torch.cpuCache().cachedBytes).toBe(0);
    x.dispose();
  });

  it("memory() reports the caching allocator's bytes beside the live ones; its cap fits the machine", () => {
    torch.emptyCache();
    const before = torch.memory();
    expect(before.cachedBytes).toBe(0);
    const x = torch.zeros([1024, 1024]); // 4 MiB: cached when freed
    expect(torch.memory().bytes - before.bytes).toBe(4 * 2 ** 20);
    x.dispose();
    const after = torch.memory();
    expect(after.bytes).toBe(before.bytes);
    expect(after.cachedBytes).toBeGreaterThanOrEqual(4 * 2 ** 20);
    expect(after.cachedBytes).toBe(torch.cpuCache().cachedBytes);
    torch.emptyCache();
    expect(torch.memory().cachedBytes).toBe(0);
    // The default cap (no TORCH_RLHF_CPU_CACHE_MB): 1/32 of physical memory, at most 1 GiB.
    if (process.env.TORCH_RLHF_CPU_CACHE_MB === undefined)
      expect(Math.abs(torch.cpuCache().limitBytes - Math.min(totalmem() / 32, 2 ** 30))).toBeLessThan(2 ** 20);
  });

  it('the cache never raises the peak: a fresh block first gives back what would go above the live high-water mark', () => {
    const mib = 2 ** 20;
    const { peakLiveBytes, limitBytes } = torch.cpuCache();
    // Sizes above every earlier peak, so that caching the first block while the second is live would set a new high.
    const a = Math.ceil(peakLiveBytes / mib) + 8;
    if (a * mib > limitBytes) return; // the first block would not be cached at all
    torch.zeros([a, mib / 4]).dispose();
    expect(torch.cpuCache().cachedBytes).toBeGreaterThanOrEqual(a * mib);
    const b = torch.zeros([a + 8, mib / 4]);
    const s = torch.cpuCache();
    expect(s.liveBytes + s.cachedBytes).toBeLessThanOrEqual(s.peakLiveBytes);
    expect(s.cachedBytes).toBeLessThan(a * mib); // the first block went back to the system
    b.dispose();
    // Freed below the mark, it stays cached, and the same size is served again without a new block.
    expect(torch.cpuCache().cachedBytes).toBeGreaterThanOrEqual((a + 8) * mib);
    const c = torch.zeros([a + 8, mib / 4]);
    expect(torch.cpuCache().peakLiveBytes).toBe(s.peakLiveBytes);
    c.dispose();
    torch.emptyCache();
  });

  it('RSS stays flat over a training loop that never yields to the event loop', () => {
    // Node runs Node-API finalizers only when the event loop turns: a disposed handle's native
    // record used to wait for that, about 400 bytes each, so a loop that never awaited grew
    // without bound (218 → 843 MB over 3,000 steps) while the tensor counter stayed flat.
    const dist = new URL('../dist/index.js', import.meta.url);
    if (!existsSync(dist)) throw new Error('dist/ is missing: run npm run build:ts');
    const script = `
      const { torch, GPT, AdamW, F } = await import(${JSON.stringify(dist.href)});
      torch.manualSeed(0);
      const model = GPT.create({ vocabSize: 32, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16 });
      const opt = new AdamW(model.parameters(), { lr: 1e-3 });
      const ids = torch.randint(0, 32, [4, 16]);
      const step = () => {
        torch.tidy(() => { F.crossEntropy(model.forward(ids).logits.reshape([-1, 32]), ids.reshape([-1])).backward(); });
        opt.step();
        opt.zeroGrad();
        for (let i = 0; i < 500; i++) torch.tidy(() => { ids.add(1).mul(2).sum(); });
      };
      for (let i = 0; i < 20; i++) step();
      const base = torch.memory().tensors;
      const rss0 = process.memoryUsage().rss;
      for (let i = 0; i < 400; i++) step();
      console.log(JSON.stringify({ grew: process.memoryUsage().rss - rss0, tensors: torch.memory().tensors - base }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { grew, tensors } = JSON.parse(r.stdout.trim());
    expect(tensors).toBe(0);
    // About 1.3 million handles: 500 MB at 400 bytes each before; now the allocator's noise.
    expect(grew).toBeLessThan(32 * 2 ** 20);
  });

  it('the finalizer frees tensors that were never disposed (safety net)', () => {
    const dist = new URL('../dist/index.js', import.meta.url);
    if (!existsSync(dist)) throw new Error('dist/ is missing: run npm run build:ts');
    const script = `
      const { torch } = await import(${JSON.stringify(dist.href)});
      const base = torch.memory().tensors;
      for (let i = 0; i < 2000; i++) torch.ones([1000]).add(1);
      const before = torch.memory().tensors - base;
      for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 5)); }
      console.log(JSON.stringify({ before, after: torch.memory().tensors - base }));`;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { before, after } = JSON.parse(r.stdout.trim());
    expect(before).toBeGreaterThan(100);
    expect(after).toBeLessThan(before / 10);
  });
});
