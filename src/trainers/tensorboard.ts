// TensorBoard event files (TRL's `report_to="tensorboard"`): every line a trainer writes to
// metrics.jsonl also goes, as scalars, to `runs/events.out.tfevents.<time>.<host>` in its
// output directory, which `tensorboard --logdir <outputDir>/runs` reads. The file is TFRecord:
// each record is its length (uint64 LE), the masked CRC-32C of those 8 bytes, the data, and the
// data's masked CRC-32C; the data is an Event protocol buffer (wall_time, step, and a Summary of
// {tag, simple_value} values), the first one carrying file_version "brain.Event:2". No npm
// package writes these, so the few protobuf fields are encoded here.
import { crc32c } from '@aws-crypto/crc32c';
import { appendFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { TrainerCallback } from './callbacks.js';

/** TFRecord's masked CRC: rotate right by 15 and add a constant (so CRCs of CRCs stay strong). */
function maskedCrc(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** A protobuf varint of a non-negative integer below 2^53. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
/** A length-delimited field (wire type 2). */
const bytesField = (field: number, data: Uint8Array): number[] => [...varint((field << 3) | 2), ...varint(data.length), ...data];

/** Summary.Value {tag: 1, simple_value: 2 (float)}. */
function summaryValue(tag: string, value: number): Uint8Array {
  const f = Buffer.alloc(4);
  f.writeFloatLE(value);
  return Uint8Array.from([...bytesField(1, utf8(tag)), (2 << 3) | 5, ...f]);
}

/** Event {wall_time: 1 (double), step: 2 (int64), file_version: 3, summary: 5}. */
function event(wallTime: number, step: number, body: { fileVersion: string } | { scalars: Record<string, number> }): Uint8Array {
  const t = Buffer.alloc(8);
  t.writeDoubleLE(wallTime);
  const out: number[] = [(1 << 3) | 1, ...t, (2 << 3) | 0, ...varint(step)];
  if ('fileVersion' in body) out.push(...bytesField(3, utf8(body.fileVersion)));
  else {
    const values = Object.entries(body.scalars).flatMap(([tag, v]) => bytesField(1, summaryValue(tag, v)));
    out.push(...bytesField(5, Uint8Array.from(values)));
  }
  return Uint8Array.from(out);
}

/** One TFRecord around `data`. */
function record(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(maskedCrc(len));
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc(data));
  return Buffer.concat([len, head, data, tail]);
}

/** Appends scalar events to one new event file in `logDir`. */
export class TensorBoardWriter {
  readonly path: string;

  constructor(logDir: string) {
    mkdirSync(logDir, { recursive: true });
    const now = Date.now() / 1000;
    this.path = join(logDir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.${process.pid}`);
    appendFileSync(this.path, record(event(now, 0, { fileVersion: 'brain.Event:2' })));
  }

  /** The finite numbers of `scalars` at `step`, each under its own tag (e.g. 'objective/kl'). */
  addScalars(step: number, scalars: Readonly<Record<string, number>>, wallTime = Date.now() / 1000): void {
    const finite = Object.fromEntries(Object.entries(scalars).filter(([, v]) => typeof v === 'number' && Number.isFinite(v)));
    if (Object.keys(finite).length > 0)
      appendFileSync(this.path, record(event(wallTime, Math.max(0, Math.round(step)), { scalars: finite })));
  }
}

/** Where `reportTo` sends metrics, beside metrics.jsonl: 'none' (the default), 'tensorboard', or 'all' (every integration there is). */
export type ReportTo = 'none' | 'all' | 'tensorboard' | readonly 'tensorboard'[];

export const reportToRule = [
  (v: unknown) => v === 'none' || v === 'all' || v === 'tensorboard' || (Array.isArray(v) && v.every((x) => x === 'tensorboard')),
  "'none', 'all', 'tensorboard' or ['tensorboard']",
] as const;

/**
 * The callbacks `reportTo` asks for: with 'tensorboard', one that writes each metrics.jsonl line
 * (its `step` as the step, the other numbers as scalars) to `<outputDir>/runs/`. Only the process
 * that writes files (rank 0) should add it.
 */
export function reportCallbacks(reportTo: ReportTo, outputDir: string): TrainerCallback[] {
  const tensorboard = reportTo === 'all' || reportTo === 'tensorboard' || (Array.isArray(reportTo) && reportTo.includes('tensorboard'));
  if (!tensorboard) return [];
  let writer: TensorBoardWriter | null = null;
  return [
    {
      onLog(state, logs) {
        writer ??= new TensorBoardWriter(join(outputDir, 'runs'));
        const { step = state.globalStep, time, epoch, ...rest } = logs;
        writer.addScalars(step, epoch === undefined ? rest : { ...rest, epoch }, time);
      },
    },
  ];
}
