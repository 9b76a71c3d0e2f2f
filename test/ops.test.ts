// Op-by-op values against hand-computed results (PyTorch semantics).
import { describe, it, expect } from 'vitest';
import { torch, F, type Tensor } from '../src/index.js';
import { expectClose } from './helpers.js';

const t = torch.tensor;
/** A float32 tensor from numbers that may all be integral. */
const f32 = (x: Parameters<typeof torch.tensor>[0]): Tensor => torch.tensor(x, { dtype: 'float32' });
const E = Math.E;

describe('creation', () => {
  it('infers dtype from nested arrays: int64, float32, bool', () => {
    const a = t([
      [1, 2],
      [3, 4],
    ]);
    expect(a.dtype).toBe('int64');
    expect(a.shape).toEqual([2, 2]);
    expect(a.tolist()).toEqual([
      [1, 2],
      [3, 4],
    ]);

    const b = t([1.5, 2]);
    expect(b.dtype).toBe('float32');
    expect(b.tolist()).toEqual([1.5, 2]);

    const c = t([
      [true, false],
      [false, true],
    ]);
    expect(c.dtype).toBe('bool');
    expect(c.tolist()).toEqual([
      [true, false],
      [false, true],
    ]);

    const mixed = t([true, 2]); // bools count as integers among numbers, as in PyTorch
    expect(mixed.dtype).toBe('int64');
    expect(mixed.tolist()).toEqual([1, 2]);

    const s = t(3);
    expect(s.shape).toEqual([]);
    expect(s.dtype).toBe('int64');
    expect(t(2.5).dtype).toBe('float32');
    expect(t(true).dtype).toBe('bool');

    const e = t([]);
    expect(e.shape).toEqual([0]);
    expect(e.dtype).toBe('float32');
  });

  it('takes an explicit dtype and requiresGrad', () => {
    const a = t([1, 2], { dtype: 'float64' });
    expect(a.dtype).toBe('float64');
    expect(a.tolist()).toEqual([1, 2]);
    const b = t([1.5, 2.5], { requiresGrad: true });
    expect(b.requiresGrad).toBe(true);
    expect(b.isLeaf).toBe(true);
    expect(t([1, 0, 3], { dtype: 'bool' }).tolist()).toEqual([true, false, true]);
  });

  it('rejects ragged arrays and non-numbers', () => {
    expect(() => t([[1, 2], [3]])).toThrow(TypeError);
    expect(() => t(['a' as unknown as number])).toThrow(TypeError);
  });

  it('creates from typed arrays with their dtype', () => {
    const f = t(new Float32Array([1, 2.5]));
    expect(f.dtype).toBe('float32');
    expect(f.tolist()).toEqual([1, 2.5]);
    expect(t(new Float64Array([0.1])).dtype).toBe('float64');
    expect(t(new Float64Array([0.1])).item()).toBe(0.1);
    const i32 = t(new Int32Array([7, -8]));
    expect(i32.dtype).toBe('int32');
    expect(i32.tolist()).toEqual([7, -8]);
    const i64 = t(BigInt64Array.from([1n, -2n, 3n]));
    expect(i64.dtype).toBe('int64');
    expect(i64.tolist()).toEqual([1, -2, 3]);
    expect(t(new Uint8Array([1, 255])).dtype).toBe('uint8');
    expect(t(new Uint8Array([1, 255])).tolist()).toEqual([1, 255]);
    const conv = t(new Float32Array([1.5, -2.5]), { dtype: 'float64' });
    expect(conv.dtype).toBe('float64');
    expect(conv.tolist()).toEqual([1.5, -2.5]);
  });

  it('zeros, ones, full, empty', () => {
    const z = torch.zeros([2, 3]);
    expect(z.dtype).toBe('float32');
    expect(z.tolist()).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
    const o = torch.ones(3);
    expect(o.shape).toEqual([3]);
    expect(o.tolist()).toEqual([1, 1, 1]);
    expect(torch.ones([2], { dtype: 'int64' }).dtype).toBe('int64');
    expect(torch.zeros([2], { dtype: 'bool' }).tolist()).toEqual([false, false]);

    const fi = torch.full([2, 2], 7);
    expect(fi.dtype).toBe('int64');
    expect(fi.tolist()).toEqual([
      [7, 7],
      [7, 7],
    ]);
    const ff = torch.full([2], 2.5);
    expect(ff.dtype).toBe('float32');
    expect(ff.tolist()).toEqual([2.5, 2.5]);
    const fb = torch.full([2], true);
    expect(fb.dtype).toBe('bool');
    expect(fb.tolist()).toEqual([true, true]);
    expect(torch.full([1], 3, { dtype: 'float64' }).dtype).toBe('float64');

    const e = torch.empty([2, 3]);
    expect(e.shape).toEqual([2, 3]);
    expect(e.dtype).toBe('float32');
    expect(e.numel()).toBe(6);
    expect(torch.empty([4], { dtype: 'int32' }).dtype).toBe('int32');
    expect(torch.empty([0, 3]).numel()).toBe(0);
  });

  it('arange', () => {
    const a = torch.arange(5);
    expect(a.dtype).toBe('int64');
    expect(a.tolist()).toEqual([0, 1, 2, 3, 4]);
    expect(torch.arange(2, 8, 3).tolist()).toEqual([2, 5]);
    expect(torch.arange(5, 0, -2).tolist()).toEqual([5, 3, 1]);
    const f = torch.arange(1, 2.5, 0.5);
    expect(f.dtype).toBe('float32');
    expect(f.tolist()).toEqual([1, 1.5, 2]);
    const d = torch.arange(3, { dtype: 'float64' });
    expect(d.dtype).toBe('float64');
    expect(d.tolist()).toEqual([0, 1, 2]);
    expect(torch.arange(0, 3, { dtype: 'float32' }).dtype).toBe('float32');
    expect(() => torch.arange(0, 3, 0)).toThrow(RangeError);
  });

  it('eye', () => {
    expect(torch.eye(3).tolist()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    expect(torch.eye(3).dtype).toBe('float32');
    expect(torch.eye(2, 3).tolist()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
    ]);
    const i = torch.eye(2, { dtype: 'int64' });
    expect(i.dtype).toBe('int64');
    expect(i.tolist()).toEqual([
      [1, 0],
      [0, 1],
    ]);
  });

  it('rand, randn, randint: ranges and shapes', () => {
    torch.manualSeed(0);
    const r = torch.rand([4000]);
    expect(r.dtype).toBe('float32');
    expect(r.shape).toEqual([4000]);
    expect(r.min().item()).toBeGreaterThanOrEqual(0);
    expect(r.max().item()).toBeLessThan(1);
    expect(Math.abs(r.mean().item() - 0.5)).toBeLessThan(0.03);
    expect(torch.rand([2, 3]).shape).toEqual([2, 3]);
    expect(torch.rand([2], { dtype: 'float64' }).dtype).toBe('float64');

    const n = torch.randn([4000]);
    expect(n.shape).toEqual([4000]);
    expect(Math.abs(n.mean().item())).toBeLessThan(0.1);
    expect(Math.abs(n.std().item() - 1)).toBeLessThan(0.1);
    expect(n.min().item()).toBeLessThan(0);

    const i = torch.randint(10, [1000]);
    expect(i.dtype).toBe('int64');
    expect(i.shape).toEqual([1000]);
    const vals = i.tolist() as number[];
    expect(Math.min(...vals)).toBe(0);
    expect(Math.max(...vals)).toBe(9);
    expect(new Set(vals).size).toBe(10);
    expect(vals.every(Number.isInteger)).toBe(true);

    const j = torch.randint(5, 8, [2, 100]);
    expect(j.shape).toEqual([2, 100]);
    const jv = (j.tolist() as number[][]).flat();
    expect(new Set(jv)).toEqual(new Set([5, 6, 7]));
    expect(torch.randint(3, [4], { dtype: 'int32' }).dtype).toBe('int32');
    expect(() => torch.randint(3, 3, [2])).toThrow(RangeError);
  });

  it('manualSeed makes random draws reproducible', () => {
    torch.manualSeed(123);
    const a = torch.rand([6]);
    const b = torch.randn([6]);
    const c = torch.randint(0, 100, [6]);
    const next = torch.rand([6]);
    torch.manualSeed(123);
    const a2 = torch.rand([6]);
    const b2 = torch.randn([6]);
    const c2 = torch.randint(0, 100, [6]);
    expect(a.equal(a2)).toBe(true);
    expect(b.equal(b2)).toBe(true);
    expect(c.equal(c2)).toBe(true);
    expect(a.equal(next)).toBe(false);
    torch.manualSeed(124);
    expect(torch.rand([6]).equal(a)).toBe(false);
  });

  it('zerosLike, onesLike', () => {
    const x = t([
      [1.5, 2],
      [3, 4],
      [5, 6],
    ]);
    const z = torch.zerosLike(x);
    expect(z.shape).toEqual([3, 2]);
    expect(z.dtype).toBe('float32');
    expect(z.tolist()).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    const o = torch.onesLike(t([1, 2]));
    expect(o.dtype).toBe('int64');
    expect(o.tolist()).toEqual([1, 1]);
    const od = torch.onesLike(x, { dtype: 'float64' });
    expect(od.dtype).toBe('float64');
    expect(od.shape).toEqual([3, 2]);
  });

  it('to(dtype / device)', () => {
    const x = t([1.7, -1.7, 0]);
    const l = x.to('int64');
    expect(l.dtype).toBe('int64');
    expect(l.tolist()).toEqual([1, -1, 0]); // truncation toward zero
    expect(x.to('float64').dtype).toBe('float64');
    expect(x.to('bool').tolist()).toEqual([true, true, false]);
    const c = x.to('cpu');
    expect(c.device).toBe('cpu');
    expect(c.dtype).toBe('float32');
    const both = x.to({ dtype: 'int32', device: 'cpu' });
    expect(both.dtype).toBe('int32');
    expect(both.device).toBe('cpu');
    expect(x.double().dtype).toBe('float64');
    expect(x.long().dtype).toBe('int64');
    expect(t([1, 2]).float().dtype).toBe('float32');
    expect(x.half().dtype).toBe('float16');
    expect(x.bfloat16().dtype).toBe('bfloat16');
    // a copy with copy: true does not share storage
    const cp = x.to({ dtype: 'float32', copy: true });
    cp.fill_(9);
    expect(x.tolist()).toEqual([1.7000000476837158, -1.7000000476837158, 0]);
  });
});

