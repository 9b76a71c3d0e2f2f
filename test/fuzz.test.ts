// The randomized bad-API fuzz (issue 13): 10,000 calls from a fixed seed in a child process,
// which must exit normally with every call returned or thrown as a JS Error without a C++
// backtrace, and no tensor left alive. A crash (SIGFPE, SIGSEGV, V8's heap abort) or a hang
// shows as the child's signal or the timeout.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

describe('fuzz', () => {
  it('10,000 randomized bad API calls: no crash, no hang, only JS errors, no leak', () => {
    const dist = new URL('../dist/index.js', import.meta.url);
    if (!existsSync(dist)) throw new Error('dist/ is missing: run npm run build:ts');
    const script = fileURLToPath(new URL('./fuzz/bad-api-calls.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [script, dist.href, '20261202', '10000'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.error).toBeUndefined(); // ETIMEDOUT: a call hung
    expect(r.signal).toBeNull();
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary.calls).toBe(10_000);
    expect(summary.breaches).toEqual([]);
    // Both outcomes occur: the fuzz reaches real work, not only argument checks.
    expect(summary.returned).toBeGreaterThan(1000);
    expect(summary.threw).toBeGreaterThan(1000);
  }, 300_000);
});
