// safetensors I/O: exact round trips of every dtype, the byte layout of the reference writer,
// rejection of malformed files with the path and the reason, atomic saves, and no leaks.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  torch,
  type Tensor,
  type DType,
  saveSafetensors,
  saveSafetensorsSync,
  loadSafetensors,
  loadSafetensorsSync,
  readSafetensorsHeader,
  writeFileAtomic,
  writeFileAtomicSync,
  writeJsonAtomic,
} from '../src/index.js';
import { READ_CHUNK_BYTES, SafetensorsReader } from '../src/io/safetensors.js';
import { fromBytes, toBytes } from '../src/tensor/bytes.js';
import { ITEM_SIZE } from '../src/tensor/types.js';
import { liveMemory } from './helpers.js';

// fromBytes, with a switch to make its n-th next call throw: tensor creation failing
// midway through a file must dispose the tensors already created.
const injectFailure = vi.hoisted(() => ({ countdown: -1 }));
vi.mock('../src/tensor/bytes.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../src/tensor/bytes.js')>();
  return {
    ...m,
    fromBytes: (...args: Parameters<typeof m.fromBytes>) => {
      if (injectFailure.countdown >= 0 && injectFailure.countdown-- === 0) throw new Error('injected failure');
      return m.fromBytes(...args);
    },
  };
});

let root: string;
let counter = 0;
/** A fresh, empty directory per test, so "no temp files left" can be checked exactly. */
const freshDir = (): string => {
  const d = join(root, `t${counter++}`);
  mkdirSync(d);
  return d;
};
const fileIn = (name = 'model.safetensors'): string => join(freshDir(), name);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const ITEM = ITEM_SIZE;
const ALL_DTYPES = Object.keys(ITEM) as DType[];

/** Deterministic pseudo-random bytes (bool: 0/1) for a tensor of `dtype` with `numel` elements. */
function patternBytes(dtype: DType, numel: number, seed: number): Uint8Array {
  const out = new Uint8Array(numel * ITEM[dtype]);
  let s = seed * 2654435761 + 1;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = dtype === 'bool' ? (s >>> 16) & 1 : (s >>> 16) & 0xff;
  }
  return out;
}

/** Hand-assembles a file: u64 length, header (object → compact JSON, or raw text), data. */
function assemble(header: unknown, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const json = header instanceof Uint8Array ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(json.byteLength));
  return Buffer.concat([prefix, json, data]);
}
const writeRaw = (bytes: Uint8Array): string => {
  const p = fileIn('bad.safetensors');
  writeFileSync(p, bytes);
  return p;
};
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Both loaders and the header reader reject `path` with a message "<path>: …reason…". */
async function expectRejected(path: string, reason: RegExp): Promise<void> {
  const re = new RegExp(`^${escapeRe(path)}: .*${reason.source}`, reason.flags);
  await expect(loadSafetensors(path)).rejects.toThrow(re);
  expect(() => loadSafetensorsSync(path)).toThrow(re);
  await expect(readSafetensorsHeader(path)).rejects.toThrow(re);
}

const disposeAll = (m: Map<string, Tensor>) => m.forEach((t) => t.dispose());