describe('reading', () => {
  it('shape, dtype, device, ndim, numel, size', () => {
    const x = torch.zeros([2, 3, 4]);
    expect(x.shape).toEqual([2, 3, 4]);
    expect(x.ndim).toBe(3);
    expect(x.numel()).toBe(24);
    expect(x.dtype).toBe('float32');
    expect(x.device).toBe('cpu');
    expect(x.size()).toEqual([2, 3, 4]);
    expect(x.size(-1)).toBe(4);
    expect(() => x.size(3)).toThrow(RangeError);
  });

  it('item', () => {
    expect(t(2.5).item()).toBe(2.5);
    expect(t([7]).item()).toBe(7);
    expect(t([[2 ** 40]]).item()).toBe(2 ** 40);
    expect(t(true).item()).toBe(true);
    expect(t(false).item()).toBe(false);
    expect(() => t([1, 2]).item()).toThrow(Error);
  });

  it('tolist: nested, 0-d, bool', () => {
    expect(torch.arange(6).view(1, 2, 3).tolist()).toEqual([
      [
        [0, 1, 2],
        [3, 4, 5],
      ],
    ]);
    expect(t(4).tolist()).toBe(4);
    expect(t(1.25).tolist()).toBe(1.25);
    expect(t(true).tolist()).toBe(true);
    expect(t([[true], [false]]).tolist()).toEqual([[true], [false]]);
    expect(torch.zeros([2, 0]).tolist()).toEqual([[], []]);
    // a non-contiguous view reads in logical order
    expect(torch.arange(6).view(2, 3).t().tolist()).toEqual([
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
  });

  it('toTypedArray types', () => {
    const f32a = t([1.5, 2]).toTypedArray();
    expect(f32a).toBeInstanceOf(Float32Array);
    expect(Array.from(f32a as Float32Array)).toEqual([1.5, 2]);
    expect(t([0.5], { dtype: 'float64' }).toTypedArray()).toBeInstanceOf(Float64Array);
    const i32 = t([3, -4], { dtype: 'int32' }).toTypedArray();
    expect(i32).toBeInstanceOf(Int32Array);
    expect(Array.from(i32 as Int32Array)).toEqual([3, -4]);

    const h = t([0.1, 1.5], { dtype: 'float16' }).toTypedArray();
    expect(h).toBeInstanceOf(Float32Array);
    expect(Array.from(h as Float32Array)).toEqual([0.0999755859375, 1.5]);
    const bf = t([0.1, 1.5], { dtype: 'bfloat16' }).toTypedArray();
    expect(bf).toBeInstanceOf(Float32Array);
    expect(Array.from(bf as Float32Array)).toEqual([0.10009765625, 1.5]);

    const l = t([1, -2, 2 ** 40]).toTypedArray();
    expect(l).toBeInstanceOf(BigInt64Array);
    expect(Array.from(l as BigInt64Array)).toEqual([1n, -2n, 2n ** 40n]);

    const b = t([true, false, true]).toTypedArray();
    expect(b).toBeInstanceOf(Uint8Array);
    expect(Array.from(b as Uint8Array)).toEqual([1, 0, 1]);

    // non-contiguous input is read in logical order
    expect(Array.from(torch.arange(4).view(2, 2).t().toTypedArray() as BigInt64Array)).toEqual([0n, 2n, 1n, 3n]);
  });
});

describe('arithmetic', () => {
  it('add (with alpha), sub, mul, div', () => {
    const a = f32([1, 2, 3]);
    const b = f32([10, 20, 30]);
    expectClose(a.add(b), [11, 22, 33]);
    expectClose(a.add(b, 2), [21, 42, 63]);
    expectClose(a.add(0.5), [1.5, 2.5, 3.5]);
    expectClose(b.sub(a), [9, 18, 27]);
    expectClose(b.sub(a, 3), [7, 14, 21]);
    expectClose(a.sub(1), [0, 1, 2]);
    expectClose(a.mul(b), [10, 40, 90]);
    expectClose(a.mul(-2), [-2, -4, -6]);
    expectClose(a.div(f32([2, 4, 8])), [0.5, 0.5, 0.375]);
    expectClose(a.div(4), [0.25, 0.5, 0.75]);
    expectClose(torch.add(a, b), [11, 22, 33]);
    expectClose(torch.sub(a, b, 1), [-9, -18, -27]);
    expectClose(torch.mul(a, 3), [3, 6, 9]);
    expectClose(torch.div(b, a), [10, 10, 10]);
    const z = f32([1, -1, 0]).div(0).tolist() as number[];
    expect(z[0]).toBe(Infinity);
    expect(z[1]).toBe(-Infinity);
    expect(Number.isNaN(z[2])).toBe(true);
  });

  it('div rounding modes', () => {
    const i = t([7, -7]);
    const tr = i.div(2, 'trunc');
    expect(tr.dtype).toBe('int64');
    expect(tr.tolist()).toEqual([3, -3]);
    const fl = i.div(2, 'floor');
    expect(fl.dtype).toBe('int64');
    expect(fl.tolist()).toEqual([3, -4]);
    const tt = i.div(t([2, 2]), 'floor');
    expect(tt.tolist()).toEqual([3, -4]);
    const f = t([7.5, -7.5]);
    expect(f.div(2, 'trunc').tolist()).toEqual([3, -3]);
    expect(f.div(2, 'floor').tolist()).toEqual([3, -4]);
    expect(f.div(2, 'floor').dtype).toBe('float32');
    const plain = i.div(2);
    expect(plain.dtype).toBe('float32');
    expect(plain.tolist()).toEqual([3.5, -3.5]);
  });

  it('pow', () => {
    const p = t([1, 2, 3]).pow(2);
    expect(p.dtype).toBe('int64');
    expect(p.tolist()).toEqual([1, 4, 9]);
    expect(
      t([2, 3])
        .pow(t([3, 2]))
        .tolist(),
    ).toEqual([8, 9]);
    expectClose(f32([4, 9, 2.25]).pow(0.5), [2, 3, 1.5]);
    expectClose(f32([2, 4]).pow(-1), [0.5, 0.25]);
    const ip = t([4, 9]).pow(0.5);
    expect(ip.dtype).toBe('float32');
    expectClose(ip, [2, 3]);
    expectClose(torch.pow(f32([3]), 3), [27]);
  });

  it('remainder (Python sign convention)', () => {
    const r = t([-3, 3, 5]).remainder(2);
    expect(r.dtype).toBe('int64');
    expect(r.tolist()).toEqual([1, 1, 1]);
    expect(t([-3, 3, 5]).remainder(-2).tolist()).toEqual([-1, -1, -1]);
    expectClose(t([-3.5, 3.5]).remainder(2), [0.5, 1.5]);
    expect(
      t([7, 8])
        .remainder(t([4, 3]))
        .tolist(),
    ).toEqual([3, 2]);
  });

  it('broadcasting', () => {
    const col = t([[0], [10], [20]]);
    const row = t([[1, 2, 3, 4]]);
    const s = col.add(row);
    expect(s.shape).toEqual([3, 4]);
    expect(s.tolist()).toEqual([
      [1, 2, 3, 4],
      [11, 12, 13, 14],
      [21, 22, 23, 24],
    ]);
    expect(col.mul(row).tolist()).toEqual([
      [0, 0, 0, 0],
      [10, 20, 30, 40],
      [20, 40, 60, 80],
    ]);
    // [2,3] with [3]
    expect(
      torch
        .arange(6)
        .view(2, 3)
        .sub(t([1, 1, 1]))
        .tolist(),
    ).toEqual([
      [-1, 0, 1],
      [2, 3, 4],
    ]);
    // 0-d tensor with a vector
    expect(t([1, 2, 3]).mul(t(2)).tolist()).toEqual([2, 4, 6]);
    // [2,1,3] with [4,1]
    expect(torch.zeros([2, 1, 3]).add(torch.zeros([4, 1])).shape).toEqual([2, 4, 3]);
    expect(() => torch.zeros([2, 3]).add(torch.zeros([4]))).toThrow(Error);
  });

  it('rejects non-tensor operands with a TypeError', () => {
    expect(() => t([1]).add('1' as unknown as number)).toThrow(TypeError);
    expect(() => t([1]).add([1] as unknown as number)).toThrow(TypeError);
  });
});

describe('dtype promotion (as PyTorch)', () => {
  it('scalars', () => {
    expect(t([1, 2]).add(1).dtype).toBe('int64');
    const f = t([1, 2]).add(1.5);
    expect(f.dtype).toBe('float32');
    expect(f.tolist()).toEqual([2.5, 3.5]);
    expect(t([1, 2], { dtype: 'int32' }).add(1).dtype).toBe('int32');
    expect(t([1.5], { dtype: 'float16' }).mul(2.5).dtype).toBe('float16');
    expect(t([1.5], { dtype: 'float64' }).mul(2).dtype).toBe('float64');
    expect(t([true]).add(1).dtype).toBe('int64');
    expect(t([true]).add(1.5).dtype).toBe('float32');
  });

  it('tensors', () => {
    expect(t([1, 2]).add(t([0.5, 0.5])).dtype).toBe('float32');
    expect(t([1.5]).add(t([1.5], { dtype: 'float64' })).dtype).toBe('float64');
    expect(t([1], { dtype: 'int32' }).add(t([1])).dtype).toBe('int64');
    expect(t([1.5], { dtype: 'float16' }).add(t([1.5])).dtype).toBe('float32');
    // a 0-d tensor of the same category does not promote
    expect(t([1.5]).add(t(1.5, { dtype: 'float64' })).dtype).toBe('float32');
    // a 0-d tensor of a higher category does
    expect(t([1]).add(t(1.5, { dtype: 'float64' })).dtype).toBe('float64');
  });

  it('bool + bool stays bool (logical or)', () => {
    const s = t([true, false, false]).add(t([true, true, false]));
    expect(s.dtype).toBe('bool');
    expect(s.tolist()).toEqual([true, true, false]);
  });

  it('comparisons give bool, int division gives float32, int sums give int64', () => {
    expect(t([1, 2]).lt(2).dtype).toBe('bool');
    expect(t([1.5]).eq(t([1.5])).dtype).toBe('bool');
    expect(t([3, 4]).div(t([2, 2])).dtype).toBe('float32');
    expect(t([1], { dtype: 'int32' }).div(2).dtype).toBe('float32');
    const si = t([1, 2, 3], { dtype: 'int32' }).sum();
    expect(si.dtype).toBe('int64');
    expect(si.item()).toBe(6);
    const sb = t([true, true, false]).sum();
    expect(sb.dtype).toBe('int64');
    expect(sb.item()).toBe(2);
    expect(t([1, 2]).sum().dtype).toBe('int64');
    expect(t([1.5]).sum().dtype).toBe('float32');
    expect(t([1, 2]).sum(null, false, { dtype: 'float64' }).dtype).toBe('float64');
    expect(t([1, 2], { dtype: 'int32' }).cumsum(0).dtype).toBe('int64');
  });
});

describe('elementwise functions', () => {
  const x = () => f32([-1, 0, 1, 2]);

  it('exp, log, sqrt, rsqrt', () => {
    expectClose(x().exp(), [1 / E, 1, E, E * E]);
    expectClose(f32([1, E, 4]).log(), [0, 1, Math.log(4)]);
    expect(f32([0]).log().item()).toBe(-Infinity);
    expect(f32([-1]).log().isnan().item()).toBe(true);
    expectClose(f32([0, 4, 2.25]).sqrt(), [0, 2, 1.5]);
    expectClose(f32([4, 0.25]).rsqrt(), [0.5, 2]);
    expectClose(torch.exp(f32([0])), [1]);
    expectClose(torch.sqrt(f32([16])), [4]);
    const is = t([4, 9]).sqrt();
    expect(is.dtype).toBe('float32');
    expectClose(is, [2, 3]);
  });

  it('tanh, sigmoid, relu', () => {
    expectClose(x().tanh(), [-0.76159416, 0, 0.76159416, 0.96402758]);
    expectClose(x().sigmoid(), [0.26894142, 0.5, 0.73105858, 0.88079708]);
    expectClose(x().relu(), [0, 0, 1, 2]);
    expect(t([-2, 3]).relu().tolist()).toEqual([0, 3]);
    expectClose(F.relu(x()), [0, 0, 1, 2]);
    expectClose(F.sigmoid(f32([0])), [0.5]);
  });

  it("gelu 'none' and 'tanh'", () => {
    // x Φ(x): Φ(-1) = 0.15865525, Φ(1) = 0.84134475, Φ(2) = 0.97724987
    expectClose(x().gelu(), [-0.15865525, 0, 0.84134475, 1.95449974]);
    expectClose(x().gelu('none'), [-0.15865525, 0, 0.84134475, 1.95449974]);
    // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
    const tanhGelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    expectClose(x().gelu('tanh'), [-1, 0, 1, 2].map(tanhGelu));
    expectClose(x().gelu('tanh'), [-0.15880801, 0, 0.84119199, 1.95459769]);
    expectClose(F.gelu(x(), 'tanh'), [-0.15880801, 0, 0.84119199, 1.95459769]);
    expect(() => x().gelu('bogus' as 'tanh')).toThrow(Error);
  });

  it("gelu 'tanh' on CPU float32 (a fused kernel) matches the float64 tanh formula, value and gradient", () => {
    torch.tidy(() => {
      // 10,007 points: the 8-wide loop and a scalar tail; the range reaches where σ saturates.
      const x = torch.linspace(-12, 12, 10007).requiresGrad_();
      const g = torch.randn([10007]);
      const y = x.gelu('tanh');
      y.backward(g);
      const xd = x.detach().double().requiresGrad_();
      const c = Math.sqrt(2 / Math.PI);
      const ref = xd.mul(0.5).mul(xd.pow(3).mul(0.044715).add(xd).mul(c).tanh().add(1));
      ref.backward(g.double());
      const close = (a: Tensor, b: Tensor) => a.double().sub(b).abs().sub(b.abs().mul(2e-6)).max().item();
      expect(close(y.detach(), ref.detach())).toBeLessThan(2e-6);
      expect(close(x.grad!, xd.grad!)).toBeLessThan(2e-6);
      // Non-contiguous input; saturation and special values.
      const m = torch.randn([33, 64]).t();
      expect(m.gelu('tanh').sub(m.contiguous().gelu('tanh')).abs().max().item()).toBe(0);
      expect(torch.tensor([-100, 100, 0, NaN]).gelu('tanh').tolist()).toEqual([expect.closeTo(0, 30), 100, 0, NaN]);
    });
  });

  it("gelu 'tanh' has a second derivative (double backward through libtorch's gelu_backward)", () => {
    torch.tidy(() => {
      const x = torch.tensor([-1.5, -0.3, 0.2, 1.1]).requiresGrad_();
      x.gelu('tanh').sum().backward(null, { createGraph: true });
      const d1 = x.grad!.clone(); // .grad is owned by x: keep a graph-connected copy
      x.grad = null;
      d1.sum().backward();
      // d²/dx² of ½x(1+tanh(u)), u = c(x + a x³): c(1+3ax²)sech²u·(1 − x·tanh(u)·c(1+3ax²)) + ½x·6acx·sech²u
      const c = Math.sqrt(2 / Math.PI),
        a = 0.044715;
      const second = (v: number) => {
        const u = c * (v + a * v ** 3),
          t = Math.tanh(u),
          s2 = 1 - t * t,
          du = c * (1 + 3 * a * v * v);
        return du * s2 * (1 - v * t * du) + 0.5 * v * 6 * a * c * v * s2;
      };
      expectClose(x.grad!, [-1.5, -0.3, 0.2, 1.1].map(second), 1e-4);
    });
  });

  it('clamp, abs, neg', () => {
    expectClose(x().clamp(-0.5, 1.5), [-0.5, 0, 1, 1.5]);
    expectClose(x().clamp(null, 0), [-1, 0, 0, 0]);
    expectClose(x().clamp(0), [0, 0, 1, 2]);
    expectClose(x().clamp(f32([0, 0, 0, 0]), f32([1, 1, 1, 1])), [0, 0, 1, 1]);
    expect(t([1, 5, 9]).clamp(2, 6).tolist()).toEqual([2, 5, 6]);
    expect(t([1, 5, 9]).clamp(2, 6).dtype).toBe('int64');
    expect(() => x().clamp()).toThrow(Error);
    expectClose(x().abs(), [1, 0, 1, 2]);
    expectClose(x().neg(), [1, 0, -1, -2]);
    expect(t([-3, 4]).abs().tolist()).toEqual([3, 4]);
    expect(t([-3, 4]).neg().tolist()).toEqual([3, -4]);
    expectClose(torch.clamp(x(), -1, 1), [-1, 0, 1, 1]);
  });
});

describe('comparisons and where', () => {
  it('eq ne lt le gt ge', () => {
    const a = t([1, 2, 3]);
    const b = t([2, 2, 2]);
    expect(a.eq(b).tolist()).toEqual([false, true, false]);
    expect(a.ne(b).tolist()).toEqual([true, false, true]);
    expect(a.lt(b).tolist()).toEqual([true, false, false]);
    expect(a.le(b).tolist()).toEqual([true, true, false]);
    expect(a.gt(b).tolist()).toEqual([false, false, true]);
    expect(a.ge(b).tolist()).toEqual([false, true, true]);
    expect(a.ge(2).tolist()).toEqual([false, true, true]);
    expect(f32([0.5, 1.5]).gt(1).tolist()).toEqual([false, true]);
    expect(a.eq(2.5).tolist()).toEqual([false, false, false]);
    expect(torch.eq(a, 3).tolist()).toEqual([false, false, true]);
    // broadcasting
    expect(
      t([[1], [3]])
        .lt(t([2, 4]))
        .tolist(),
    ).toEqual([
      [true, true],
      [false, true],
    ]);
  });

  it('where: method and torch.where with scalars', () => {
    const cond = t([true, false, true]);
    const a = t([1, 2, 3]);
    const b = t([10, 20, 30]);
    expect(a.where(cond, b).tolist()).toEqual([1, 20, 3]);
    expect(a.where(cond, 0).tolist()).toEqual([1, 0, 3]);
    expect(torch.where(cond, a, b).tolist()).toEqual([1, 20, 3]);
    expect(torch.where(cond, 9, a).tolist()).toEqual([9, 2, 9]);
    expect(torch.where(cond, a, -1).tolist()).toEqual([1, -1, 3]);
    const ii = torch.where(cond, 1, 0);
    expect(ii.dtype).toBe('int64');
    expect(ii.tolist()).toEqual([1, 0, 1]);
    const ff = torch.where(cond, 1.5, 0);
    expect(ff.dtype).toBe('float32');
    expect(ff.tolist()).toEqual([1.5, 0, 1.5]);
    // broadcast condition
    expect(torch.where(t([[true], [false]]), t([1, 2]), t([3, 4])).tolist()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(
      f32([1, 2])
        .where(t([false, true]), Number.NEGATIVE_INFINITY)
        .tolist(),
    ).toEqual([-Infinity, 2]);
  });
});

describe('reductions', () => {
  const x = () =>
    f32([
      [1, 2, 3],
      [4, 5, 6],
    ]);

  it('sum and mean with dim/keepdim', () => {
    expectClose(x().sum(), 21);
    expect(x().sum().shape).toEqual([]);
    expectClose(x().sum(0), [5, 7, 9]);
    expectClose(x().sum(1), [6, 15]);
    expectClose(x().sum(-1), [6, 15]);
    expectClose(x().sum(1, true), [[6], [15]]);
    expectClose(x().sum([0, 1]), 21);
    expectClose(x().mean(), 3.5);
    expectClose(x().mean(0), [2.5, 3.5, 4.5]);
    expectClose(x().mean(1, true), [[2], [5]]);
    expect(x().mean([0], true).shape).toEqual([1, 3]);
    expectClose(torch.sum(x(), 0), [5, 7, 9]);
    expectClose(t([1, 2]).mean(null, false, { dtype: 'float64' }), 1.5);
  });

  it('var and std, unbiased and not', () => {
    // values 1..6: mean 3.5, Σ(x-μ)² = 17.5
    expectClose(x().var(), 3.5);
    expectClose(x().var(null, { unbiased: false }), 17.5 / 6);
    expectClose(x().std(), Math.sqrt(3.5));
    expectClose(x().std(null, { unbiased: false }), Math.sqrt(17.5 / 6));
    expectClose(x().var(1), [1, 1]);
    expectClose(x().var(1, { unbiased: false }), [2 / 3, 2 / 3]);
    expectClose(x().var(0), [4.5, 4.5, 4.5]);
    expectClose(x().var(0, { unbiased: false }), [2.25, 2.25, 2.25]);
    expectClose(x().std(0), [Math.sqrt(4.5), Math.sqrt(4.5), Math.sqrt(4.5)]);
    expectClose(x().std(1, { unbiased: false, keepdim: true }), [[Math.sqrt(2 / 3)], [Math.sqrt(2 / 3)]]);
    expectClose(x().var([0, 1]), 3.5);
    expect(x().var(1, { keepdim: true }).shape).toEqual([2, 1]);
  });

  it('max/min: all, and with dim → [values, indices]', () => {
    const y = f32([
      [1, 5, 3],
      [4, 2, 6],
    ]);
    expectClose(y.max(), 6);
    expectClose(y.min(), 1);
    const [mv, mi] = y.max(1);
    expectClose(mv, [5, 6]);
    expect(mi.dtype).toBe('int64');
    expect(mi.tolist()).toEqual([1, 2]);
    const [nv, ni] = y.min(0);
    expectClose(nv, [1, 2, 3]);
    expect(ni.tolist()).toEqual([0, 1, 0]);
    const [kv, ki] = y.max(-1, true);
    expect(kv.shape).toEqual([2, 1]);
    expect(ki.tolist()).toEqual([[1], [2]]);
    expectClose(
      y.max(
        f32([
          [3, 3, 3],
          [3, 3, 3],
        ]),
      ),
      [
        [3, 5, 3],
        [4, 3, 6],
      ],
    );
    expectClose(y.min(f32([3])), [
      [1, 3, 3],
      [3, 2, 3],
    ]);
    // torch.max's function form is typed after the last overload only, hence the cast
    const [tv, ti] = (torch.max as unknown as (x: Tensor, dim: number) => [Tensor, Tensor])(y, 0);
    expectClose(tv, [4, 5, 6]);
    expect(ti.tolist()).toEqual([1, 0, 1]);
    expect(t([3, 9, 2]).max().item()).toBe(9);
  });

  it('argmax', () => {
    const y = f32([
      [1, 5, 3],
      [4, 2, 6],
    ]);
    expect(y.argmax().item()).toBe(5);
    expect(y.argmax().shape).toEqual([]);
    expect(y.argmax(1).tolist()).toEqual([1, 2]);
    expect(y.argmax(0).tolist()).toEqual([1, 0, 1]);
    expect(y.argmax(0, true).shape).toEqual([1, 3]);
    expect(y.argmax(1).dtype).toBe('int64');
    expect(y.argmin(1).tolist()).toEqual([0, 1]);
  });

  it('logsumexp', () => {
    const y = f32([
      [0, 0],
      [1, 2],
    ]);
    expectClose(y.logsumexp(1), [Math.LN2, 2 + Math.log(1 + Math.exp(-1))]);
    expectClose(y.logsumexp(1), [Math.LN2, 2.31326169]);
    expectClose(y.logsumexp(), Math.log(2 + E + E * E));
    expectClose(y.logsumexp([0, 1]), 2.49381161);
    expect(y.logsumexp(0, true).shape).toEqual([1, 2]);
    expectClose(y.logsumexp(0), [Math.log(1 + E), Math.log(1 + E * E)]);
    // stable for large inputs
    expectClose(f32([1000, 1000]).logsumexp(0), 1000 + Math.LN2, 1e-3);
  });

  it('cumsum', () => {
    expect(t([1, 2, 3, 4]).cumsum(0).tolist()).toEqual([1, 3, 6, 10]);
    expect(
      t([
        [1, 2],
        [3, 4],
      ])
        .cumsum(1)
        .tolist(),
    ).toEqual([
      [1, 3],
      [3, 7],
    ]);
    expect(
      t([
        [1, 2],
        [3, 4],
      ])
        .cumsum(0)
        .tolist(),
    ).toEqual([
      [1, 2],
      [4, 6],
    ]);
    expectClose(f32([0.5, 0.25]).cumsum(-1), [0.5, 0.75]);
    expect(t([1, 2]).cumsum(0, { dtype: 'float64' }).dtype).toBe('float64');
  });
});

describe('products, softmax', () => {
  it('matmul and bmm', () => {
    const a = f32([
      [1, 2],
      [3, 4],
    ]);
    const b = f32([
      [5, 6],
      [7, 8],
    ]);
    expectClose(a.matmul(b), [
      [19, 22],
      [43, 50],
    ]);
    expectClose(a.matmul(f32([1, 1])), [3, 7]);
    expectClose(f32([1, 1]).matmul(a), [4, 6]);
    expectClose(f32([1, 2]).matmul(f32([3, 4])), 11);
    // batched with broadcasting: (2,2,2) @ (2,2)
    const batch = torch.stack([a, b]);
    expectClose(batch.matmul(torch.eye(2)), [
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [7, 8],
      ],
    ]);
    expectClose(
      batch.matmul(
        f32([
          [0, 1],
          [1, 0],
        ]),
      ),
      [
        [
          [2, 1],
          [4, 3],
        ],
        [
          [6, 5],
          [8, 7],
        ],
      ],
    );
    expectClose(
      f32([[[1, 2]], [[3, 4]]]).bmm(
        f32([
          [[1], [1]],
          [[2], [3]],
        ]),
      ),
      [[[3]], [[18]]],
    );
    expectClose(a.mm(b), [
      [19, 22],
      [43, 50],
    ]);
    expect(() => a.matmul(f32([[1, 2, 3]]))).toThrow(Error);
    expect(() => a.bmm(b)).toThrow(Error);
    expect(
      t([[1, 2]])
        .matmul(t([[3], [4]]))
        .tolist(),
    ).toEqual([[11]]);
  });

  it('softmax and logSoftmax', () => {
    const v = f32([1, 2, 3]);
    expectClose(v.softmax(0), [0.09003057, 0.24472847, 0.66524096]);
    expectClose(v.logSoftmax(0), [-2.40760596, -1.40760596, -0.40760596]);
    expectClose(v.softmax(-1).sum(), 1);
    const m = f32([
      [1, 2, 3],
      [0, 0, 0],
    ]);
    expectClose(m.softmax(1), [
      [0.09003057, 0.24472847, 0.66524096],
      [1 / 3, 1 / 3, 1 / 3],
    ]);
    expectClose(m.softmax(0), [
      [E / (1 + E), (E * E) / (1 + E * E), E ** 3 / (1 + E ** 3)],
      [1 / (1 + E), 1 / (1 + E * E), 1 / (1 + E ** 3)],
    ]);
    expectClose(m.logSoftmax(1), [
      [-2.40760596, -1.40760596, -0.40760596],
      [-Math.log(3), -Math.log(3), -Math.log(3)],
    ]);
    expectClose(f32([0, Number.NEGATIVE_INFINITY]).softmax(0), [1, 0]);
    expectClose(F.softmax(v, 0), [0.09003057, 0.24472847, 0.66524096]);
    expectClose(F.logSoftmax(v, 0), [-2.40760596, -1.40760596, -0.40760596]);
    expect(v.softmax(0, { dtype: 'float64' }).dtype).toBe('float64');
    expect(t([1, 2]).softmax(0, { dtype: 'float32' }).dtype).toBe('float32');
  });
});

describe('shape and views', () => {
  it('view, reshape (views share storage)', () => {
    const x = torch.arange(6);
    expect(x.view(2, 3).tolist()).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(x.view([3, -1]).shape).toEqual([3, 2]);
    expect(x.reshape(3, 2).tolist()).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    expect(x.reshape([-1]).shape).toEqual([6]);
    expect(() => x.view(4, 2)).toThrow(Error);
    x.view(2, 3).select(0, 1).fill_(0);
    expect(x.tolist()).toEqual([0, 1, 2, 0, 0, 0]);
  });

  it('permute, transpose, contiguous', () => {
    const a = torch.arange(6).view(2, 3);
    expect(a.permute(1, 0).tolist()).toEqual([
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    expect(a.transpose(0, 1).tolist()).toEqual([
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    expect(a.t().tolist()).toEqual([
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    const b = torch.arange(24).view(2, 3, 4);
    const p = b.permute([2, 0, 1]);
    expect(p.shape).toEqual([4, 2, 3]);
    // p[i][j][k] = b[j][k][i] = 12 j + 4 k + i
    expect((p.tolist() as number[][][])[3]![1]![2]).toBe(12 + 8 + 3);
    expect(b.transpose(-1, 0).shape).toEqual([4, 3, 2]);
    const tr = a.transpose(0, 1);
    expect(() => tr.view(6)).toThrow(Error); // not contiguous
    expect(tr.contiguous().view(6).tolist()).toEqual([0, 3, 1, 4, 2, 5]);
    expect(tr.reshape(6).tolist()).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('unsqueeze, squeeze, flatten', () => {
    const a = torch.zeros([2, 3]);
    expect(a.unsqueeze(0).shape).toEqual([1, 2, 3]);
    expect(a.unsqueeze(-1).shape).toEqual([2, 3, 1]);
    expect(a.unsqueeze(1).shape).toEqual([2, 1, 3]);
    const b = torch.zeros([1, 2, 1]);
    expect(b.squeeze().shape).toEqual([2]);
    expect(b.squeeze(0).shape).toEqual([2, 1]);
    expect(b.squeeze(-1).shape).toEqual([1, 2]);
    expect(b.squeeze(1).shape).toEqual([1, 2, 1]); // size 2: unchanged
    expect(t([[5]]).squeeze().shape).toEqual([]);
    const c = torch.arange(24).view(2, 3, 4);
    expect(c.flatten().shape).toEqual([24]);
    expect(c.flatten(1).shape).toEqual([2, 12]);
    expect(c.flatten(0, 1).shape).toEqual([6, 4]);
    expect(c.flatten(1).tolist()).toEqual([Array.from({ length: 12 }, (_, i) => i), Array.from({ length: 12 }, (_, i) => i + 12)]);
  });

  it('expand and repeat', () => {
    const a = t([[1], [2]]);
    expect(a.expand(2, 3).tolist()).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
    expect(a.expand([-1, 2]).tolist()).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(a.expand(4, 2, 3).shape).toEqual([4, 2, 3]);
    expect(
      t([1, 2])
        .expandAs(torch.zeros([3, 2]))
        .tolist(),
    ).toEqual([
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
    expect(() => t([1, 2]).expand(3)).toThrow(Error);
    expect(t([1, 2]).repeat(2, 2).tolist()).toEqual([
      [1, 2, 1, 2],
      [1, 2, 1, 2],
    ]);
    expect(t([1, 2]).repeat(3).tolist()).toEqual([1, 2, 1, 2, 1, 2]);
    expect(
      t([[1, 2]])
        .repeat([2, 1])
        .tolist(),
    ).toEqual([
      [1, 2],
      [1, 2],
    ]);
  });

  it('split (size and sizes) and chunk', () => {
    const x = torch.arange(5);
    expect(x.split(2).map((p) => p.tolist())).toEqual([[0, 1], [2, 3], [4]]);
    expect(x.split([1, 4]).map((p) => p.tolist())).toEqual([[0], [1, 2, 3, 4]]);
    expect(() => x.split([1, 2])).toThrow(Error);
    const m = torch.arange(6).view(2, 3);
    expect(m.split(2, 1).map((p) => p.tolist())).toEqual([
      [
        [0, 1],
        [3, 4],
      ],
      [[2], [5]],
    ]);
    expect(m.split([2, 1], -1).map((p) => p.shape)).toEqual([
      [2, 2],
      [2, 1],
    ]);
    expect(x.chunk(2).map((p) => p.tolist())).toEqual([
      [0, 1, 2],
      [3, 4],
    ]);
    expect(
      torch
        .arange(6)
        .chunk(3)
        .map((p) => p.tolist()),
    ).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    expect(m.chunk(3, 1).map((p) => p.tolist())).toEqual([
      [[0], [3]],
      [[1], [4]],
      [[2], [5]],
    ]);
    expect(torch.split(x, 3).length).toBe(2);
  });

  it('cat and stack', () => {
    const a = t([[1, 2]]);
    const b = t([[3, 4]]);
    expect(torch.cat([a, b]).tolist()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(torch.cat([a, b], 1).tolist()).toEqual([[1, 2, 3, 4]]);
    expect(
      torch.cat(
        [
          a,
          t([
            [5, 6],
            [7, 8],
          ]),
        ],
        0,
      ).shape,
    ).toEqual([3, 2]);
    expect(torch.stack([t([1, 2]), t([3, 4])]).tolist()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(torch.stack([t([1, 2]), t([3, 4])], 1).tolist()).toEqual([
      [1, 3],
      [2, 4],
    ]);
    expect(torch.stack([t([1, 2]), t([3, 4])], -1).shape).toEqual([2, 2]);
    expect(() => torch.cat([a, t([[1, 2, 3]])])).toThrow(Error);
    expect(() => torch.stack([t([1]), t([1, 2])])).toThrow(Error);
    expect(() => torch.cat([a, [1] as unknown as Tensor])).toThrow(TypeError);
  });

  it('narrow, select, slice', () => {
    const m = torch.arange(6).view(2, 3);
    expect(m.narrow(1, 1, 2).tolist()).toEqual([
      [1, 2],
      [4, 5],
    ]);
    expect(m.narrow(0, 1, 1).tolist()).toEqual([[3, 4, 5]]);
    expect(m.select(0, 1).tolist()).toEqual([3, 4, 5]);
    expect(m.select(1, -1).tolist()).toEqual([2, 5]);
    expect(() => m.select(0, 2)).toThrow(Error);
    expect(m.slice(1, 1).tolist()).toEqual([
      [1, 2],
      [4, 5],
    ]);
    const x = torch.arange(6);
    expect(x.slice(0, null, null, 2).tolist()).toEqual([0, 2, 4]);
    expect(x.slice(0, -2).tolist()).toEqual([4, 5]);
    expect(x.slice(0, null, -2).tolist()).toEqual([0, 1, 2, 3]);
    expect(x.slice(0, 1, 5, 2).tolist()).toEqual([1, 3]);
    expect(x.slice(0, 4, 100).tolist()).toEqual([4, 5]);
    // a slice is a view
    x.slice(0, 0, 2).fill_(-1);
    expect(x.tolist()).toEqual([-1, -1, 2, 3, 4, 5]);
  });

  it('flip', () => {
    expect(torch.arange(4).flip(0).tolist()).toEqual([3, 2, 1, 0]);
    expect(torch.arange(4).view(2, 2).flip([0, 1]).tolist()).toEqual([
      [3, 2],
      [1, 0],
    ]);
  });
});

describe('indexing', () => {
  it('index: advanced indexing with nulls', () => {
    const m = torch.arange(12).view(3, 4);
    expect(m.index([t([0, 2])]).tolist()).toEqual([
      [0, 1, 2, 3],
      [8, 9, 10, 11],
    ]);
    expect(m.index([t([0, 2]), null]).tolist()).toEqual([
      [0, 1, 2, 3],
      [8, 9, 10, 11],
    ]);
    expect(m.index([null, t([1, 3])]).tolist()).toEqual([
      [1, 3],
      [5, 7],
      [9, 11],
    ]);
    expect(m.index([t([0, 2]), t([1, 3])]).tolist()).toEqual([1, 11]);
    expect(m.index([t([-1])]).tolist()).toEqual([[8, 9, 10, 11]]);
    // boolean mask
    expect(m.index([t([true, false, true])]).shape).toEqual([2, 4]);
    expect(m.index([m.gt(8)]).tolist()).toEqual([9, 10, 11]);
    const c = torch.arange(24).view(2, 3, 4);
    expect(c.index([null, t([0, 2]), t([1, 3])]).tolist()).toEqual([
      [1, 11],
      [13, 23],
    ]);
    expect(c.index([null, null, t([0])]).shape).toEqual([2, 3, 1]);
    expect(() => m.index([t([3])])).toThrow(Error);
  });

  it('indexPut_', () => {
    const z = torch.zeros([3]);
    expect(z.indexPut_([t([0, 2])], 5)).toBe(z);
    expect(z.tolist()).toEqual([5, 0, 5]);
    z.indexPut_([t([1, 1])], f32([1, 2]), true);
    expect(z.tolist()).toEqual([5, 3, 5]);
  });

  it('indexSelect, gather', () => {
    const m = torch.arange(6).view(3, 2);
    expect(m.indexSelect(0, t([2, 0])).tolist()).toEqual([
      [4, 5],
      [0, 1],
    ]);
    expect(m.indexSelect(1, t([1, 1, 0])).tolist()).toEqual([
      [1, 1, 0],
      [3, 3, 2],
      [5, 5, 4],
    ]);
    const g = t([
      [1, 2],
      [3, 4],
    ]);
    expect(
      g
        .gather(
          1,
          t([
            [0, 0],
            [1, 0],
          ]),
        )
        .tolist(),
    ).toEqual([
      [1, 1],
      [4, 3],
    ]);
    expect(g.gather(0, t([[1, 0]])).tolist()).toEqual([[3, 2]]);
    expect(g.gather(-1, t([[1], [0]])).tolist()).toEqual([[2], [3]]);
    expect(() => g.gather(1, t([[2]]))).toThrow(Error);
  });

  it('scatter, scatterAdd', () => {
    const z = torch.zeros([2, 3]);
    expectClose(
      z.scatter(
        1,
        t([
          [0, 1],
          [2, 0],
        ]),
        f32([
          [1, 2],
          [3, 4],
        ]),
      ),
      [
        [1, 2, 0],
        [4, 0, 3],
      ],
    );
    expectClose(z.scatter(1, t([[0], [2]]), 5.5), [
      [5.5, 0, 0],
      [0, 0, 5.5],
    ]);
    expect(z.tolist()).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]); // out of place
    expectClose(torch.zeros([3]).scatterAdd(0, t([0, 1, 0, 2]), f32([1, 2, 3, 4])), [4, 2, 4]);
    expectClose(
      torch.ones([2, 2]).scatterAdd(
        1,
        t([
          [1, 1],
          [0, 0],
        ]),
        f32([
          [1, 2],
          [3, 4],
        ]),
      ),
      [
        [1, 4],
        [8, 1],
      ],
    );
  });

  it('maskedFill, maskedSelect', () => {
    expect(
      t([1, 2, 3])
        .maskedFill(t([true, false, true]), 0)
        .tolist(),
    ).toEqual([0, 2, 0]);
    expect(
      f32([1, 2])
        .maskedFill(t([false, true]), Number.NEGATIVE_INFINITY)
        .tolist(),
    ).toEqual([1, -Infinity]);
    // broadcast mask over rows
    expect(
      torch
        .arange(6)
        .view(2, 3)
        .maskedFill(t([true, false, false]), -1)
        .tolist(),
    ).toEqual([
      [-1, 1, 2],
      [-1, 4, 5],
    ]);
    expect(
      f32([1, 2])
        .maskedFill(t([true, true]), t(0.5))
        .tolist(),
    ).toEqual([0.5, 0.5]);
    expect(
      torch
        .arange(4)
        .maskedSelect(t([true, false, true, false]))
        .tolist(),
    ).toEqual([0, 2]);
  });

  it('tril, triu', () => {
    const o = torch.ones([3, 3]);
    expect(o.tril().tolist()).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
    ]);
    expect(o.tril(-1).tolist()).toEqual([
      [0, 0, 0],
      [1, 0, 0],
      [1, 1, 0],
    ]);
    expect(o.triu().tolist()).toEqual([
      [1, 1, 1],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    expect(o.triu(1).tolist()).toEqual([
      [0, 1, 1],
      [0, 0, 1],
      [0, 0, 0],
    ]);
    expect(torch.ones([2, 3], { dtype: 'bool' }).tril().tolist()).toEqual([
      [true, false, false],
      [true, true, false],
    ]);
  });

  it('topk, sort, argsort', () => {
    const v = f32([1, 5, 3, 4]);
    const [tv, ti] = v.topk(2);
    expectClose(tv, [5, 4]);
    expect(ti.tolist()).toEqual([1, 3]);
    const [sv, si] = v.topk(2, -1, false);
    expectClose(sv, [1, 3]);
    expect(si.tolist()).toEqual([0, 2]);
    const [mv, mi] = f32([
      [1, 9, 3],
      [8, 2, 7],
    ]).topk(1, 0);
    expectClose(mv, [[8, 9, 7]]);
    expect(mi.tolist()).toEqual([[1, 0, 1]]);
    expect(() => v.topk(5)).toThrow(Error);

    const [a, ai] = t([3, 1, 2]).sort();
    expect(a.tolist()).toEqual([1, 2, 3]);
    expect(ai.tolist()).toEqual([1, 2, 0]);
    expect(ai.dtype).toBe('int64');
    const [d, di] = t([3, 1, 2]).sort(-1, true);
    expect(d.tolist()).toEqual([3, 2, 1]);
    expect(di.tolist()).toEqual([0, 2, 1]);
    const [m] = t([
      [3, 1],
      [0, 2],
    ]).sort(0);
    expect(m.tolist()).toEqual([
      [0, 1],
      [3, 2],
    ]);
    const [, stableIdx] = t([1, 0, 1, 0, 1]).sort(-1, false, true);
    expect(stableIdx.tolist()).toEqual([1, 3, 0, 2, 4]);
    expect(t([3, 1, 2]).argsort().tolist()).toEqual([1, 2, 0]);
  });

  it('multinomial: shape, range, zero-prob entries, seeding', () => {
    const probs = f32([
      [0, 0.2, 0, 0.8],
      [0.5, 0, 0.5, 0],
    ]);
    torch.manualSeed(7);
    const s = probs.multinomial(200, true);
    expect(s.shape).toEqual([2, 200]);
    expect(s.dtype).toBe('int64');
    const [r0, r1] = s.tolist() as number[][];
    expect(new Set(r0)).toEqual(new Set([1, 3]));
    expect(new Set(r1)).toEqual(new Set([0, 2]));
    // about 80% picks of index 3 in row 0
    const frac3 = r0!.filter((i) => i === 3).length / 200;
    expect(frac3).toBeGreaterThan(0.65);
    expect(frac3).toBeLessThan(0.95);

    // without replacement: each nonzero entry exactly once
    const nr = probs.multinomial(2);
    expect((nr.tolist() as number[][]).map((r) => [...r].sort())).toEqual([
      [1, 3],
      [0, 2],
    ]);

    // 1-D and unnormalized weights
    const one = f32([0, 3, 1]).multinomial(50, true);
    expect(one.shape).toEqual([50]);
    expect((one.tolist() as number[]).every((i) => i === 1 || i === 2)).toBe(true);

    torch.manualSeed(99);
    const a = probs.multinomial(20, true);
    torch.manualSeed(99);
    const b = probs.multinomial(20, true);
    expect(a.equal(b)).toBe(true);
    expect(() => probs.multinomial(5)).toThrow(Error); // more samples than categories, without replacement
  });
});

describe('in place', () => {
  it('return this and modify in place', () => {
    const a = f32([1, 2, 3]);
    expect(a.add_(1)).toBe(a);
    expect(a.tolist()).toEqual([2, 3, 4]);
    expect(a.add_(f32([1, 1, 1]), 2)).toBe(a);
    expect(a.tolist()).toEqual([4, 5, 6]);
    expect(a.sub_(1)).toBe(a);
    expect(a.tolist()).toEqual([3, 4, 5]);
    expect(a.sub_(f32([1, 1, 1]), 3)).toBe(a);
    expect(a.tolist()).toEqual([0, 1, 2]);
    expect(a.mul_(f32([2, 2, 3]))).toBe(a);
    expect(a.tolist()).toEqual([0, 2, 6]);
    expect(a.mul_(0.5)).toBe(a);
    expect(a.tolist()).toEqual([0, 1, 3]);
    expect(a.div_(2)).toBe(a);
    expect(a.tolist()).toEqual([0, 0.5, 1.5]);
    expect(a.div_(f32([1, 0.5, 3]))).toBe(a);
    expect(a.tolist()).toEqual([0, 1, 0.5]);
    expect(a.clamp_(0.25, 0.75)).toBe(a);
    expect(a.tolist()).toEqual([0.25, 0.75, 0.5]);
    expect(a.clamp_(null, 0.5)).toBe(a);
    expect(a.tolist()).toEqual([0.25, 0.5, 0.5]);
    expect(a.maskedFill_(t([true, false, false]), 9)).toBe(a);
    expect(a.tolist()).toEqual([9, 0.5, 0.5]);
    expect(a.fill_(7)).toBe(a);
    expect(a.tolist()).toEqual([7, 7, 7]);
    expect(a.fill_(t(2.5))).toBe(a);
    expect(a.tolist()).toEqual([2.5, 2.5, 2.5]);
    expect(a.copy_(f32([1, 2, 3]))).toBe(a);
    expect(a.tolist()).toEqual([1, 2, 3]);
    expect(a.zero_()).toBe(a);
    expect(a.tolist()).toEqual([0, 0, 0]);
  });

  it('copy_ broadcasts and converts dtype', () => {
    const a = torch.zeros([2, 2]);
    a.copy_(f32([1.5, 2.5]));
    expect(a.tolist()).toEqual([
      [1.5, 2.5],
      [1.5, 2.5],
    ]);
    const i = torch.zeros([2], { dtype: 'int64' });
    i.copy_(f32([1.7, -1.7]));
    expect(i.tolist()).toEqual([1, -1]);
    expect(i.dtype).toBe('int64');
  });

  it('in place on a view changes the base', () => {
    const base = torch.zeros([2, 3]);
    base.select(0, 1).fill_(1);
    base.narrow(1, 0, 1).add_(5);
    expect(base.tolist()).toEqual([
      [5, 0, 0],
      [6, 1, 1],
    ]);
    base.t().mul_(2);
    expect(base.tolist()).toEqual([
      [10, 0, 0],
      [12, 2, 2],
    ]);
  });

  it('in place on an int tensor with a float result throws', () => {
    expect(() => t([1, 2]).mul_(1.5)).toThrow(Error);
    expect(() => t([1, 2]).div_(2)).toThrow(Error);
  });

  it("in place on a leaf requiring grad throws an Error mentioning 'leaf'", () => {
    const w = f32([1, 2]).requiresGrad_();
    const ops: [string, () => unknown][] = [
      ['add_', () => w.add_(1)],
      ['sub_', () => w.sub_(1)],
      ['mul_', () => w.mul_(2)],
      ['div_', () => w.div_(2)],
      ['clamp_', () => w.clamp_(0, 1)],
      ['fill_', () => w.fill_(3)],
      ['zero_', () => w.zero_()],
      ['copy_', () => w.copy_(f32([5, 6]))],
      ['maskedFill_', () => w.maskedFill_(t([true, false]), 0)],
    ];
    for (const [name, op] of ops) {
      let err: unknown;
      try {
        op();
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(Error);
      expect((err as Error).message, name).toMatch(/leaf/);
    }
    expect(w.tolist()).toEqual([1, 2]);
  });

  it('the same inside torch.noGrad works', () => {
    const w = f32([1, 2]).requiresGrad_();
    const r = torch.noGrad(() => w.mul_(2).add_(1));
    expect(r).toBe(w);
    expect(w.tolist()).toEqual([3, 5]);
    torch.noGrad(() => {
      w.sub_(1);
      w.div_(2);
      w.clamp_(0, 1.5);
      w.maskedFill_(t([false, true]), 4);
      w.copy_(w.add(1));
      w.fill_(0.5);
      w.zero_();
    });
    expect(w.tolist()).toEqual([0, 0]);
    expect(w.requiresGrad).toBe(true);
    expect(w.isLeaf).toBe(true);
    // autograd still works after
    w.mul(3).sum().backward();
    expect(w.grad!.tolist()).toEqual([3, 3]);
  });

  it('in place on a non-leaf records in the graph', () => {
    const w = f32([1, 2]).requiresGrad_();
    const y = w.mul(2);
    y.add_(1).mul_(3);
    expect(y.tolist()).toEqual([9, 15]);
    y.sum().backward();
    expect(w.grad!.tolist()).toEqual([6, 6]);
  });
});

describe('torch.nn.functional', () => {
  it('linear', () => {
    const x = f32([
      [1, 2],
      [3, -1],
    ]);
    const w = f32([
      [1, 0],
      [0, 1],
      [1, 1],
    ]);
    const b = f32([0.5, -0.5, 0]);
    expectClose(F.linear(x, w, b), [
      [1.5, 1.5, 3],
      [3.5, -1.5, 2],
    ]);
    expectClose(F.linear(x, w), [
      [1, 2, 3],
      [3, -1, 2],
    ]);
    expectClose(F.linear(x, w, null), [
      [1, 2, 3],
      [3, -1, 2],
    ]);
    expectClose(F.linear(f32([[[1, 1]]]), w), [[[1, 1, 2]]]);
    expect(() => F.linear(x, f32([[1, 2, 3]]))).toThrow(Error);
    expect(() => F.linear([1] as unknown as Tensor, w)).toThrow(TypeError);
  });

  it('embedding', () => {
    const w = t([
      [0.5, 1],
      [2, 3],
      [4, 5],
    ]);
    expectClose(
      F.embedding(
        t([
          [2, 0],
          [1, 1],
        ]),
        w,
      ),
      [
        [
          [4, 5],
          [0.5, 1],
        ],
        [
          [2, 3],
          [2, 3],
        ],
      ],
    );
    expect(F.embedding(t([2, 0, 1]), w).shape).toEqual([3, 2]);
    expect(() => F.embedding(t([3]), w)).toThrow(Error);
  });

  it('embedding: paddingIdx rows get no gradient', () => {
    const w = t(
      [
        [0.5, 1],
        [2, 3],
        [4, 5],
      ],
      { requiresGrad: true },
    );
    const out = F.embedding(t([0, 1, 1, 2, 0]), w, { paddingIdx: 1 });
    expectClose(out, [
      [0.5, 1],
      [2, 3],
      [2, 3],
      [4, 5],
      [0.5, 1],
    ]);
    out.sum().backward();
    expectClose(w.grad!, [
      [2, 2],
      [0, 0],
      [1, 1],
    ]);

    const w2 = t(
      [
        [0.5, 1],
        [2, 3],
        [4, 5],
      ],
      { requiresGrad: true },
    );
    F.embedding(t([0, 1, 1, 2, 0]), w2)
      .sum()
      .backward();
    expectClose(w2.grad!, [
      [2, 2],
      [2, 2],
      [1, 1],
    ]);
  });

  it('embedding: a negative paddingIdx counts from the end (as PyTorch)', () => {
    // PyTorch: F.embedding(idx, w, padding_idx=-1) is padding_idx = num_embeddings - 1.
    const w = t(
      [
        [0.5, 1],
        [2, 3],
        [4, 5],
      ],
      { requiresGrad: true },
    );
    F.embedding(t([0, 2]), w, { paddingIdx: -1 })
      .sum()
      .backward();
    expectClose(w.grad!, [
      [1, 1],
      [0, 0],
      [0, 0],
    ]);
  });

  it('layerNorm', () => {
    const x = f32([
      [1, 2, 3],
      [2, 4, 6],
    ]);
    // row 1: μ=2, σ²=2/3; row 2: μ=4, σ²=8/3 (biased)
    const n1 = 1 / Math.sqrt(2 / 3 + 1e-5);
    const n2 = 2 / Math.sqrt(8 / 3 + 1e-5);
    expectClose(F.layerNorm(x, [3]), [
      [-n1, 0, n1],
      [-n2, 0, n2],
    ]);
    const w = f32([1, 2, 0.5]);
    const b = f32([0, 1, -1]);
    expectClose(F.layerNorm(x, [3], w, b), [
      [-n1, 1, 0.5 * n1 - 1],
      [-n2, 1, 0.5 * n2 - 1],
    ]);
    // over the last two dims: values 1,2,3,2,4,6: μ=3, σ²=(4+1+0+1+1+9)/6=8/3
    const s = Math.sqrt(8 / 3 + 1e-5);
    expectClose(F.layerNorm(x, [2, 3]), [
      [-2 / s, -1 / s, 0],
      [-1 / s, 1 / s, 3 / s],
    ]);
    // eps
    expectClose(F.layerNorm(f32([[0, 2]]), [2], null, null, 1), [[-1 / Math.sqrt(2), 1 / Math.sqrt(2)]]);
    expect(() => F.layerNorm(x, [4])).toThrow(Error);
  });

  it('dropout', () => {
    const x = f32([
      [1, 2],
      [3, 4],
    ]);
    const ev = F.dropout(x, 0.5, false);
    expect(ev.equal(x)).toBe(true);
    expect(F.dropout(x, 0).equal(x)).toBe(true);
    expect(F.dropout(x, 1).tolist()).toEqual([
      [0, 0],
      [0, 0],
    ]);

    torch.manualSeed(3);
    const d = F.dropout(torch.ones([10000]), 0.5);
    const vals = d.toTypedArray() as Float32Array;
    let zeros = 0;
    for (const v of vals) {
      expect(v === 0 || v === 2).toBe(true);
      if (v === 0) zeros++;
    }
    expect(Math.abs(zeros / 10000 - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(d.mean().item() - 1)).toBeLessThan(0.06);

    const d2 = F.dropout(torch.ones([1000]), 0.2);
    const kept = (d2.tolist() as number[]).filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 1.25) < 1e-6)).toBe(true);

    expect(() => F.dropout(x, -0.1)).toThrow(RangeError);
    expect(() => F.dropout(x, 1.5)).toThrow(RangeError);
    expect(() => F.dropout(x, NaN)).toThrow(RangeError);
  });

  describe('crossEntropy', () => {
    // -log softmax([1,2,3]) = [2.40760596, 1.40760596, 0.40760596]; of [0,0,0] = ln 3
    const L = [2.40760596, 1.40760596, 0.40760596];
    const ln3 = Math.log(3);
    const logits = () =>
      f32([
        [1, 2, 3],
        [0, 0, 0],
        [1, 2, 3],
      ]);

    it("reductions 'mean', 'sum', 'none'", () => {
      const y = t([2, 1, 0]);
      expectClose(F.crossEntropy(logits(), y, { reduction: 'none' }), [L[2], ln3, L[0]]);
      expectClose(F.crossEntropy(logits(), y, { reduction: 'sum' }), L[2]! + ln3 + L[0]!);
      expectClose(F.crossEntropy(logits(), y), (L[2]! + ln3 + L[0]!) / 3);
      expectClose(F.crossEntropy(logits(), y, { reduction: 'mean' }), 1.30460807);
      expect(() => F.crossEntropy(logits(), y, { reduction: 'avg' as 'mean' })).toThrow(Error);
    });

    it('ignoreIndex', () => {
      const y = t([2, -100, 0]);
      expectClose(F.crossEntropy(logits(), y, { reduction: 'none' }), [L[2], 0, L[0]]);
      expectClose(F.crossEntropy(logits(), y), (L[2]! + L[0]!) / 2);
      expectClose(F.crossEntropy(logits(), y, { reduction: 'sum' }), L[2]! + L[0]!);
      expectClose(F.crossEntropy(logits(), t([2, 1, 0]), { ignoreIndex: 1 }), (L[2]! + L[0]!) / 2);
      expectClose(F.crossEntropy(logits(), t([2, 1, 0]), { ignoreIndex: 1, reduction: 'none' }), [L[2], 0, L[0]]);
    });

    it('labelSmoothing', () => {
      // (1-ε)·nll + ε·mean_c(-log p_c); mean_c for [1,2,3] is 1.40760596, for [0,0,0] ln 3
      const eps = 0.1;
      const sm = (nll: number, meanAll: number) => (1 - eps) * nll + eps * meanAll;
      const rows = [sm(L[2]!, L[1]!), ln3, sm(L[1]!, L[1]!)];
      const y = t([2, 1, 1]);
      expectClose(F.crossEntropy(logits(), y, { labelSmoothing: eps, reduction: 'none' }), rows);
      expectClose(F.crossEntropy(logits(), y, { labelSmoothing: eps, reduction: 'none' }), [0.50760596, 1.09861229, 1.40760596]);
      expectClose(F.crossEntropy(logits(), y, { labelSmoothing: eps }), (rows[0]! + rows[1]! + rows[2]!) / 3);
      expectClose(F.crossEntropy(logits(), y, { labelSmoothing: eps, reduction: 'sum' }), rows[0]! + rows[1]! + rows[2]!);
      // unsmoothed differs
      expectClose(F.crossEntropy(logits(), y), (L[2]! + ln3 + L[1]!) / 3);
      // with ignoreIndex: ignored rows drop out of both terms and the mean's count
      const yi = t([2, -100, 1]);
      expectClose(F.crossEntropy(logits(), yi, { labelSmoothing: eps }), (rows[0]! + rows[2]!) / 2);
      expectClose(F.crossEntropy(logits(), yi, { labelSmoothing: eps, reduction: 'none' }), [rows[0], 0, rows[2]]);
    });

    it('gradient is (softmax - onehot) / N', () => {
      const x = f32([
        [1, 2, 3],
        [0, 0, 0],
      ]).requiresGrad_();
      F.crossEntropy(x, t([2, 0])).backward();
      const p = [0.09003057, 0.24472847, 0.66524096];
      expectClose(x.grad!, [
        [p[0]! / 2, p[1]! / 2, (p[2]! - 1) / 2],
        [(1 / 3 - 1) / 2, 1 / 6, 1 / 6],
      ]);
    });

    it('(N, C, d) inputs and class weights', () => {
      // (1, 3, 2): position 0 logits [1,2,3], position 1 logits [0,0,0]
      const x = f32([
        [
          [1, 0],
          [2, 0],
          [3, 0],
        ],
      ]);
      expectClose(F.crossEntropy(x, t([[2, 1]]), { reduction: 'none' }), [[L[2], ln3]]);
      const w = f32([1, 2, 3]);
      // weighted mean: Σ w_y·l / Σ w_y
      expectClose(F.crossEntropy(logits(), t([2, 1, 0]), { weight: w }), (3 * L[2]! + 2 * ln3 + 1 * L[0]!) / 6);
    });
  });

  it('mseLoss', () => {
    const a = f32([1, 2, 3]);
    const b = f32([1, 0, 6]);
    expectClose(F.mseLoss(a, b), 13 / 3);
    expectClose(F.mseLoss(a, b, 'mean'), 13 / 3);
    expectClose(F.mseLoss(a, b, 'sum'), 13);
    expectClose(F.mseLoss(a, b, 'none'), [0, 4, 9]);
    const x = f32([1, 2, 3]).requiresGrad_();
    F.mseLoss(x, b).backward();
    // d/dx mean((x-b)²) = 2(x-b)/n
    expectClose(x.grad!, [0, 4 / 3, -2]);
  });
});

describe('the unary op table', () => {
  it("UNARY_OPS (src/native.ts) names exactly the addon's unary ops (binding/ops_math.cc), each a Tensor method", async () => {
    const { N, UNARY_OPS } = await import('../src/native.js');
    expect([...UNARY_OPS].sort()).toEqual([...N.unaryOps].sort());
    const x = f32([0.5, 2]);
    for (const op of UNARY_OPS) expect(x[op]().shape).toEqual([2]);
  });
});
