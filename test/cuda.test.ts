// CUDA paths: run where torch.cuda.isAvailable(), skipped with the reason printed elsewhere.
import { describe, it, expect } from 'vitest';
import { torch, F } from '../src/index.js';
import { liveMemory } from './helpers.js';

const cuda = torch.cuda.isAvailable();
if (!cuda)
  console.log(
    `cuda.test.ts: skipped — no CUDA device (libtorch ${torch.version().libtorch}, built ${torch.version().cuda ? 'with' : 'without'} ` +
      'CUDA)',
  );

describe.skipIf(!cuda)('cuda', () => {
  it('moves tensors and computes the same values as the CPU', () => {
    torch.manualSeed(0);
    const a = torch.randn([64, 32]);
    const b = torch.randn([32, 16]);
    const ref = a.matmul(b).softmax(-1);
    const got = a.to('cuda').matmul(b.to('cuda')).softmax(-1);
    expect(got.device).toBe('cuda:0');
    expect(got.cpu().allclose(ref, 1e-4, 1e-5)).toBe(true);
  });

  it('reports CUDA memory per device and frees it on dispose', () => {
    const base = liveMemory();
    const t = torch.zeros([1024], { device: 'cuda' });
    expect(torch.memory().devices['cuda:0']!.bytes - (base.devices['cuda:0']?.bytes ?? 0)).toBe(4096);
    t.dispose();
    expect(liveMemory()).toEqual(base);
  });

  it('runs autograd, attention and AdamW on the GPU', () => {
    const w = torch.randn([8, 8], { device: 'cuda', requiresGrad: true });
    const q = torch.randn([2, 4, 16, 8], { device: 'cuda' });
    const out = F.scaledDotProductAttention(q.matmul(w), q, q, { isCausal: true });
    const ref = F.scaledDotProductAttentionReference(q.matmul(w), q, q, { isCausal: true });
    expect(out.allclose(ref, 1e-4, 1e-5)).toBe(true);
    out.sum().backward();
    expect(w.grad!.device).toBe('cuda:0');
    const opt = new torch.optim.AdamW([w], { lr: 0.1 });
    opt.step();
    expect(torch.nn.utils.clipGradNorm([w], 1)).toBeGreaterThan(0);
  });

  it('refuses to mix devices with a clear error', () => {
    expect(() => torch.ones([2], { device: 'cuda' }).add(torch.ones([2]))).toThrow(/device/);
  });
});

describe.skipIf(cuda)('without cuda', () => {
  it('says so', () => {
    expect(torch.cuda.deviceCount()).toBe(0);
  });
});
