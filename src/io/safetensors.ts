// The safetensors format (https://github.com/huggingface/safetensors), read and written in
// TypeScript: an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON header,
// then the data buffer. The header maps each tensor name to {dtype, shape, data_offsets}
// (offsets relative to the buffer), plus an optional "__metadata__" of string → string.
// Files come from elsewhere, so the reader trusts nothing: the whole header is validated
// (no key may appear twice) against the file size before the data is read or a single tensor
// is created.
import { closeSync, fstatSync, openSync, promises as fsp, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { fromBytes, toBytes } from '../tensor/bytes.js';
import { empty } from '../tensor/creation.js';
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { ITEM_SIZE, type DType, type Device } from '../tensor/types.js';
import { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
import { findDuplicateKey } from './json-duplicate-keys.js';

/** One tensor's entry in a safetensors header. */
export interface SafetensorsTensorInfo {
  dtype: DType;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data buffer. */
  dataOffsets: [number, number];
}

/** A validated safetensors header, tensors in the order of their data. */
export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
  /** Byte position of the data buffer in the file (8 + header length). */
  dataStart: number;
}

export interface LoadSafetensorsOptions {
  /** Where to put the tensors (default: the CPU). */
  device?: Device;
}

export interface LoadedSafetensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Tensors by name: a Map keeps any insertion order, a Record the usual property order. */
export type TensorDict = Record<string, Tensor> | Map<string, Tensor>;

// ---- format constants ----

const FILE_DTYPE: Record<DType, string> = {
  float32: 'F32',
  float64: 'F64',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};
const DTYPE_OF = new Map<string, DType>(Object.entries(FILE_DTYPE).map(([d, f]) => [f, d as DType]));
/** The reference implementation's limit: a bigger header means a corrupt or hostile file. */
const MAX_HEADER_LENGTH = 100_000_000;
const METADATA_KEY = '__metadata__';
const LONE_SURROGATE = /\p{Cs}/u; // not encodable as UTF-8, so not a valid name or string

// ---- errors ----

/** Every error names the file first, so a failing checkpoint in a batch is easy to spot. */
function fail(path: string, reason: string): never {
  throw new Error(`${path}: ${reason}`);
}
/** Prefixes errors from fs or the addon with the path, keeping the original as `cause`. */
function withPath(path: string, err: unknown): Error {
  if (err instanceof Error && err.message.startsWith(`${path}: `)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const wrapped = new Error(`${path}: ${msg}`, { cause: err });
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== undefined) Object.assign(wrapped, { code }); // keep ENOENT & co. testable
  return wrapped;
}
function assertLittleEndian(path: string): void {
  // Tensor bytes are copied as they are in memory; safetensors is little endian.
  if (endianness() !== 'LE') fail(path, 'safetensors I/O needs a little-endian host');
}
const show = (v: unknown): string => {
  const s = v === undefined ? 'undefined' : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};
const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const q = JSON.stringify; // names in messages, quoted and escaped

// ---- reading: validation ----

/** The header length from the first 8 bytes, checked against the file size. */
function headerLength(path: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8) fail(path, `file is ${fileSize} bytes, too short for the 8-byte header length (truncated, or not a safetensors file)`);
  const n = Buffer.from(prefix.buffer, prefix.byteOffset, 8).readBigUInt64LE(0);
  if (n === 0n) fail(path, 'header length is 0 (not a safetensors file)');
  if (n > BigInt(MAX_HEADER_LENGTH))
    fail(path, `header length ${n} exceeds the ${MAX_HEADER_LENGTH}-byte limit (corrupt, or not a safetensors file)`);
  if (8n + n > BigInt(fileSize)) fail(path, `header length ${n} runs past the end of the file (${fileSize} bytes): the file is truncated`);
  return Number(n);
}