describe('safetensors round trip', () => {
  it('keeps the exact bits of every dtype, in order, async and sync', async () => {
    const base = liveMemory();
    const src = new Map<string, Tensor>();
    ALL_DTYPES.forEach((d, i) => src.set(`${d}.weight`, fromBytes(patternBytes(d, 12, i), d, [3, 4])));
    for (const sync of [false, true]) {
      const path = fileIn();
      if (sync) saveSafetensorsSync(path, src);
      else await saveSafetensors(path, src);
      const { tensors, metadata } = sync ? loadSafetensorsSync(path) : await loadSafetensors(path);
      expect([...tensors.keys()]).toEqual([...src.keys()]);
      expect(metadata).toEqual({});
      for (const [name, t] of src) {
        const got = tensors.get(name)!;
        expect(got.dtype).toBe(t.dtype);
        expect(got.shape).toEqual([3, 4]);
        expect(got.device).toBe('cpu');
        expect(Buffer.from(toBytes(got)).equals(Buffer.from(toBytes(t)))).toBe(true);
      }
      disposeAll(tensors);
    }
    disposeAll(src);
    expect(liveMemory()).toEqual(base);
  });

  it('keeps readable values: specials, extremes, 0-d and empty tensors', async () => {
    const path = fileIn();
    const f32 = [0, -0, 1.5, -2.25, Infinity, -Infinity, NaN, 3.4028234663852886e38, 1.401298464324817e-45];
    const src = {
      f32: torch.tensor(f32, { dtype: 'float32' }),
      f64: torch.tensor([Math.PI, -1e-300, 1e300, Number.MIN_VALUE], { dtype: 'float64' }),
      f16: torch.tensor([1, -0.5, 65504, 2 ** -24], { dtype: 'float16' }),
      bf16: torch.tensor([1, -0.5, 3.3895313892515355e38, 2 ** -133], { dtype: 'bfloat16' }),
      i64: torch.tensor(new BigInt64Array([2n ** 63n - 1n, -(2n ** 63n), 0n, -1n])),
      i32: torch.tensor([2 ** 31 - 1, -(2 ** 31), 7], { dtype: 'int32' }),
      i16: torch.tensor(new Int16Array([32767, -32768, 5])),
      i8: torch.tensor(new Int8Array([127, -128, 0])),
      u8: torch.tensor(new Uint8Array([255, 0, 128])),
      bool: torch.tensor([
        [true, false],
        [false, true],
      ]),
      scalar: torch.tensor(2.5),
      empty: torch.zeros([0, 3]),
      emptyInt: torch.zeros([2, 0, 4], { dtype: 'int64' }),
    };
    await saveSafetensors(path, src);
    const { tensors } = await loadSafetensors(path);
    expect(tensors.get('f32')!.tolist()).toEqual(f32.map(Math.fround));
    expect(tensors.get('f64')!.tolist()).toEqual([Math.PI, -1e-300, 1e300, Number.MIN_VALUE]);
    expect(tensors.get('f16')!.tolist()).toEqual([1, -0.5, 65504, 2 ** -24]);
    expect(tensors.get('bf16')!.tolist()).toEqual([1, -0.5, 3.3895313892515355e38, 2 ** -133]);
    expect([...(tensors.get('i64')!.toTypedArray() as BigInt64Array)]).toEqual([2n ** 63n - 1n, -(2n ** 63n), 0n, -1n]);
    expect(tensors.get('i32')!.tolist()).toEqual([2 ** 31 - 1, -(2 ** 31), 7]);
    expect(tensors.get('i16')!.tolist()).toEqual([32767, -32768, 5]);
    expect(tensors.get('i8')!.tolist()).toEqual([127, -128, 0]);
    expect(tensors.get('u8')!.tolist()).toEqual([255, 0, 128]);
    expect(tensors.get('bool')!.tolist()).toEqual([
      [true, false],
      [false, true],
    ]);
    expect(tensors.get('scalar')!.shape).toEqual([]);
    expect(tensors.get('scalar')!.item()).toBe(2.5);
    expect(tensors.get('empty')!.shape).toEqual([0, 3]);
    expect(tensors.get('emptyInt')!.shape).toEqual([2, 0, 4]);
    expect(tensors.get('emptyInt')!.dtype).toBe('int64');
    const header = await readSafetensorsHeader(path);
    expect(header.tensors.get('scalar')).toEqual({ dtype: 'float32', shape: [], dataOffsets: expect.any(Array) });
    const [b, e] = header.tensors.get('empty')!.dataOffsets;
    expect(e - b).toBe(0);
    disposeAll(tensors);
    torch.dispose(Object.values(src));
  });

  it('writes non-contiguous views (transposed, sliced, expanded) in C order', async () => {
    const path = fileIn();
    const a = torch.arange(0, 12, 1, { dtype: 'float32' }).view([3, 4]);
    const tr = a.transpose(0, 1);
    const cols = a.narrow(1, 1, 2);
    const col = torch.tensor([[1], [2]], { dtype: 'int32' });
    const wide = col.expand([2, 3]);
    const grad = torch.ones([2], { requiresGrad: true });
    await saveSafetensors(path, { tr, cols, wide, grad });
    const { tensors } = await loadSafetensors(path);
    expect(tensors.get('tr')!.tolist()).toEqual(tr.tolist());
    expect(tensors.get('tr')!.shape).toEqual([4, 3]);
    expect(tensors.get('cols')!.tolist()).toEqual([
      [1, 2],
      [5, 6],
      [9, 10],
    ]);
    expect(tensors.get('wide')!.tolist()).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
    expect(tensors.get('grad')!.requiresGrad).toBe(false);
    disposeAll(tensors);
    torch.dispose([a, tr, cols, col, wide, grad]);
  });

  it('round-trips metadata, including unusual keys and an empty object', async () => {
    const path = fileIn();
    const metadata = JSON.parse('{"format":"pt","__proto__":"x","unicode ü ✓ 😀":"line\\nbreak \\"q\\"","":""}');
    const t = torch.ones([1]);
    await saveSafetensors(path, { t }, metadata);
    const got = await loadSafetensors(path);
    expect(got.metadata).toEqual(metadata);
    expect(Object.keys(got.metadata)).toContain('__proto__');
    expect(Object.getPrototypeOf(got.metadata)).toBe(Object.prototype);
    disposeAll(got.tensors);
    await saveSafetensors(path, { t }, {});
    expect(readFileSync(path).subarray(8).toString()).toMatch(/^\{"__metadata__":\{\},"t":/);
    expect((await readSafetensorsHeader(path)).metadata).toEqual({});
    t.dispose();
  });

  it('saves and loads an empty dict', async () => {
    const path = fileIn();
    await saveSafetensors(path, {});
    expect([...readFileSync(path)]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from('{}      ')]);
    const got = await loadSafetensors(path);
    expect(got.tensors.size).toBe(0);
  });

  it('loads onto a CUDA device when one is available', async () => {
    if (!torch.cuda.isAvailable()) return;
    const path = fileIn();
    const t = torch.arange(6, { dtype: 'bfloat16', device: 'cuda' }).view([2, 3]).transpose(0, 1);
    await saveSafetensors(path, { t });
    const { tensors } = await loadSafetensors(path, { device: 'cuda' });
    expect(tensors.get('t')!.device).toBe('cuda:0');
    expect(tensors.get('t')!.tolist()).toEqual(t.tolist());
    disposeAll(tensors);
    t.dispose();
  });
});

