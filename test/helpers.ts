// Shared test helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { torch, type Tensor } from '../src/index.js';

/** Elementwise closeness of a tensor to nested arrays (or another tensor). */
export function expectClose(actual: Tensor, expected: unknown, atol = 1e-5, rtol = 1e-5): void {
  const exp = torch.tensor(expected instanceof torch.Tensor ? (expected as Tensor).tolist() : (expected as number[]), { dtype: 'float64' });
  const act = actual.to('float64');
  try {
    expect(act.shape).toEqual(exp.shape);
    const ok = act.allclose(exp, rtol, atol);
    if (!ok) expect(act.tolist()).toEqual(exp.tolist());
  } finally {
    exp.dispose();
    act.dispose();
  }
}

/** A fresh directory `torch-rlhf-<name>-XXXXXX` under the system's temp dir, removed after the file's tests. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `torch-rlhf-${name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A command line's words: `words('sft --max-steps 2')` is `['sft', '--max-steps', '2']` (no quoting; for test argv). */
export function words(line: string): string[] {
  return line.trim().split(/\s+/);
}