/** Parses and fully validates a header whose data buffer holds `bufferLength` bytes. */
function parseHeader(path: string, bytes: Uint8Array, bufferLength: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    fail(path, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    fail(path, `header is not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) fail(path, `header must be a JSON object, got ${kind(json)}`);
  const duplicate = findDuplicateKey(text);
  if (duplicate !== null) {
    const where = duplicate.path.length > 0 ? ` in ${duplicate.path.map((k) => q(k)).join(' → ')}` : '';
    fail(path, `header has the key ${q(duplicate.key)} twice${where} (readers would disagree on which one counts)`);
  }

  let metadata: Record<string, string> = {};
  const entries: [string, SafetensorsTensorInfo][] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === METADATA_KEY) metadata = parseMetadata(path, raw);
    else entries.push([name, parseEntry(path, name, raw, bufferLength)]);
  }
  checkLayout(path, entries, bufferLength);
  return { tensors: new Map(entries), metadata, dataStart: 8 + bytes.byteLength };
}

function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (raw === null) return {}; // the reference reader takes null as "no metadata"
  if (!isObject(raw)) fail(path, `"${METADATA_KEY}" must be an object of strings, got ${kind(raw)}`);
  for (const [k, v] of Object.entries(raw))
    if (typeof v !== 'string') fail(path, `metadata value for key ${q(k)} must be a string, got ${show(v)}`);
  // fromEntries defines own properties, so a "__proto__" key stays a plain key.
  return Object.fromEntries(Object.entries(raw)) as Record<string, string>;
}

function parseEntry(path: string, name: string, raw: unknown, bufferLength: number): SafetensorsTensorInfo {
  const where = `tensor ${q(name)}`;
  if (!isObject(raw)) fail(path, `${where}: entry must be an object, got ${kind(raw)}`);
  const { dtype: fileDtype, shape, data_offsets: offsets } = raw;
  const dtype = typeof fileDtype === 'string' ? DTYPE_OF.get(fileDtype) : undefined;
  if (dtype === undefined)
    fail(path, `${where}: unknown or unsupported dtype ${show(fileDtype)} (supported: ${[...DTYPE_OF.keys()].join(', ')})`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    fail(path, `${where}: shape must be an array of non-negative integers, got ${show(shape)}`);
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  )
    fail(path, `${where}: data_offsets must be two non-negative integers [begin, end] with begin <= end, got ${show(offsets)}`);
  const [begin, end] = offsets as [number, number];
  if (end > bufferLength)
    fail(
      path,
      `${where}: data_offsets [${begin}, ${end}] run past the end of the ${bufferLength}-byte data buffer (truncated file, or ` +
        'offset out of range)',
    );
  // BigInt: a hostile shape could overflow doubles and happen to match.
  const need = shape.reduce((n: bigint, d: number) => n * BigInt(d), BigInt(ITEM_SIZE[dtype]));
  if (need !== BigInt(end - begin))
    fail(
      path,
      `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape.join(', ')}] of ${fileDtype} needs ` +
        `${need} (size mismatch)`,
    );
  return { dtype, shape: shape.slice() as number[], dataOffsets: [begin, end] };
}

/** The tensors must tile the buffer exactly: no overlap, no hole, nothing left over. Sorts `entries`. */
function checkLayout(path: string, entries: [string, SafetensorsTensorInfo][], bufferLength: number): void {
  // Empty tensors (begin = end) sort before a tensor starting at the same byte.
  entries.sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  let prev: [string, SafetensorsTensorInfo] | undefined;
  for (const entry of entries) {
    const [begin, end] = entry[1].dataOffsets;
    if (begin < cursor)
      fail(
        path,
        `tensors ${q(prev![0])} [${prev![1].dataOffsets.join(', ')}] and ${q(entry[0])} [${begin}, ${end}] overlap in the data buffer`,
      );
    if (begin > cursor) fail(path, `hole in the data buffer: bytes [${cursor}, ${begin}) before tensor ${q(entry[0])} belong to no tensor`);
    cursor = end;
    prev = entry;
  }
  if (cursor !== bufferLength)
    fail(
      path,
      `the tensors cover ${cursor} bytes of the ${bufferLength}-byte data buffer (${bufferLength - cursor} trailing bytes belong ` +
        'to no tensor)',
    );
}

/** libtorch's bool must be 0 or 1; any other byte would be undefined behaviour, not `true`. */
function checkBools(path: string, name: string, bytes: Uint8Array, firstElement: number): void {
  for (let i = 0; i < bytes.length; i++)
    if (bytes[i]! > 1) fail(path, `tensor ${q(name)}: BOOL element ${firstElement + i} holds byte ${bytes[i]} (must be 0 or 1)`);
}

// ---- reading: streaming ----
// A tensor's bytes are read in pieces of at most READ_CHUNK_BYTES into one reused buffer, and
// each piece is converted straight into its destination (any dtype, any device). So a load holds
// at most one piece above the tensors it makes: never the file, nor a copy in the file's dtype.

/** The most bytes read at once, and so what loading holds above the tensors it makes (twice: the read and its tensor). */
export const READ_CHUNK_BYTES = 8 << 20;

/** One read: `length` bytes at `position` in the file. */
interface Piece {
  position: number;
  length: number;
}

/**
 * Streams one tensor of the file into `dst` (same number of elements, contiguous, any dtype or
 * device: each piece is cast on the way, as copy_ does): yields the reads it needs and copies
 * each buffer it is given.
 */
function* streamTensor(path: string, header: SafetensorsHeader, name: string, dst: Tensor): Generator<Piece, void, Uint8Array> {
  const info = header.tensors.get(name);
  if (info === undefined) fail(path, `no tensor ${q(name)} in the file`);
  const { dtype, shape } = info;
  const [begin, end] = info.dataOffsets;
  const size = ITEM_SIZE[dtype];
  if (dst.numel() !== (end - begin) / size)
    fail(path, `tensor ${q(name)} has ${(end - begin) / size} elements (shape [${shape.join(', ')}]), the destination ${dst.numel()}`);
  const step = Math.max(size, READ_CHUNK_BYTES - (READ_CHUNK_BYTES % size));
  for (let at = begin; at < end; at += step) {
    const length = Math.min(step, end - at);
    const element = (at - begin) / size;
    const bytes = yield { position: header.dataStart + at, length };
    if (dtype === 'bool') checkBools(path, name, bytes, element);
    noGrad(() =>
      tidy(() => {
        dst
          .view(-1)
          .narrow(0, element, length / size)
          .copy_(fromBytes(bytes, dtype, [length / size]));
      }),
    );
  }
}

/** The largest read a stream of this file makes: the size of its one reused buffer. */
const bufferSize = (header: SafetensorsHeader): number =>
  [...header.tensors.values()].reduce((n, t) => Math.max(n, Math.min(READ_CHUNK_BYTES, t.dataOffsets[1] - t.dataOffsets[0])), 0);

/** A new tensor of the file's dtype and shape for `name`, on `device`. */
function emptyFor(path: string, header: SafetensorsHeader, name: string, device: Device | undefined): Tensor {
  const info = header.tensors.get(name);
  if (info === undefined) fail(path, `no tensor ${q(name)} in the file`);
  return empty(info.shape, { dtype: info.dtype, device });
}

// ---- reading: file access ----
// The file is read piecewise: the length, then the header, then (to load) each tensor in pieces,
// so a bad header fails before any data is read. `into` is a reused buffer of at least `length`.

async function readAt(path: string, fh: fsp.FileHandle, length: number, position: number, into?: Buffer): Promise<Buffer> {
  const buf = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  for (let off = 0; off < length; ) {
    const { bytesRead } = await fh.read(buf, off, Math.min(length - off, 1 << 30), position + off);
    if (bytesRead === 0) fail(path, `file ended after ${position + off} bytes while reading: it was truncated while being read`);
    off += bytesRead;
  }
  return buf;
}
function readAtSync(path: string, fd: number, length: number, position: number, into?: Buffer): Buffer {
  const buf = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  for (let off = 0; off < length; ) {
    const bytesRead = readSync(fd, buf, off, Math.min(length - off, 1 << 30), position + off);
    if (bytesRead === 0) fail(path, `file ended after ${position + off} bytes while reading: it was truncated while being read`);
    off += bytesRead;
  }
  return buf;
}

async function readHeaderFrom(path: string, fh: fsp.FileHandle): Promise<{ header: SafetensorsHeader; size: number }> {
  const { size } = await fh.stat();
  const n = headerLength(path, await readAt(path, fh, Math.min(8, size), 0), size);
  return { header: parseHeader(path, await readAt(path, fh, n, 8), size - 8 - n), size };
}
function readHeaderFromSync(path: string, fd: number): { header: SafetensorsHeader; size: number } {
  const { size } = fstatSync(fd);
  const n = headerLength(path, readAtSync(path, fd, Math.min(8, size), 0), size);
  return { header: parseHeader(path, readAtSync(path, fd, n, 8), size - 8 - n), size };
}

/** Reads and validates only the header, e.g. to check shapes before loading a checkpoint. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  try {
    const fh = await fsp.open(path, 'r');
    try {
      return (await readHeaderFrom(path, fh)).header;
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw withPath(path, err);
  }
}

/** Synchronous twin of {@link readSafetensorsHeader}. */
export function readSafetensorsHeaderSync(path: string): SafetensorsHeader {
  try {
    const fd = openSync(path, 'r');
    try {
      return readHeaderFromSync(path, fd).header;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw withPath(path, err);
  }
}

/**
 * An open safetensors file with a validated header, read one tensor at a time, each straight into
 * its destination: what a model loader uses so that no more than a piece of the file is held
 * beside the model. The file stays open (a file replaced meanwhile is not read); close it.
 */
export class SafetensorsReader {
  readonly header: SafetensorsHeader;
  #fh: fsp.FileHandle | null;
  #buffer: Buffer;

  private constructor(
    readonly path: string,
    fh: fsp.FileHandle,
    header: SafetensorsHeader,
  ) {
    this.#fh = fh;
    this.header = header;
    this.#buffer = Buffer.allocUnsafe(bufferSize(header));
  }

  /** Opens `path` and validates its header (errors name the file). */
  static async open(path: string): Promise<SafetensorsReader> {
    try {
      assertLittleEndian(path);
      const fh = await fsp.open(path, 'r');
      try {
        return new SafetensorsReader(path, fh, (await readHeaderFrom(path, fh)).header);
      } catch (err) {
        await fh.close();
        throw err;
      }
    } catch (err) {
      throw withPath(path, err);
    }
  }

  /** Reads tensor `name` into `dst` (the same number of elements, contiguous), cast to dst's dtype and device. */
  async readInto(name: string, dst: Tensor): Promise<void> {
    const fh = this.#fh;
    if (fh === null) fail(this.path, 'the reader is closed');
    try {
      const steps = streamTensor(this.path, this.header, name, dst);
      for (let r = steps.next(); !r.done; ) r = steps.next(await readAt(this.path, fh, r.value.length, r.value.position, this.#buffer));
    } catch (err) {
      throw withPath(this.path, err);
    }
  }

  /** Tensor `name` as stored (its dtype and shape), on `device`. The caller owns it. */
  async read(name: string, device?: Device): Promise<Tensor> {
    const t = emptyFor(this.path, this.header, name, device);
    try {
      await this.readInto(name, t);
      return t;
    } catch (err) {
      t.dispose();
      throw err;
    }
  }

  async close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = null;
    await fh?.close();
  }
}

/** Every tensor of the header, read by `readInto` into new tensors; all or none. */
function createAll(
  path: string,
  header: SafetensorsHeader,
  device: Device | undefined,
  readInto: (name: string, t: Tensor) => void,
): Map<string, Tensor>;
function createAll(
  path: string,
  header: SafetensorsHeader,
  device: Device | undefined,
  readInto: (name: string, t: Tensor) => Promise<void>,
): Promise<Map<string, Tensor>>;
function createAll(
  path: string,
  header: SafetensorsHeader,
  device: Device | undefined,
  readInto: (name: string, t: Tensor) => void | Promise<void>,
): Map<string, Tensor> | Promise<Map<string, Tensor>> {
  const out = new Map<string, Tensor>();
  const names = [...header.tensors.keys()];
  let current = '';
  const failed = (err: unknown): never => {
    for (const t of out.values()) t.dispose();
    const msg = (err as Error).message;
    if (msg.startsWith(`${path}: tensor `)) throw err; // already names the tensor (a bad BOOL byte)
    const reason = msg.startsWith(`${path}: `) ? msg.slice(path.length + 2) : msg;
    throw new Error(`${path}: could not create tensor ${q(current)}: ${reason}`, { cause: err });
  };
  const next = (i: number): Map<string, Tensor> | Promise<Map<string, Tensor>> => {
    for (; i < names.length; i++) {
      let r: void | Promise<void>;
      try {
        current = names[i]!;
        const t = emptyFor(path, header, current, device);
        out.set(current, t);
        r = readInto(current, t);
      } catch (err) {
        return failed(err);
      }
      if (r instanceof Promise) return r.then(() => next(i + 1), failed);
    }
    return out;
  };
  return next(0);
}

/**
 * Loads every tensor of a safetensors file (onto `options.device`, default CPU), in the
 * order of their data. The caller owns the tensors. File I/O runs on libuv's thread pool, and
 * the file is streamed: loading holds one piece of it beside the tensors, not the whole file.
 */
export async function loadSafetensors(path: string, options: LoadSafetensorsOptions = {}): Promise<LoadedSafetensors> {
  const reader = await SafetensorsReader.open(path);
  try {
    const tensors = await createAll(path, reader.header, options.device, (name, t) => reader.readInto(name, t));
    return { tensors, metadata: reader.header.metadata };
  } finally {
    await reader.close();
  }
}

/** Synchronous twin of {@link loadSafetensors}. */
export function loadSafetensorsSync(path: string, options: LoadSafetensorsOptions = {}): LoadedSafetensors {
  try {
    assertLittleEndian(path);
    const fd = openSync(path, 'r');
    try {
      const { header } = readHeaderFromSync(path, fd);
      const buffer = Buffer.allocUnsafe(bufferSize(header));
      const tensors = createAll(path, header, options.device, (name, t) => {
        const steps = streamTensor(path, header, name, t);
        for (let r = steps.next(); !r.done; ) r = steps.next(readAtSync(path, fd, r.value.length, r.value.position, buffer));
      });
      return { tensors, metadata: header.metadata };
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw withPath(path, err);
  }
}

// ---- writing ----

/** Checks names, tensors and metadata before any tensor is copied out. */
function validateForSave(path: string, tensors: TensorDict, metadata: Record<string, string> | undefined): [string, Tensor][] {
  if (tensors instanceof Tensor || !(tensors instanceof Map || isObject(tensors)))
    fail(path, `expected a Record or Map of tensors, got ${tensors instanceof Tensor ? 'a Tensor' : kind(tensors)}`);
  const entries: [string, Tensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const seen = new Set<string>();
  for (const [name, t] of entries) {
    if (typeof name !== 'string' || name === '') fail(path, `tensor names must be non-empty strings, got ${show(name)}`);
    if (name === METADATA_KEY) fail(path, `${q(METADATA_KEY)} is reserved and cannot name a tensor`);
    if (LONE_SURROGATE.test(name)) fail(path, `tensor name ${q(name)} is not valid Unicode (lone surrogate)`);
    if (seen.has(name)) fail(path, `duplicate tensor name ${q(name)}`);
    seen.add(name);
    if (!(t instanceof Tensor)) fail(path, `${q(name)} is not a Tensor (got ${kind(t)})`);
    if (t.isDisposed) fail(path, `tensor ${q(name)} has been disposed`);
    if (!(t.dtype in FILE_DTYPE)) fail(path, `tensor ${q(name)} has dtype ${t.dtype}, which safetensors I/O does not support`);
  }
  if (metadata !== undefined) {
    if (!isObject(metadata)) fail(path, `metadata must be an object of strings, got ${kind(metadata)}`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(path, `metadata value for key ${q(k)} must be a string, got ${kind(v)}`);
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) fail(path, `metadata entry ${q(k)} is not valid Unicode (lone surrogate)`);
    }
  }
  return entries;
}

/**
 * The file as chunks: length, header (space-padded to 8 bytes, as the reference writer), then each
 * tensor's data, made only when the writer reaches it. The header needs only shapes and dtypes, so
 * saving holds one tensor's bytes at a time beside the tensors: a checkpoint of weights and AdamW
 * state no longer doubles the process's memory while it is written.
 */
function serialize(path: string, tensors: TensorDict, metadata: Record<string, string> | undefined): Iterable<Uint8Array> {
  const entries = validateForSave(path, tensors, metadata);
  const fields: string[] = [];
  // Written only when given, like the reference writer (which writes an empty {} too).
  if (metadata !== undefined)
    fields.push(
      `"${METADATA_KEY}":{${Object.entries(metadata)
        .map(([k, v]) => `${q(k)}:${q(v)}`)
        .join(',')}}`,
    );
  let offset = 0;
  for (const [name, t] of entries) {
    const size = t.shape.reduce((n, d) => n * d, ITEM_SIZE[t.dtype]);
    fields.push(`${q(name)}:{"dtype":"${FILE_DTYPE[t.dtype]}","shape":${q(t.shape)},"data_offsets":[${offset},${offset + size}]}`);
    offset += size;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.byteLength / 8) * 8, 0x20); // spaces
  json.copy(padded);
  if (padded.byteLength > MAX_HEADER_LENGTH)
    fail(path, `header would be ${padded.byteLength} bytes, over the ${MAX_HEADER_LENGTH}-byte limit readers accept`);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded.byteLength));
  return (function* (): Generator<Uint8Array> {
    yield prefix;
    yield padded;
    for (const [name, t] of entries) {
      // A tensor disposed between the header and its turn would tear the file; the atomic
      // writer then removes the temporary file, and an old file at the path stays as it was.
      if (t.isDisposed) fail(path, `tensor ${q(name)} was disposed while the file was written`);
      // In pieces of READ_CHUNK_BYTES, C order on the CPU whatever the layout and device: not
      // even the largest tensor (a 150k-token embedding) is held whole as bytes.
      const size = ITEM_SIZE[t.dtype];
      const step = Math.max(1, Math.floor(READ_CHUNK_BYTES / size));
      const dense = t.contiguous(); // the same storage when it already is
      const flat = dense.view(-1);
      dense.dispose();
      try {
        for (let at = 0; at < flat.numel(); at += step) {
          const piece = flat.narrow(0, at, Math.min(step, flat.numel() - at));
          const bytes = toBytes(piece);
          piece.dispose();
          if (bytes.byteLength !== Math.min(step, flat.numel() - at) * size)
            fail(path, `tensor ${q(name)}: got ${bytes.byteLength} bytes for a piece of ${Math.min(step, flat.numel() - at)} elements`);
          yield bytes;
        }
      } finally {
        flat.dispose();
      }
    }
  })();
}

/**
 * Saves tensors (any layout or device) and optional string metadata as a safetensors file,
 * atomically: on any error an existing file at `path` is left as it was.
 */
export async function saveSafetensors(path: string, tensors: TensorDict, metadata?: Record<string, string>): Promise<void> {
  try {
    assertLittleEndian(path);
    await writeFileAtomic(path, serialize(path, tensors, metadata)); // a turn of the event loop between pieces: each is an awaited write
  } catch (err) {
    throw withPath(path, err);
  }
}

/** Synchronous twin of {@link saveSafetensors}. */
export function saveSafetensorsSync(path: string, tensors: TensorDict, metadata?: Record<string, string>): void {
  try {
    assertLittleEndian(path);
    writeFileAtomicSync(path, serialize(path, tensors, metadata));
  } catch (err) {
    throw withPath(path, err);
  }
}