describe('safetensors byte layout', () => {
  it('matches a hand-assembled file: length, compact JSON, space padding, packed offsets', async () => {
    const path = fileIn();
    const a = torch.tensor([1, -2], { dtype: 'float32' });
    const b = torch.tensor([[1, 0, 1]], { dtype: 'bool' });
    const c = torch.tensor(new BigInt64Array([258n]));
    await saveSafetensors(
      path,
      new Map([
        ['a', a],
        ['b', b],
        ['c', c],
      ]),
      { format: 'pt' },
    );
    const json =
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"BOOL","shape":[1,3],"data_offsets":[8,11]},"c":{"dtype":"I64","shape":[1],"data_offsets":[11,19]}}';
    expect(json.length).toBe(197);
    const padded = json + ' '.repeat(3); // to 200, a multiple of 8
    const expected = Buffer.concat([
      Buffer.from([200, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from(padded, 'utf8'),
      Buffer.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]), // 1.0f, -2.0f
      Buffer.from([1, 0, 1]),
      Buffer.from([0x02, 0x01, 0, 0, 0, 0, 0, 0]), // 258 little endian
    ]);
    expect(readFileSync(path).equals(expected)).toBe(true);
    torch.dispose([a, b, c]);
  });

  it('pads by UTF-8 bytes, not UTF-16 units', async () => {
    const path = fileIn();
    const t = torch.zeros([0]);
    await saveSafetensors(path, { 'é😀': t });
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    expect(bytes.length).toBe(8 + n);
    const text = bytes.subarray(8).toString('utf8');
    expect(text.trimEnd()).toBe('{"é😀":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}');
    expect(Buffer.byteLength(text.trimEnd())).toBeGreaterThan(n - 8);
    t.dispose();
  });

  it('reads files written by others: unpadded header, unordered offsets, null metadata', async () => {
    const data = Buffer.concat([Buffer.from([7, 0, 0, 0]), Buffer.from(new Float64Array([0.5]).buffer)]);
    const path = writeRaw(
      assemble(
        {
          __metadata__: null,
          late: { dtype: 'I32', shape: [1], data_offsets: [0, 4] },
          early: { dtype: 'F64', shape: [], data_offsets: [4, 12], extra: 'ignored' },
        },
        data,
      ),
    );
    const header = await readSafetensorsHeader(path);
    expect([...header.tensors.keys()]).toEqual(['late', 'early']);
    expect(header.dataStart).toBe(readFileSync(path).length - 12);
    const { tensors, metadata } = loadSafetensorsSync(path);
    expect(metadata).toEqual({});
    expect(tensors.get('late')!.tolist()).toEqual([7]);
    expect(tensors.get('early')!.item()).toBe(0.5);
    disposeAll(tensors);
  });
});

