// `rlhf demo --method grpo,dpo --quick` end to end: SFT from scratch on the arithmetic task, then
// GRPO (exact match + format rewards) and DPO (sigmoid + sft) from that SFT policy, each scored
// greedily on the 200 held-out prompts. The test asserts what the demo is for: both methods
// raise held-out accuracy over the SFT policy, by making answers follow the requested format
// without losing the numbers. Also the flag's errors.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDemoMethods } from '../src/cli/arithmetic-demo.js';
import { rlhfIn } from './cli-helpers.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('arith-demo');
const rlhf = rlhfIn(tmp, { env: { ...process.env, OMP_NUM_THREADS: '1' } });

describe('rlhf demo --method', () => {
  it('parses ppo, one method or both, and refuses others', () => {
    expect(parseDemoMethods('ppo')).toBe('ppo');
    expect(parseDemoMethods('grpo')).toEqual(['grpo']);
    expect(parseDemoMethods('grpo, dpo,grpo')).toEqual(['grpo', 'dpo']);
    expect(() => parseDemoMethods('grpo,kto')).toThrow("--method expects ppo, or grpo, dpo (comma-separated), got 'grpo,kto'");
    const r = rlhf('demo', '--method', 'sft');
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('--method expects ppo, or grpo, dpo');
  });

  it('grpo,dpo --quick: both methods raise held-out accuracy over the SFT policy', () => {
    const out = join(tmp, 'arith');
    const r = rlhf('demo', '--method', 'grpo,dpo', '--quick', '--no-progress', '--out', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/accuracy \(number and format\)/);
    expect(r.out).toMatch(/format as requested/);
    expect(r.out).toMatch(/GRPO raised held-out accuracy from/);
    expect(r.out).toMatch(/DPO raised held-out accuracy from/);
    // Runs that learn raise no "learned nothing" warning.
    expect(r.err).not.toMatch(/warning:/);
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    // The SFT policy mostly answers plainly whatever format is asked (its demonstrations did).
    expect(s.sft.formatRate).toBeLessThan(0.6);
    for (const m of ['grpo', 'dpo']) {
      expect(s.methods[m].accuracy, m).toBeGreaterThan(s.sft.accuracy + 0.04);
      expect(s.methods[m].formatRate, m).toBeGreaterThan(s.sft.formatRate + 0.25);
      // The gain is the format, not lost numbers.
      expect(s.methods[m].numberAccuracy, m).toBeGreaterThan(s.sft.numberAccuracy - 0.08);
    }
    expect(readFileSync(join(out, 'comparison.jsonl'), 'utf8').trim().split('\n').length).toBe(200);
    for (const d of ['sft', 'grpo', 'dpo']) expect(existsSync(join(out, d, 'config.json')), d).toBe(true);
  });
});
