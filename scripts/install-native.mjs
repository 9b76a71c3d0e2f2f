// `npm install` step: use a prebuilt binary when one fits this machine and loads, else build
// the addon from source with cmake-js (incremental: fast when nothing changed), and say what
// to install when that fails.
// TORCH_RLHF_BUILD_FROM_SOURCE=1 skips the prebuilds.
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

// The same files, in the same order, as src/native.ts tries (prebuilds/<platform>-<arch>/
// torch-rlhf.<variant>.node, CUDA before CPU); a binary that does not load (no CUDA libtorch,
// another libtorch version) is skipped.
function prebuildLoads() {
  if (process.env.TORCH_RLHF_BUILD_FROM_SOURCE) return false;
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const variants = process.env.TORCH_RLHF_VARIANT ? [process.env.TORCH_RLHF_VARIANT] : ['cuda', 'cpu'];
  for (const v of variants) {
    const file = join(dir, `torch-rlhf.${v}.node`);
    if (!existsSync(file)) continue;
    try {
      require(file);
      console.log(`torch-rlhf: using the prebuilt ${v} addon (${file})`);
      return true;
    } catch (err) {
      console.log(`torch-rlhf: the prebuilt ${v} addon does not load here (${String(err.message).split('\n')[0]})`);
    }
  }
  return false;
}

if (!prebuildLoads()) {
  if (!existsSync(join(root, 'CMakeLists.txt'))) {
    console.error('torch-rlhf: no prebuilt addon fits this machine and the sources are missing.');
    process.exit(1);
  }
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const jobs = String(Math.max(1, Math.min(4, (await import('node:os')).availableParallelism())));
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--release', '-p', jobs], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(
      '\ntorch-rlhf: building the native addon failed.\n' +
        '  It needs libtorch, CMake and a C++17 compiler.\n' +
        '  On Debian/Ubuntu: bash scripts/setup.sh (or apt-get install libtorch-dev libopenblas0-pthread cmake g++)\n' +
        '  With a downloaded libtorch: LIBTORCH=/path/to/libtorch npm install',
    );
    process.exit(r.status ?? 1);
  }
}
