// `npm run lint` (node scripts/lint.mjs): the checks CI runs before the tests, each reported and all
// run even when one fails: Biome's lint and format check over the TypeScript and JavaScript
// (biome.jsonc), clang-format's check over native/ and binding/ (.clang-format), and the guide's
// 140-character line limit over every source file, which the formatters cannot enforce on their own
// (they do not break strings or comments). `npm run format` (--write) applies both formatters and
// then reports the long lines left, for a hand edit.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const write = process.argv.includes('--write');
const MAX_LINE = 140;
const CPP = new Set(['.cc', '.cpp', '.h', '.c']);
const SOURCE = new Set([...CPP, '.ts', '.mts', '.mjs', '.js']);
/** Where the sources live; build outputs and installed packages are not ours to check. */
const SOURCE_DIRS = ['src', 'native', 'binding', 'test', 'scripts', 'examples'];
const SKIP = new Set(['node_modules', 'dist', 'build']);

/** Every file under dir (relative to the root) whose extension is in exts. */
function filesUnder(dir, exts) {
  const out = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory() && !SKIP.has(e.name)) out.push(...filesUnder(path, exts));
    else if (e.isFile() && exts.has(extname(e.name))) out.push(path);
  }
  return out;
}

/** Runs a tool with the output shown; true when it exited 0. */
function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) console.error(`lint: could not run ${cmd}: ${r.error.message}`);
  return r.status === 0;
}

function biome() {
  const bin = join(root, 'node_modules', '.bin', 'biome');
  return write ? run(bin, ['format', '--write']) : run(bin, ['check', '--max-diagnostics=none']);
}

function clangFormat() {
  if (spawnSync('clang-format', ['--version']).error) {
    console.error('lint: clang-format is not installed (bash scripts/setup.sh --test installs it; or apt-get install clang-format)');
    return false;
  }
  const files = ['native', 'binding'].flatMap((d) => filesUnder(d, CPP));
  return run('clang-format', write ? ['-i', ...files] : ['--dry-run', '-Werror', ...files]);
}

/** The lines over the limit, as "file:line: N characters". */
function longLines() {
  const files = [...SOURCE_DIRS.flatMap((d) => filesUnder(d, SOURCE)), ...readdirSync(root).filter((f) => SOURCE.has(extname(f)))];
  const out = [];
  for (const file of files) {
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const n = [...line].length;
        if (n > MAX_LINE) out.push(`${file}:${i + 1}: ${n} characters`);
      });
  }
  return out;
}

function lineLength() {
  const long = longLines();
  for (const l of long) console.error(l);
  if (long.length > 0) console.error(`lint: ${long.length} line(s) over ${MAX_LINE} characters: wrap them by hand`);
  return long.length === 0;
}

const checks = { biome, 'clang-format': clangFormat, 'line length': lineLength };
const failed = Object.entries(checks)
  .filter(([, check]) => !check())
  .map(([name]) => name);
console.log(failed.length === 0 ? `lint: all checks passed${write ? ' (formatted)' : ''}` : `lint: failed: ${failed.join(', ')}`);
process.exit(failed.length === 0 ? 0 : 1);