describe('safetensors rejects malformed files', () => {
  const f32 = (shape: number[], offsets: [number, number]) => ({ dtype: 'F32', shape, data_offsets: offsets });
  let good: Uint8Array;
  let headerLen: number;
  beforeAll(async () => {
    const path = fileIn();
    const a = torch.arange(0, 6, 1, { dtype: 'float32' });
    const b = torch.ones([4], { dtype: 'int64' });
    await saveSafetensors(path, { a, b });
    torch.dispose([a, b]);
    good = readFileSync(path);
    headerLen = Number(Buffer.from(good).readBigUInt64LE(0));
  });

  it('a file truncated anywhere: in the length, in the header, in the data', async () => {
    const cuts = [0, 1, 7, 8, 9, 8 + headerLen - 1, 8 + headerLen, 8 + headerLen + 3, good.length - 8, good.length - 1];
    for (const cut of cuts) await expectRejected(writeRaw(good.subarray(0, cut)), /truncated/);
    await expectRejected(writeRaw(good.subarray(0, 5)), /5 bytes, too short/);
    await expectRejected(writeRaw(good.subarray(0, 8 + headerLen - 1)), new RegExp(`header length ${headerLen} runs past the end`));
    await expectRejected(
      writeRaw(good.subarray(0, good.length - 1)),
      /"b": data_offsets \[24, 56\] run past the end of the 55-byte data buffer/,
    );
  });

  it('a header length of 0, over 100 MB, or past the end', async () => {
    await expectRejected(writeRaw(assemble('{}', undefined, 0n)), /header length is 0/);
    await expectRejected(writeRaw(assemble('{}', undefined, 100_000_001n)), /header length 100000001 exceeds the 100000000-byte limit/);
    await expectRejected(writeRaw(assemble('{}', undefined, 2n ** 64n - 1n)), /exceeds the 100000000-byte limit/);
    await expectRejected(writeRaw(assemble('{}', undefined, 3n)), /header length 3 runs past the end of the file \(10 bytes\)/);
  });

  it('a header that is not UTF-8 JSON of an object', async () => {
    await expectRejected(writeRaw(assemble('{"a": ')), /header is not valid JSON/);
    await expectRejected(writeRaw(assemble('{bad json}')), /header is not valid JSON/);
    await expectRejected(writeRaw(assemble(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))), /header is not valid UTF-8/);
    await expectRejected(writeRaw(assemble('[1,2]   ')), /header must be a JSON object, got an array/);
    await expectRejected(writeRaw(assemble('null')), /header must be a JSON object, got null/);
  });

  it('bad entries: not an object, unknown dtype, bad shape, bad offsets', async () => {
    const four = new Uint8Array(4);
    await expectRejected(writeRaw(assemble({ a: [1] }, four)), /tensor "a": entry must be an object, got an array/);
    await expectRejected(
      writeRaw(assemble({ a: { ...f32([1], [0, 4]), dtype: 'X99' } }, four)),
      /tensor "a": unknown or unsupported dtype "X99"/,
    );
    await expectRejected(writeRaw(assemble({ a: { ...f32([1], [0, 4]), dtype: 'U16' } }, four)), /unknown or unsupported dtype "U16"/);
    await expectRejected(writeRaw(assemble({ a: { shape: [1], data_offsets: [0, 4] } }, four)), /unknown or unsupported dtype undefined/);
    for (const shape of [[-1], [1.5], ['1'], 4, null, [2 ** 53]])
      await expectRejected(
        writeRaw(assemble({ a: { dtype: 'F32', shape, data_offsets: [0, 4] } }, four)),
        /tensor "a": shape must be an array of non-negative integers/,
      );
    for (const offsets of [[4, 0], [0], [0, 4, 4], [-4, 0], [0, '4'], [0, 2 ** 53], null])
      await expectRejected(
        writeRaw(assemble({ a: { dtype: 'F32', shape: [1], data_offsets: offsets } }, four)),
        /tensor "a": data_offsets must be two non-negative integers/,
      );
  });

  it('an offset out of range', async () => {
    await expectRejected(
      writeRaw(assemble({ a: f32([1], [0, 4]), b: f32([1], [100, 104]) }, new Uint8Array(8))),
      /tensor "b": data_offsets \[100, 104\] run past the end of the 8-byte data buffer \(truncated file, or offset out of range\)/,
    );
  });

  it('a size that does not match shape × dtype, also for huge shapes', async () => {
    await expectRejected(
      writeRaw(assemble({ a: f32([3], [0, 8]) }, new Uint8Array(8))),
      /tensor "a": data_offsets \[0, 8\] hold 8 bytes but shape \[3\] of F32 needs 12 \(size mismatch\)/,
    );
    await expectRejected(
      writeRaw(assemble({ a: { dtype: 'BF16', shape: [2, 2], data_offsets: [0, 4] } }, new Uint8Array(4))),
      /needs 8 \(size mismatch\)/,
    );
    const huge = 2 ** 52;
    await expectRejected(
      writeRaw(assemble({ a: { dtype: 'U8', shape: [huge, huge, 0, 1], data_offsets: [0, 4] } }, new Uint8Array(4))),
      /needs 0 \(size mismatch\)/,
    );
  });

  it('overlapping offsets, a hole, trailing bytes', async () => {
    await expectRejected(
      writeRaw(assemble({ a: f32([2], [0, 8]), b: f32([2], [4, 12]) }, new Uint8Array(12))),
      /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/,
    );
    await expectRejected(writeRaw(assemble({ a: f32([1], [0, 4]), b: f32([1], [0, 4]) }, new Uint8Array(4))), /overlap/);
    await expectRejected(
      writeRaw(assemble({ a: f32([1], [0, 4]), b: f32([1], [8, 12]) }, new Uint8Array(12))),
      /hole in the data buffer: bytes \[4, 8\) before tensor "b"/,
    );
    await expectRejected(writeRaw(assemble({ b: f32([1], [4, 8]) }, new Uint8Array(8))), /hole in the data buffer: bytes \[0, 4\)/);
    await expectRejected(
      writeRaw(assemble({ a: f32([1], [0, 4]) }, new Uint8Array(6))),
      /cover 4 bytes of the 6-byte data buffer \(2 trailing bytes/,
    );
    await expectRejected(writeRaw(assemble({}, new Uint8Array(1))), /cover 0 bytes of the 1-byte data buffer/);
  });

  it('non-string or non-object metadata', async () => {
    await expectRejected(
      writeRaw(assemble({ __metadata__: { a: 'x', step: 3 } })),
      /metadata value for key "step" must be a string, got 3/,
    );
    await expectRejected(writeRaw(assemble({ __metadata__: { a: null } })), /metadata value for key "a" must be a string, got null/);
    await expectRejected(writeRaw(assemble({ __metadata__: ['x'] })), /"__metadata__" must be an object of strings, got an array/);
  });

  it('BOOL bytes other than 0 and 1', async () => {
    const path = writeRaw(assemble({ m: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }, new Uint8Array([1, 0, 2])));
    await expect(loadSafetensors(path)).rejects.toThrow(`${path}: tensor "m": BOOL element 2 holds byte 2 (must be 0 or 1)`);
  });

  it('a missing file, with the path first and the code kept', async () => {
    const path = join(freshDir(), 'nope.safetensors');
    const err = (await loadSafetensors(path).then(
      () => new Error('loaded'),
      (e: unknown) => e,
    )) as Error & { code?: string };
    expect(err.message).toMatch(new RegExp(`^${escapeRe(path)}: ENOENT`));
    expect(err.code).toBe('ENOENT');
  });

  it('leaks no tensors when rejecting, including when tensor creation fails', async () => {
    const base = liveMemory();
    for (const cut of [8 + headerLen, good.length - 1]) {
      const path = writeRaw(good.subarray(0, cut));
      await expect(loadSafetensors(path)).rejects.toThrow(path);
    }
    const okPath = writeRaw(good);
    await expect(loadSafetensors(okPath, { device: 'cuda:97' })).rejects.toThrow(
      new RegExp(`^${escapeRe(okPath)}: could not create tensor "a"`),
    );
    expect(() => loadSafetensorsSync(okPath, { device: 'bogus' as 'cpu' })).toThrow(okPath);
    injectFailure.countdown = 1; // the second tensor, "b"
    await expect(loadSafetensors(okPath)).rejects.toThrow(`${okPath}: could not create tensor "b": injected failure`);
    expect(injectFailure.countdown).toBe(-1);
    // At most the starting count: a rejected load adds nothing, while a tensor an earlier test
    // left to the garbage collector may be finalized during these awaits (seen in CI: 1 → 0).
    const noMore = () => {
      const now = liveMemory();
      expect(now.tensors).toBeLessThanOrEqual(base.tensors);
      expect(now.bytes).toBeLessThanOrEqual(base.bytes);
    };
    noMore();
    const { tensors } = loadSafetensorsSync(okPath); // and the file itself is fine
    expect([...tensors.keys()]).toEqual(['a', 'b']);
    disposeAll(tensors);
    noMore();
  });
});

