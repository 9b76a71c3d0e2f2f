// Prints the libtorch this package would run on (src/libtorch.ts's search: LIBTORCH, the
// project's .venv, a Python PyTorch, the system's), for scripts/setup.sh and the benchmarks.
//   node scripts/libtorch.mjs          one line; exit status 1 when none is found, 2 when too old
//   node scripts/libtorch.mjs --json   the record as JSON (libDir, root, version, variant, python)
// Needs dist/ (npm run build:ts).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { findLibtorch, describeLibtorch, tooOld, MIN_LIBTORCH } = await import('../dist/libtorch.js');
let lt;
try {
  lt = findLibtorch({ packageRoot: root });
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
if (!lt) {
  console.error('no libtorch found (LIBTORCH, .venv, a Python PyTorch, the system)');
  process.exit(1);
}
console.log(process.argv.includes('--json') ? JSON.stringify(lt) : describeLibtorch(lt));
if (tooOld(lt)) {
  console.error(`libtorch ${lt.version} is older than ${MIN_LIBTORCH}, the oldest supported`);
  process.exit(2);
}
