// Device names at the seams (the CLI's --device and config.device): parsed into the Device type
// instead of cast, so a wrong name is an error naming the flag, not a libtorch message later.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDevice } from '../src/tensor/types.js';

describe('parseDevice', () => {
  it("takes 'cpu', 'cuda', 'cuda:N' (and 'auto' where allowed), and names what was wrong otherwise", () => {
    expect(['cpu', 'cuda', 'cuda:1'].map((d) => parseDevice(d, 'x'))).toEqual(['cpu', 'cuda', 'cuda:1']);
    expect(parseDevice('auto', '--device', true)).toBe('auto');
    expect(() => parseDevice('auto', 'device')).toThrow("device must be 'cpu', 'cuda' or 'cuda:N', got \"auto\"");
    expect(() => parseDevice('tpu', '--device', true)).toThrow("--device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got \"tpu\"");
    expect(() => parseDevice('cuda:', 'x')).toThrow();
    expect(() => parseDevice(3, 'x')).toThrow('got 3');
  });

  it('rlhf sft --device tpu is a one-line error before anything loads', () => {
    const bin = join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'cli', 'index.js');
    const r = spawnSync(process.execPath, [bin, 'sft', '--model', 'tiny', '--data', 'none.jsonl', '--out', 'x', '--device', 'tpu'], {
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toBe(`rlhf: --device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got "tpu"`);
  });
});
