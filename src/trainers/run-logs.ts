// The logs a run appends to (metrics.jsonl, samples.jsonl). A fresh run starts them anew. A
// resumed run keeps only the lines up to the step of its checkpoint: the killed run went on
// logging after that checkpoint, and the resumed run logs those steps again, so keeping them
// would list each of them twice. A kill mid-write leaves an unfinished last line; it is dropped
// too, or the next append would glue a good line onto it.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';

/** A JSONL log of a run directory and the field that holds each line's step. */
export interface RunLog {
  file: string;
  stepKey: string;
}

/** Whether a log line belongs to the run up to `step` (lines that do not parse are kept for the reader to report). */
function keepLine(line: string, stepKey: string, step: number, unfinished: boolean): boolean {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch {
    return !unfinished;
  }
  const s = (row as Record<string, unknown> | null)?.[stepKey];
  return typeof s !== 'number' || s <= step;
}

/** Deletes the logs (resumedStep null: a fresh run) or cuts them back to `resumedStep`, atomically. */
export function prepareRunLogs(outputDir: string, resumedStep: number | null, logs: RunLog[]): void {
  for (const { file, stepKey } of logs) {
    const path = join(outputDir, file);
    if (resumedStep === null) {
      rmSync(path, { force: true });
      continue;
    }
    if (!existsSync(path)) continue;
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n');
    // Text after the last newline is a line whose write never finished.
    const kept = lines.filter((l, i) => l.trim() !== '' && keepLine(l, stepKey, resumedStep, i === lines.length - 1));
    const cut = kept.map((l) => `${l}\n`).join('');
    if (cut !== text) writeFileAtomicSync(path, Buffer.from(cut, 'utf8'));
  }
}
