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
import { Tensor } from '../tensor/tensor.js';
import { ITEM_SIZE, type DType, type Device } from '../tensor/types.js';
import { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
import { findDuplicateKey } from './json-duplicate-keys.js';
import { eventLoopTurns } from '../tensor/event-loop-turns.js';

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
function checkBools(path: string, header: SafetensorsHeader, data: Uint8Array): void {
  for (const [
    name,
    {
      dtype,
      dataOffsets: [begin, end],
    },
  ] of header.tensors) {
    if (dtype !== 'bool') continue;
    for (let i = begin; i < end; i++)
      if (data[i]! > 1) fail(path, `tensor ${q(name)}: BOOL element ${i - begin} holds byte ${data[i]} (must be 0 or 1)`);
  }
}

/** Tensors over slices of `data` (fromBytes copies each slice once); all or none. */
function createTensors(path: string, header: SafetensorsHeader, data: Uint8Array, device: Device | undefined): Map<string, Tensor> {
  checkBools(path, header, data);
  const out = new Map<string, Tensor>();
  let current = '';
  try {
    for (const [
      name,
      {
        dtype,
        shape,
        dataOffsets: [begin, end],
      },
    ] of header.tensors) {
      current = name;
      out.set(name, fromBytes(data.subarray(begin, end), dtype, shape, device));
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw new Error(`${path}: could not create tensor ${q(current)}: ${(err as Error).message}`, { cause: err });
  }
  return out;
}

// ---- reading: file access ----
// The file is read piecewise: the length, then the header, then (to load) the data buffer,
// so a bad header fails before a multi-gigabyte buffer is read.

async function readAt(path: string, fh: fsp.FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  for (let off = 0; off < length; ) {
    const { bytesRead } = await fh.read(buf, off, Math.min(length - off, 1 << 30), position + off);
    if (bytesRead === 0) fail(path, `file ended after ${position + off} bytes while reading: it was truncated while being read`);
    off += bytesRead;
  }
  return buf;
}
function readAtSync(path: string, fd: number, length: number, position: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
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
 * Loads every tensor of a safetensors file (onto `options.device`, default CPU), in the
 * order of their data. The caller owns the tensors. File I/O runs on libuv's thread pool.
 */
export async function loadSafetensors(path: string, options: LoadSafetensorsOptions = {}): Promise<LoadedSafetensors> {
  try {
    assertLittleEndian(path);
    const fh = await fsp.open(path, 'r');
    let header: SafetensorsHeader, data: Buffer;
    try {
      const r = await readHeaderFrom(path, fh);
      header = r.header;
      data = await readAt(path, fh, r.size - header.dataStart, header.dataStart);
    } finally {
      await fh.close();
    }
    return { tensors: createTensors(path, header, data, options.device), metadata: header.metadata };
  } catch (err) {
    throw withPath(path, err);
  }
}

/** Synchronous twin of {@link loadSafetensors}. */
export function loadSafetensorsSync(path: string, options: LoadSafetensorsOptions = {}): LoadedSafetensors {
  try {
    assertLittleEndian(path);
    const fd = openSync(path, 'r');
    let header: SafetensorsHeader, data: Buffer;
    try {
      const r = readHeaderFromSync(path, fd);
      header = r.header;
      data = readAtSync(path, fd, r.size - header.dataStart, header.dataStart);
    } finally {
      closeSync(fd);
    }
    return { tensors: createTensors(path, header, data, options.device), metadata: header.metadata };
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

/** The file as chunks: length, header (space-padded to 8 bytes, as the reference writer), data. */
function serialize(path: string, tensors: TensorDict, metadata: Record<string, string> | undefined): Uint8Array[] {
  const steps = serializing(path, tensors, metadata);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** serialize, with a turn of the event loop every few megabytes copied (tensor/event-loop-turns.ts). */
async function serializeAsync(path: string, tensors: TensorDict, metadata: Record<string, string> | undefined): Promise<Uint8Array[]> {
  const steps = serializing(path, tensors, metadata);
  const turns = eventLoopTurns();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await turns.after(r.value);
  }
}

/** serialize's work, one tensor at a time: yields each tensor's byte count, returns the file's pieces. */
function* serializing(path: string, tensors: TensorDict, metadata: Record<string, string> | undefined): Generator<number, Uint8Array[]> {
  const entries = validateForSave(path, tensors, metadata);
  const fields: string[] = [];
  // Written only when given, like the reference writer (which writes an empty {} too).
  if (metadata !== undefined)
    fields.push(
      `"${METADATA_KEY}":{${Object.entries(metadata)
        .map(([k, v]) => `${q(k)}:${q(v)}`)
        .join(',')}}`,
    );
  const data: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const shape = t.shape;
    const bytes = toBytes(t); // C order on the CPU, whatever the layout and device
    const expected = shape.reduce((n, d) => n * d, ITEM_SIZE[t.dtype]);
    if (bytes.byteLength !== expected)
      fail(path, `tensor ${q(name)}: got ${bytes.byteLength} bytes for shape [${shape.join(', ')}] of ${t.dtype}, expected ${expected}`);
    fields.push(`${q(name)}:{"dtype":"${FILE_DTYPE[t.dtype]}","shape":${q(shape)},"data_offsets":[${offset},${offset + expected}]}`);
    offset += expected;
    data.push(bytes);
    yield expected;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.byteLength / 8) * 8, 0x20); // spaces
  json.copy(padded);
  if (padded.byteLength > MAX_HEADER_LENGTH)
    fail(path, `header would be ${padded.byteLength} bytes, over the ${MAX_HEADER_LENGTH}-byte limit readers accept`);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded.byteLength));
  return [prefix, padded, ...data];
}

/**
 * Saves tensors (any layout or device) and optional string metadata as a safetensors file,
 * atomically: on any error an existing file at `path` is left as it was.
 */
export async function saveSafetensors(path: string, tensors: TensorDict, metadata?: Record<string, string>): Promise<void> {
  try {
    assertLittleEndian(path);
    await writeFileAtomic(path, await serializeAsync(path, tensors, metadata));
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
