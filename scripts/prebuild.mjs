// `npm run prebuild`: builds the addon for the libtorch found here (src/libtorch.ts's order:
// LIBTORCH, the project's .venv, a Python PyTorch, the system's) and stores it as
//   prebuilds/<platform>-<arch>/torch-rlhf.libtorch-<version>-<variant>.node
// (e.g. torch-rlhf.libtorch-2.13.0-cpu.node, torch-rlhf.libtorch-2.14.1-cu130.node) beside
// torch-rlhf-preload.node, the libtorch-free helper that opens libtorch by path at load time.
// One prebuild per libtorch build: run it once per libtorch to ship (LIBTORCH=… npm run prebuild);
// `npm pack` ships every file in prebuilds/. The build goes to build/ when that folder is for the
// same libtorch (or absent), else to build-<tag>/, so a CUDA prebuild does not disturb the
// developer's CPU build. The stored binary is then loaded in a child process through the
// package's own loader, which must pick exactly it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
if (!existsSync(join(root, 'dist', 'libtorch.js'))) {
  console.error('prebuild: dist/ is missing; run npm run build:ts first');
  process.exit(1);
}
const { findLibtorch, describeLibtorch, buildTag, prebuildName, embeddedBuildTag, tooOld, MIN_LIBTORCH } = await import(
  '../dist/libtorch.js'
);

const lt = findLibtorch({ packageRoot: root });
if (!lt) {
  console.error('prebuild: no libtorch found (run bash scripts/setup.sh, or set LIBTORCH)');
  process.exit(1);
}
if (tooOld(lt)) {
  console.error(`prebuild: ${describeLibtorch(lt)} is older than ${MIN_LIBTORCH}`);
  process.exit(1);
}
const tag = buildTag(lt);
const existing = join(root, 'build', 'Release', 'torch_rlhf.node');
const out = !existsSync(join(root, 'build')) || (existsSync(existing) && embeddedBuildTag(existing) === tag) ? 'build' : `build-${tag}`;
console.log(`prebuild: ${describeLibtorch(lt)} → ${out}/`);

// CMake finds libtorch by the same order; LIBTORCH makes sure it takes this very one.
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const jobs = String(Math.max(1, Math.min(16, (await import('node:os')).availableParallelism())));
const env = { ...process.env, LIBTORCH: lt.root };
const build = spawnSync(process.execPath, [cmakeJs, 'compile', '--release', '-O', out, '-p', jobs], { cwd: root, stdio: 'inherit', env });
if (build.status !== 0) process.exit(build.status ?? 1);

const built = join(root, out, 'Release', 'torch_rlhf.node');
const builtTag = embeddedBuildTag(built);
if (builtTag !== tag) {
  console.error(`prebuild: ${built} was built for ${builtTag ?? 'an unknown libtorch'}, not ${tag}`);
  process.exit(1);
}
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
// Copied under a temporary name and renamed: a process loading the package meanwhile never sees
// half a binary.
const place = (from, to) => {
  const tmp = `${to}.tmp-${process.pid}`;
  copyFileSync(from, tmp);
  renameSync(tmp, to);
};
const target = join(dir, prebuildName(lt));
place(built, target);
place(join(root, out, 'Release', 'torch_rlhf_preload.node'), join(dir, 'torch-rlhf-preload.node'));

// The package's own loader, in a fresh process, must choose and load the stored binary.
const probe = spawnSync(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `const { torch } = await import(${JSON.stringify(join(root, 'dist', 'index.js'))}); console.log(JSON.stringify(torch.version()))`,
  ],
  { encoding: 'utf8', env: { ...env, TORCH_RLHF_PREFER: 'prebuild' } },
);
if (probe.status !== 0) {
  console.error(`prebuild: the stored addon does not load:\n${probe.stderr}`);
  process.exit(1);
}
const v = JSON.parse(probe.stdout);
if (v.addon !== target) {
  console.error(`prebuild: the loader chose ${v.addon}, not ${target}`);
  process.exit(1);
}
console.log(`prebuild: ${target} (libtorch ${v.libtorch}, ${v.cuda ? 'CUDA' : 'CPU'} build; loads)`);
