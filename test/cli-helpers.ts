// Running the built command line (dist/cli/index.js) from the tests, as a user would: a child
// Node process in a working directory, its exit code and both streams.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const CLI = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/**
 * `rlhf …` in `cwd` (a directory, or a function giving it when the directory is made later).
 * The timeout is a bound against hangs, not a speed check: a loaded machine may take minutes.
 */
export function rlhfIn(
  cwd: string | (() => string),
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; extraArgs?: string[] } = {},
): (...args: string[]) => CliResult {
  return (...args) => {
    if (!existsSync(CLI)) throw new Error('dist/ is missing: run npm run build:ts');
    const r = spawnSync(process.execPath, [CLI, ...args, ...(options.extraArgs ?? [])], {
      cwd: typeof cwd === 'string' ? cwd : cwd(),
      encoding: 'utf8',
      env: options.env ?? process.env,
      timeout: options.timeoutMs ?? 900_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
}

/** A failure is one line on stderr, a non-zero exit and no stack trace. */
export function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  const lines = r.err.trim().split('\n');
  expect(lines.length, r.err).toBe(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /);
}
