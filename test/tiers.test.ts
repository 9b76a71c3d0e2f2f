// The test tiers (test/tiers.ts, vitest.config.ts's projects): the unit list names real test files,
// each once; the config makes them the 'unit' project and every other file 'integration', so each
// file is in exactly one tier and `npm test` runs them all; and no unit file uses what the unit tier
// goes without (Chromium, Python, npm, tsc, an `rlhf demo` run).
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import config from '../vitest.config.js';
import { UNIT_TESTS } from './tiers.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const testFiles = readdirSync(here).filter((f) => f.endsWith('.test.ts'));

/** What a unit file must not do, each with the pattern that shows it. */
const NOT_IN_UNIT: Record<string, RegExp> = {
  Chromium: /chromium/i,
  Python: /'\.venv(-[a-z]+)?', 'bin', 'python/,
  npm: /spawn\w*\(\s*'npm'/,
  tsc: /'typescript', 'bin', 'tsc'/,
  'an rlhf demo run': /\(\s*'demo',/,
};

describe('test tiers', () => {
  it('the unit list names existing test files, each once', () => {
    expect(UNIT_TESTS.filter((f) => !testFiles.includes(f))).toEqual([]);
    expect(new Set(UNIT_TESTS).size).toBe(UNIT_TESTS.length);
  });

  it("vitest.config.ts's projects put each test file in exactly one tier", () => {
    const projects = (config.test?.projects ?? []) as { test: { name: string; include: string[]; exclude?: string[] } }[];
    const byName = Object.fromEntries(projects.map((p) => [p.test.name, p.test]));
    expect(Object.keys(byName).sort()).toEqual(['integration', 'unit']);
    const unit = UNIT_TESTS.map((f) => `test/${f}`);
    expect(byName.unit!.include).toEqual(unit);
    expect(byName.integration!.include).toEqual(['test/**/*.test.ts']);
    expect(byName.integration!.exclude).toEqual(expect.arrayContaining(unit));
    // Nothing else is excluded from integration but the defaults (node_modules and the like).
    expect(byName.integration!.exclude!.filter((p) => p.startsWith('test/')).sort()).toEqual([...unit].sort());
  });

  it('no unit file needs Chromium, Python, npm, tsc or an rlhf demo run', () => {
    const found = UNIT_TESTS.flatMap((f) => {
      const text = readFileSync(join(here, f), 'utf8');
      return Object.entries(NOT_IN_UNIT)
        .filter(([, re]) => f !== 'tiers.test.ts' && re.test(text))
        .map(([name]) => `${f}: ${name}`);
    });
    expect(found).toEqual([]);
    // Each pattern still finds what it is about somewhere in the integration tier, so none has gone stale.
    const integration = testFiles.filter((f) => !UNIT_TESTS.includes(f)).map((f) => readFileSync(join(here, f), 'utf8'));
    for (const [name, re] of Object.entries(NOT_IN_UNIT))
      expect(
        integration.some((t) => re.test(t)),
        name,
      ).toBe(true);
  });
});
