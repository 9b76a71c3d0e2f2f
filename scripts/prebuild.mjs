// `npm run prebuild`: builds the addon against the libtorch found here and stores it as
// prebuilds/<platform>-<arch>/torch-rlhf.<variant>.node, the variant ('cpu' or 'cuda') read from
// the libtorch it was linked against. Run once on a CPU machine (Debian's libtorch) and once on
// a CUDA machine (PyTorch's libtorch) to ship both; `npm pack` includes the prebuilds/ folder.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const build = spawnSync(process.execPath, [cmakeJs, 'compile', '--release'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const built = join(root, 'build', 'Release', 'torch_rlhf.node');
// Ask the binary itself which libtorch it runs on, in a child (loading is process-wide).
const probe = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(built)}); console.log(JSON.stringify(a.version()))`], { encoding: 'utf8' });
if (probe.status !== 0) {
  console.error(`prebuild: the built addon does not load:\n${probe.stderr}`);
  process.exit(1);
}
const { libtorch, cuda } = JSON.parse(probe.stdout);
const variant = cuda ? 'cuda' : 'cpu';
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
const target = join(dir, `torch-rlhf.${variant}.node`);
copyFileSync(built, target);
console.log(`prebuild: ${target} (libtorch ${libtorch}, ${variant})`);
