// The decode-step kernel (native/skinny_matmul.h), which reads each weight in its own layout
// without a packed copy, against libtorch's product: every row count 1..16, widths and depths
// that leave partial vectors and blocks, both layouts, with and without a bias, on one thread
// and split across threads.
import { afterAll, describe, expect, it } from 'vitest';
import { N } from '../src/native.js';
import { torch, Tensor } from '../src/index.js';
import { expectClose } from './helpers.js';

const threads = torch.getNumThreads();
afterAll(() => torch.setNumThreads(threads));

function skinny(x: Tensor, weight: Tensor, inOut: boolean, bias?: Tensor): Tensor {
  return new Tensor(N.skinnyMatmul({ x: x.handle, weight: weight.handle, bias: bias?.handle, inOut }));
}

describe('skinny products read the weights in place', () => {
  // N: under one vector, odd, a multiple of 24 and 4 plus a remainder, one wider than a 256-column
  // block; K: under one vector, odd, one not a multiple of 4.
  const shapes: [number, number][] = [
    [5, 3],
    [37, 19],
    [48, 64],
    [263, 30],
    [301, 77],
  ];
  for (const inOut of [false, true]) {
    it.each(shapes)(`${inOut ? '(in, out)' : '(out, in)'} weights, N=%i K=%i, every M from 1 to 16`, (n, k) => {
      torch.manualSeed(n * 100 + k);
      const w = inOut ? torch.randn([k, n]) : torch.randn([n, k]);
      const bias = torch.randn([n]);
      for (let m = 1; m <= 16; m++) {
        torch.tidy(() => {
          const x = torch.randn([m, k]);
          const plain = inOut ? x.matmul(w) : x.matmul(w.t());
          expectClose(skinny(x, w, inOut), plain, 1e-4, 1e-5);
          expectClose(skinny(x, w, inOut, bias), plain.add(bias), 1e-4, 1e-5);
        });
      }
      torch.dispose([w, bias]);
    });
  }

  it.each([false, true])('splits the columns over threads with the same results (inOut %s)', (inOut) => {
    // Wide enough that each of two threads gets a share (a task streams at least 256 KiB).
    torch.manualSeed(3);
    const [n, k] = [8003, 45];
    const w = inOut ? torch.randn([k, n]) : torch.randn([n, k]);
    const x = torch.randn([7, k]);
    torch.setNumThreads(1);
    const one = skinny(x, w, inOut);
    torch.setNumThreads(2);
    const two = skinny(x, w, inOut);
    torch.setNumThreads(threads);
    expect(two.sub(one).abs().max().item()).toBe(0);
    expectClose(two, inOut ? x.matmul(w) : x.matmul(w.t()), 1e-4, 1e-5);
    torch.dispose([w, x, one, two]);
  });

  it('refuses what it does not take: more than 16 rows, a non-contiguous weight', () => {
    const w = torch.randn([8, 4]);
    expect(() => skinny(torch.randn([17, 4]), w, false)).toThrow(/M ≤ 16/);
    expect(() => skinny(torch.randn([2, 8]), w.t(), false)).toThrow(/contiguous float32/);
    w.dispose();
  });
});