describe('safetensors rejects a key given twice', () => {
  // JSON.parse would keep the last one; other readers may keep the first.
  const entry = (dtype = 'F32') => `{"dtype":"${dtype}","shape":[1],"data_offsets":[0,4]}`;
  const four = new Uint8Array(4);

  it('a tensor name, also when spelled with escapes', async () => {
    await expectRejected(
      writeRaw(assemble(`{"a":${entry()},"a":${entry('I32')}}`, four)),
      /header has the key "a" twice \(readers would disagree on which one counts\)$/,
    );
    await expectRejected(writeRaw(assemble(`{"a":${entry()},"\\u0061":${entry()}}`, four)), /header has the key "a" twice \(/);
  });

  it('a field of an entry, or a metadata key, naming where', async () => {
    await expectRejected(
      writeRaw(assemble(`{"w.0":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, four)),
      /the key "dtype" twice in "w.0" \(/,
    );
    await expectRejected(
      writeRaw(assemble(`{"__metadata__":{"step":"1","step":"2"},"a":${entry()}}`, four)),
      /the key "step" twice in "__metadata__" \(/,
    );
  });

  it('but not equal keys in different objects, nor quotes, colons and braces inside strings', async () => {
    const metadata = { 'x":{"': '"a":1}', '\\': '\\"', y: '[{"y":' };
    const path = writeRaw(
      assemble(
        {
          __metadata__: metadata,
          'a"b': { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          'x":{"': { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
        },
        new Uint8Array(8),
      ),
    );
    const loaded = await loadSafetensors(path);
    expect(loaded.metadata).toEqual(metadata);
    expect([...loaded.tensors.keys()]).toEqual(['a"b', 'x":{"']);
    disposeAll(loaded.tensors);
  });
});

describe('safetensors saving', () => {
  it('rejects bad names, non-tensors, disposed tensors and bad metadata with the path', async () => {
    const path = fileIn();
    const t = torch.ones([2]);
    const gone = torch.ones([2]);
    gone.dispose();
    const cases: [unknown, unknown, RegExp][] = [
      [{ '': t }, undefined, /tensor names must be non-empty strings/],
      [{ __metadata__: t }, undefined, /"__metadata__" is reserved/],
      [new Map([[3, t]]), undefined, /tensor names must be non-empty strings, got 3/],
      [{ ['bad\ud800']: t }, undefined, /not valid Unicode/],
      [{ a: [1, 2] }, undefined, /"a" is not a Tensor \(got an array\)/],
      [{ a: gone }, undefined, /tensor "a" has been disposed/],
      [t, undefined, /expected a Record or Map of tensors, got a Tensor/],
      [null, undefined, /expected a Record or Map of tensors, got null/],
      [{ a: t }, { step: 3 }, /metadata value for key "step" must be a string, got number/],
      [{ a: t }, ['x'], /metadata must be an object of strings, got an array/],
    ];
    for (const [tensors, metadata, reason] of cases) {
      const re = new RegExp(`^${escapeRe(path)}: .*${reason.source}`);
      await expect(saveSafetensors(path, tensors as Record<string, Tensor>, metadata as Record<string, string>)).rejects.toThrow(re);
      expect(() => saveSafetensorsSync(path, tensors as Record<string, Tensor>, metadata as Record<string, string>)).toThrow(re);
    }
    t.dispose();
  });

  it('a failed save over an existing file leaves it byte-identical and no temp files behind', async () => {
    const dir = freshDir();
    const path = join(dir, 'ckpt.safetensors');
    const t = torch.randn([16, 16]);
    await saveSafetensors(path, { t }, { step: '1' });
    const before = readFileSync(path);
    const gone = torch.ones([2]);
    gone.dispose();
    await expect(saveSafetensors(path, { t, gone })).rejects.toThrow(/has been disposed/);
    expect(() => saveSafetensorsSync(path, { t, gone })).toThrow(/has been disposed/);
    await expect(saveSafetensors(path, { t, __metadata__: t })).rejects.toThrow(/reserved/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
    // A successful save replaces it and still leaves only the target.
    await saveSafetensors(path, { t }, { step: '2' });
    expect((await readSafetensorsHeader(path)).metadata).toEqual({ step: '2' });
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
    t.dispose();
  });

  it('into a missing directory fails with the path and creates nothing', async () => {
    const dir = freshDir();
    const path = join(dir, 'missing', 'x.safetensors');
    const t = torch.ones([1]);
    await expect(saveSafetensors(path, { t })).rejects.toThrow(new RegExp(`^${escapeRe(path)}: ENOENT`));
    expect(readdirSync(dir)).toEqual([]);
    t.dispose();
  });
});

describe('atomic writes', () => {
  it('writes one buffer or chunks, and JSON with a trailing newline', async () => {
    const dir = freshDir();
    await writeFileAtomic(join(dir, 'a.bin'), [Buffer.from('ab'), new Uint8Array(0), Buffer.from('cd')]);
    writeFileAtomicSync(join(dir, 'b.bin'), Buffer.from('xyz'));
    await writeJsonAtomic(join(dir, 'c.json'), { a: [1, 2], b: 'x' });
    expect(readFileSync(join(dir, 'a.bin'), 'utf8')).toBe('abcd');
    expect(readFileSync(join(dir, 'b.bin'), 'utf8')).toBe('xyz');
    expect(readFileSync(join(dir, 'c.json'), 'utf8')).toBe('{\n  "a": [\n    1,\n    2\n  ],\n  "b": "x"\n}\n');
    expect(readdirSync(dir).sort()).toEqual(['a.bin', 'b.bin', 'c.json']);
    await expect(writeJsonAtomic(join(dir, 'd.json'), undefined)).rejects.toThrow(/cannot be written as JSON/);
    expect(readdirSync(dir).sort()).toEqual(['a.bin', 'b.bin', 'c.json']);
  });

  it('a failing rename removes the temp file and leaves the target alone', async () => {
    const dir = freshDir();
    const target = join(dir, 'target');
    mkdirSync(target);
    writeFileSync(join(target, 'keep'), 'x'); // a non-empty directory cannot be renamed over
    await expect(writeFileAtomic(target, Buffer.from('data'))).rejects.toThrow();
    expect(() => writeFileAtomicSync(target, Buffer.from('data'))).toThrow();
    expect(readdirSync(dir)).toEqual(['target']);
    expect(readdirSync(target)).toEqual(['keep']);
  });

  it('a bad chunk fails before anything is written', async () => {
    const dir = freshDir();
    const path = join(dir, 'f');
    writeFileSync(path, 'old');
    await expect(writeFileAtomic(path, [Buffer.from('a'), 'b' as unknown as Uint8Array])).rejects.toThrow(/chunk 1 must be a Uint8Array/);
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['f']);
  });
});

describe('safetensors memory', () => {
  it('200 load/dispose cycles return torch.memory() to its baseline', async () => {
    const path = fileIn();
    const src = { w: torch.randn([32, 32]), b: torch.zeros([32], { dtype: 'bfloat16' }), ids: torch.arange(10) };
    await saveSafetensors(path, src);
    torch.dispose(Object.values(src));
    const base = liveMemory();
    for (let i = 0; i < 200; i++) {
      const { tensors } = i % 2 ? loadSafetensorsSync(path) : await loadSafetensors(path);
      expect(tensors.size).toBe(3);
      disposeAll(tensors);
    }
    expect(liveMemory()).toEqual(base);
  });
});

// Reading streams each tensor in pieces of READ_CHUNK_BYTES into its destination (issue 31).
describe('safetensors streaming', () => {
  it('reads tensors larger than a piece exactly, and casts into any dtype as copy_ does', async () => {
    const n = READ_CHUNK_BYTES / 4 + 12345; // f32: two pieces, the second partial
    const tensors = new Map<string, Tensor>([
      // Finite values (a cast's NaN payload is not the point), spread over many exponents.
      ['f32', torch.tidy(() => torch.randn([n]).mul(torch.randn([n]).mul(8).exp()))],
      [
        'bf16',
        torch.tidy(() =>
          torch
            .randn([2 * n + 3])
            .mul(1e3)
            .to('bfloat16'),
        ),
      ],
      ['f16', torch.tidy(() => torch.randn([3, 7, 1001]).mul(100).to('float16'))],
      ['i64', fromBytes(patternBytes('int64', n, 4), 'int64', [n])],
      ['mask', fromBytes(patternBytes('bool', n, 5), 'bool', [n])],
    ]);
    const path = fileIn();
    await saveSafetensors(path, tensors);
    const file = readFileSync(path);
    const header = await readSafetensorsHeader(path);
    // The old loader's values: each tensor made from its whole slice of the file.
    const whole = (name: string): Tensor => {
      const { dtype, shape, dataOffsets } = header.tensors.get(name)!;
      return fromBytes(file.subarray(header.dataStart + dataOffsets[0], header.dataStart + dataOffsets[1]), dtype, shape);
    };
    for (const loaded of [(await loadSafetensors(path)).tensors, loadSafetensorsSync(path).tensors]) {
      for (const [name, t] of loaded) {
        const want = whole(name);
        expect(Buffer.compare(toBytes(t), toBytes(want)), name).toBe(0);
        torch.dispose([t, want]);
      }
    }
    const reader = await SafetensorsReader.open(path);
    try {
      for (const [name, dtype] of [
        ['bf16', 'float32'],
        ['bf16', 'bfloat16'],
        ['f16', 'float32'],
        ['f32', 'bfloat16'],
        ['f32', 'float16'],
      ] as const) {
        const want = torch.tidy(() => whole(name).to(dtype));
        const got = torch.empty(want.shape, { dtype });
        await reader.readInto(name, got);
        expect(Buffer.compare(toBytes(got), toBytes(want)), `${name} → ${dtype}`).toBe(0);
        torch.dispose([got, want]);
      }
      const wrong = torch.empty([3]);
      await expect(reader.readInto('f32', wrong)).rejects.toThrow(
        `${path}: tensor "f32" has ${n} elements (shape [${n}]), the destination 3`,
      );
      await expect(reader.readInto('nope', wrong)).rejects.toThrow(`${path}: no tensor "nope" in the file`);
      wrong.dispose();
    } finally {
      await reader.close();
    }
    torch.dispose([...tensors.values()]);
  });

  it('a file cut short after its header was read fails with the path, and leaks nothing', async () => {
    const n = READ_CHUNK_BYTES / 4 + 1;
    const a = torch.ones([n]);
    const path = fileIn();
    await saveSafetensors(path, { a, b: a });
    a.dispose();
    const base = liveMemory();
    const reader = await SafetensorsReader.open(path);
    const size = readFileSync(path).length;
    writeFileSync(path, readFileSync(path).subarray(0, size - 10)); // truncated in place, under the open reader
    const dst = torch.empty([n]);
    await expect(reader.readInto('b', dst)).rejects.toThrow(new RegExp(`^${escapeRe(path)}: file ended after \\d+ bytes while reading`));
    await reader.close();
    dst.dispose();
    expect(liveMemory().tensors).toBe(base.tensors);
  });
});

// Saving makes each tensor's bytes only when the writer reaches it (issue 31): a checkpoint of
// weights and optimizer state must not hold every tensor's bytes at once beside the tensors.
describe('safetensors streaming save', () => {
  it('holds about one tensor of bytes at a time while it writes', () => {
    const dist = new URL('../dist/index.js', import.meta.url);
    const dir = mkdtempSync(join(tmpdir(), 'st-save-'));
    // 48 tensors of 8 MiB: 384 MiB in all.
    const script = `
      const { torch, saveSafetensors } = await import(${JSON.stringify(dist.href)});
      const tensors = new Map(Array.from({ length: 48 }, (_, i) => ['t' + i, torch.full([2 ** 21], i)]));
      const before = process.resourceUsage().maxRSS * 1024;
      await saveSafetensors(${JSON.stringify(join(dir, 'big.safetensors'))}, tensors);
      console.log(JSON.stringify({ over: process.resourceUsage().maxRSS * 1024 - before }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { over } = JSON.parse(r.stdout.trim()) as { over: number };
    // Before: every tensor's bytes at once, 384 MiB above the tensors. Now pieces, which the
    // garbage collector takes back at its own pace: a bound independent of the checkpoint's size.
    expect(over).toBeLessThan(160 * 2 ** 20);
    const back = loadSafetensorsSync(join(dir, 'big.safetensors')).tensors;
    expect(back.size).toBe(48);
    expect(back.get('t47')!.max().item()).toBe(47);
    torch.dispose([...back.values()]);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
