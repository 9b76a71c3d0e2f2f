// What a bad-input probe found (issue 13): inputs that killed the process, hung it or made
// it creep now give JS errors, return promptly and keep memory flat. Each case failed (or
// crashed the worker) before its fix.
import { describe, it, expect } from 'vitest';
import { torch, F, GPT } from '../src/index.js';
import { liveMemory } from './helpers.js';

// biome-ignore lint/correctness/noPrecisionLoss: -2^63 is exact as a double; the literal says which value it is.
const INT64_MIN = -9223372036854775808; // -2^63, exact as a double
const INT32_MIN = -2147483648;

describe('integer division never traps (SIGFPE)', () => {
  it('a rounded quotient of the minimum by -1 is an overflow error, for int64 and int32, tensor or scalar divisor', () => {
    for (const [dtype, min] of [
      ['int64', INT64_MIN],
      ['int32', INT32_MIN],
    ] as const) {
      const x = torch.tensor([min, 5], { dtype });
      for (const mode of ['trunc', 'floor'] as const) {
        expect(() => x.div(-1, mode)).toThrow(/div: integer overflow: -\d+ \/ -1 does not fit/);
        expect(() => x.div(torch.tensor([-1, 1], { dtype }), mode)).toThrow(/integer overflow/);
        expect(() => x.div(torch.tensor(-1, { dtype: 'int64' }), mode)).toThrow(/integer overflow/);
      }
      // Fine elsewhere: -1 against other values, the minimum against other divisors.
      expect(x.div(torch.tensor([1, -1], { dtype }), 'trunc').tolist()).toEqual([min, -5]);
      expect(torch.tensor([7, -7], { dtype }).div(-1, 'floor').tolist()).toEqual([-7, 7]);
      x.dispose();
    }
    // True division is floating point: no trap, no error.
    // biome-ignore lint/correctness/noPrecisionLoss: 2^63, exact as a double.
    expect(torch.tensor([INT64_MIN], { dtype: 'int64' }).div(-1).tolist()).toEqual([9223372036854775808]);
  });

  it('remainder and fmod by -1 are 0, as mathematics says', () => {
    for (const [dtype, min] of [
      ['int64', INT64_MIN],
      ['int32', INT32_MIN],
    ] as const) {
      const x = torch.tensor([min, 5, -3], { dtype });
      expect(x.remainder(-1).tolist()).toEqual([0, 0, 0]);
      expect(x.fmod(-1).tolist()).toEqual([0, 0, 0]);
      expect(x.remainder(torch.tensor([-1, -1, 2], { dtype })).tolist()).toEqual([0, 0, 1]);
      expect(x.fmod(torch.tensor([-1, 3, 2], { dtype })).tolist()).toEqual([0, 2, -1]);
    }
    expect(() => torch.tensor([4], { dtype: 'int64' }).remainder(0)).toThrow(/ZeroDivisionError|division by zero/i);
  });
});

describe('printing and listing huge empty tensors', () => {
  it('String(), inspect and error messages summarise instead of building 1e8 arrays', () => {
    const t = torch.zeros([1e4, 1e4, 0]);
    const t0 = performance.now();
    expect(String(t)).toBe('tensor(<10000×10000×0>, dtype=float32)');
    expect(performance.now() - t0).toBeLessThan(5_000); // generous: it took minutes and then aborted
    expect(() => t.tolist()).toThrow(/tolist: a tensor of shape \[10000, 10000, 0\] would make 1\.00e\+8 JS arrays/);
    expect(String(torch.zeros([2, 0]))).toBe('tensor([[],[]], dtype=float32)');
    expect(torch.zeros([3, 0]).tolist()).toEqual([[], [], []]);
    t.dispose();
  });
});

describe('views share their storage in the accounts', () => {
  it('split(1) of 1e5 elements counts 400 KB once, not 1e5 times', () => {
    const base = liveMemory();
    const x = torch.zeros([1e5]);
    const parts = x.split(1);
    const m = liveMemory();
    expect(m.tensors - base.tensors).toBe(1e5 + 1);
    expect(m.bytes - base.bytes).toBe(4e5);
    torch.dispose(parts);
    expect(torch.memory().bytes - base.bytes).toBe(4e5); // x still holds it
    x.dispose();
    expect(liveMemory()).toEqual(base);
  });

  it('the storage stays counted until its last handle goes, in any order', () => {
    const base = liveMemory();
    const x = torch.zeros([10], { dtype: 'float64' });
    const v = x.view([2, 5]);
    const s = v.select(0, 1);
    x.dispose();
    expect(torch.memory().bytes - base.bytes).toBe(80);
    v.dispose();
    expect(torch.memory().bytes - base.bytes).toBe(80);
    expect(s.tolist()).toEqual([0, 0, 0, 0, 0]);
    s.dispose();
    expect(liveMemory()).toEqual(base);
  });
});

describe('thread counts', () => {
  it('setNumThreads refuses more than 4 threads per core, and non-positive counts', () => {
    const before = torch.getNumThreads();
    expect(() => torch.setNumThreads(5000)).toThrow(/setNumThreads: 5000 threads is more than 4 per CPU core/);
    expect(() => torch.setNumThreads(0)).toThrow(/at least 1/);
    expect(torch.getNumThreads()).toBe(before);
  });
});

describe('the native GPT forward', () => {
  const gpt = GPT.create({ vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 });
  it('an empty batch or sequence gives empty outputs, as the module forward does', () => {
    for (const shape of [
      [0, 4],
      [2, 0],
    ]) {
      const ids = torch.zeros(shape, { dtype: 'int64' });
      const { logits, hiddenStates } = torch.noGrad(() => gpt.forward(ids, { path: 'native' }));
      const js = torch.noGrad(() => gpt.forward(ids, { path: 'modules' }).logits);
      expect(logits.shape).toEqual(js.shape);
      expect(hiddenStates.shape).toEqual([...shape, 8]);
      torch.dispose([ids, logits, hiddenStates, js]);
    }
  });
  it('floating token ids are refused, not truncated', () => {
    expect(() => torch.noGrad(() => gpt.forward(torch.tensor([[1.5, 2]]), { path: 'native' }))).toThrow(
      /input ids must be an integer tensor \(int64\), got Float/,
    );
  });
});

describe('torch.nn.functional arguments', () => {
  it('non-tensors give a TypeError naming the function', () => {
    expect(() => F.relu(3 as never)).toThrow(/^relu: expected a Tensor, got number$/);
    expect(() => F.gelu(null as never)).toThrow(/gelu: expected a Tensor, got null/);
    expect(() => F.sigmoid(undefined as never)).toThrow(/sigmoid: expected a Tensor, got undefined/);
    expect(() => F.logsigmoid('x' as never)).toThrow(/logsigmoid: expected a Tensor, got string/);
    expect(() => F.softmax({} as never, 0)).toThrow(/softmax: expected a Tensor, got object/);
    expect(() => F.logSoftmax([] as never, 0)).toThrow(/logSoftmax: expected a Tensor/);
  });
});
