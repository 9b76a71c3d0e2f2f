// Bad input becomes a JS Error with libtorch's message (no C++ backtrace), never a crash.
import { describe, it, expect } from 'vitest';
import { torch, F, type Tensor } from '../src/index.js';
import { liveMemory } from './helpers.js';

const noBacktrace = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    const msg = (e as Error).message;
    expect(msg).not.toMatch(/Exception raised from|frame #\d/);
    return e as Error;
  }
  throw new Error('expected an error');
};

describe('errors', () => {
  it('shape mismatches', () => {
    const e = noBacktrace(() => torch.ones([2, 3]).add(torch.ones([4])));
    expect(e.message).toMatch(/size of tensor a \(3\) must match the size of tensor b \(4\)/);
    expect(noBacktrace(() => torch.ones([2, 3]).matmul(torch.ones([2, 3]))).message).toMatch(/cannot be multiplied|mat1 and mat2 shapes/);
    expect(noBacktrace(() => torch.ones([6]).view([4, 2])).message).toMatch(/invalid for input of size 6/);
    expect(noBacktrace(() => torch.cat([torch.ones([2, 2]), torch.ones([3, 3])], 0)).message).toMatch(/Sizes of tensors must match/);
  });

  it('dtype mismatches', () => {
    expect(noBacktrace(() => torch.ones([2, 2]).matmul(torch.ones([2, 2], { dtype: 'int64' }))).message).toMatch(
      /expected .*same dtype|expected scalar type|dtype/i,
    );
    expect(noBacktrace(() => F.embedding(torch.ones([2], { dtype: 'float32' }), torch.ones([3, 4]))).message).toMatch(/Long|Int|indices/);
    expect(noBacktrace(() => torch.ones([2], { dtype: 'int64', requiresGrad: true })).message).toMatch(/floating point/);
    expect(noBacktrace(() => torch.ones([2]).mean({ dtype: 'nope' } as never)).message).toBeTruthy();
    expect(noBacktrace(() => torch.zeros([2], { dtype: 'complex' as never })).message).toMatch(/unknown dtype 'complex'/);
  });

  it('device problems', () => {
    expect(noBacktrace(() => torch.zeros([2], { device: 'gpu' as never })).message).toMatch(/unknown device 'gpu'/);
    if (!torch.cuda.isAvailable()) {
      expect(noBacktrace(() => torch.zeros([2], { device: 'cuda' })).message).toMatch(/CUDA|cuda/);
      expect(noBacktrace(() => torch.ones([2]).to('cuda:0')).message).toMatch(/CUDA|cuda/);
    }
  });

  it('out-of-range indices and dimensions', () => {
    const t = torch.arange(6).view(2, 3);
    const e = noBacktrace(() => t.select(0, 5));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toMatch(/out of range|index 5/);
    expect(noBacktrace(() => t.sum(7)).message).toMatch(/Dimension out of range/);
    expect(noBacktrace(() => t.gather(1, torch.tensor([[0, 9]]))).message).toMatch(/out of bounds/);
    expect(noBacktrace(() => t.index([torch.tensor([4])])).message).toMatch(/out of bounds/);
    expect(noBacktrace(() => F.embedding(torch.tensor([10]), torch.ones([3, 2]))).message).toMatch(/out of range|index/);
    expect(noBacktrace(() => t.size(4)).message).toMatch(/out of range/);
  });

  it('wrong argument types', () => {
    const t = torch.ones([2]);
    expect(noBacktrace(() => t.add('1' as never))).toBeInstanceOf(TypeError);
    expect(noBacktrace(() => t.add([1, 2] as never)).message).toMatch(/expected a Tensor, number or boolean, got an array/);
    expect(noBacktrace(() => t.matmul(3 as never)).message).toMatch(/matmul: expected a Tensor/);
    expect(noBacktrace(() => torch.zeros(['a'] as never))).toBeInstanceOf(TypeError);
    expect(noBacktrace(() => torch.zeros([1.5]))).toBeInstanceOf(TypeError);
    expect(noBacktrace(() => torch.zeros([Infinity]))).toBeInstanceOf(TypeError);
    expect(noBacktrace(() => t.view([NaN]))).toBeInstanceOf(TypeError);
    expect(noBacktrace(() => torch.tensor([[1, 2], [3]])).message).toMatch(/ragged nested array at \[1\]/);
    expect(noBacktrace(() => torch.tensor([1, 'x'] as never)).message).toMatch(/element \[1\] must be a number/);
    expect(noBacktrace(() => torch.cat([t, 5 as never])).message).toMatch(/element 1 is not a Tensor/);
    expect(noBacktrace(() => torch.exp(null as never))).toBeInstanceOf(TypeError);
    expect(noBacktrace(() => torch.manualSeed(-1)).message).toMatch(/non-negative integer/);
    expect(noBacktrace(() => torch.setNumThreads(0)).message).toMatch(/at least 1/);
  });

  it('out of memory is a JS error naming the allocation', () => {
    const e = noBacktrace(() => torch.empty([1 << 30, 1 << 12]));
    expect(e.message).toMatch(/can't allocate memory: you tried to allocate 17592186044416 bytes/);
  });

  it('use after dispose', () => {
    const t = torch.ones([2]);
    const u = torch.ones([2]);
    t.dispose();
    expect(noBacktrace(() => t.add(1)).message).toBe('Tensor has been disposed');
    expect(noBacktrace(() => u.add(t)).message).toBe('Tensor has been disposed');
    expect(noBacktrace(() => t.shape).message).toBe('Tensor has been disposed');
    expect(noBacktrace(() => t.item()).message).toBe('Tensor has been disposed');
    expect(t.isDisposed).toBe(true);
    expect(String(t)).toBe('tensor(<disposed>)');
  });

  it('autograd misuse', () => {
    const leaf = torch.ones([2], { requiresGrad: true });
    expect(noBacktrace(() => leaf.add_(1)).message).toMatch(/leaf Variable that requires grad/);
    expect(noBacktrace(() => leaf.mul(2).backward()).message).toMatch(/grad can be implicitly created only for scalar outputs/);
    const y = leaf.mul(leaf).sum(); // saves its inputs, freed after the first backward
    y.backward();
    expect(noBacktrace(() => y.backward()).message).toMatch(/backward through the graph a second time/);
    expect(noBacktrace(() => (leaf.grad = torch.ones([3]))).message).toMatch(/different size/);
    expect(noBacktrace(() => (leaf.grad = torch.ones([2], { dtype: 'float64' }))).message).toMatch(/different type/);
  });

  it('a randomized barrage of wrong calls never kills the process and leaks nothing', () => {
    torch.manualSeed(0);
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const disposed = torch.ones([2]);
    disposed.dispose();
    const pool: Tensor[] = [
      torch.randn([2, 3]),
      torch.randn([3]),
      torch.ones([1]),
      torch.tensor([0, 2, 1]),
      torch.tensor([true, false]),
      torch.randn([2, 3, 4], { dtype: 'float64' }),
      torch.zeros([0]),
      torch.tensor(3.5),
      torch.randn([4, 4], { requiresGrad: true }),
      torch.ones([2], { dtype: 'float16' }),
      torch.ones([3], { dtype: 'int32' }),
    ];
    const values: unknown[] = [
      ...pool,
      disposed,
      0,
      1,
      -1,
      2,
      7,
      -5,
      1.5,
      NaN,
      Infinity,
      -Infinity,
      2 ** 53 + 2,
      1e300,
      true,
      false,
      null,
      undefined,
      'x',
      'float32',
      'cuda:99',
      [],
      [1],
      [2, 3],
      [-1],
      [1.5],
      ['a'],
      [null],
      {},
      { dtype: 'int64' },
      () => 1,
      Symbol('s'),
      10n,
    ];
    const methods = [
      'add',
      'sub',
      'mul',
      'div',
      'pow',
      'eq',
      'lt',
      'maximum',
      'where',
      'clamp',
      'sum',
      'mean',
      'var',
      'std',
      'max',
      'min',
      'argmax',
      'logsumexp',
      'matmul',
      'bmm',
      'softmax',
      'logSoftmax',
      'view',
      'reshape',
      'permute',
      'transpose',
      'unsqueeze',
      'squeeze',
      'flatten',
      'expand',
      'repeat',
      'split',
      'chunk',
      'narrow',
      'select',
      'slice',
      'index',
      'indexSelect',
      'gather',
      'scatter',
      'scatterAdd',
      'maskedFill',
      'tril',
      'triu',
      'cumsum',
      'topk',
      'sort',
      'multinomial',
      'copy_',
      'fill_',
      'add_',
      'mul_',
      'clamp_',
      'maskedFill_',
      'to',
      'backward',
      'gelu',
      'exp',
      'item',
      'tolist',
      'norm',
      'flip',
      'indexPut_',
    ] as const;
    const fns = [
      () => torch.zeros(pick(values) as never, pick(values) as never),
      () => torch.full(pick(values) as never, pick(values) as never),
      () => torch.arange(pick(values) as never, pick(values) as never),
      () => torch.randint(pick(values) as never, pick(values) as never, pick(values) as never),
      () => torch.tensor(pick(values) as never, pick(values) as never),
      () => torch.cat(pick(values) as never, pick(values) as never),
      () => torch.stack([pick(pool), pick(values)] as never),
      () => F.linear(pick(values) as never, pick(values) as never, pick(values) as never),
      () => F.crossEntropy(pick(values) as never, pick(values) as never),
      () => F.layerNorm(pick(values) as never, pick(values) as never),
      () => F.embedding(pick(values) as never, pick(values) as never),
      () => F.scaledDotProductAttention(pick(values) as never, pick(values) as never, pick(values) as never),
      () => torch.nn.utils.clipGradNorm(pick(values) as never, pick(values) as never),
    ];
    const base = liveMemory();
    let errors = 0;
    for (let i = 0; i < 5000; i++) {
      torch.tidy(() => {
        try {
          if (rnd() < 0.3) pick(fns)();
          else {
            const t = pick(pool);
            const m = pick(methods);
            const args = Array.from({ length: Math.floor(rnd() * 4) }, () => pick(values));
            (t[m] as (...a: unknown[]) => unknown)(...args);
          }
        } catch (e) {
          if (!(e instanceof Error)) throw new Error(`a non-Error was thrown: ${String(e)}`);
          errors++;
        }
      });
    }
    expect(errors).toBeGreaterThan(2500);
    expect(liveMemory()).toEqual(base);
    torch.dispose(pool);
  });
});
