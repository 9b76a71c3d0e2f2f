// `npm install` step. As a dependency (the package ships dist/ and prebuilds/): when the
// package's loader finds libtorch and a prebuilt binary made for it, nothing is built. When it
// finds libtorch but no binary for that libtorch, the addon is built from source with cmake-js.
// When it finds no libtorch at all, the install succeeds and says what to install: the loader
// finds libtorch again at every start, so installing PyTorch afterwards is enough.
// In a checkout (no dist/ yet) the addon is built with cmake-js, incrementally (fast when
// nothing changed); CMakeLists.txt finds libtorch in the same order as the loader.
// TORCH_RLHF_BUILD_FROM_SOURCE=1 skips the prebuilds.
// The build tools (cmake-js, node-addon-api, node-api-headers) are optional peer dependencies: an
// install that a prebuild fits needs none of them, so npm does not install them; a build from
// source says how to add them when they are missing.
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (msg) => console.log(`torch-rlhf: ${msg}`);

/** What the package's own loader does here, in a child process (loading is process-wide). */
function tryLoader() {
  const native = join(root, 'dist', 'native.js');
  if (!existsSync(native)) return { status: 'no-dist' };
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(native)}); console.log(JSON.stringify({ file: m.addonFile, tag: m.N.version().build }))`,
    ],
    { encoding: 'utf8' },
  );
  if (r.status === 0) return { status: 'loads', ...JSON.parse(r.stdout.trim().split('\n').pop()) };
  const message = (r.stderr.match(/torch-rlhf: could not load[\s\S]*?(?=\n\s+at |\n*$)/) ?? [r.stderr])[0];
  return { status: /No libtorch was found|older than/.test(message) ? 'no-libtorch' : 'no-binary', message };
}

/** cmake-js's package.json, after checking that every build tool resolves from here; exits with what to install when one does not. */
function buildTools() {
  const { peerDependencies: tools } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const missing = Object.keys(tools).filter((name) => {
    try {
      require.resolve(`${name}/package.json`);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return require.resolve('cmake-js/package.json');
  console.error(
    `torch-rlhf: building the native addon from source needs ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} not ` +
      'installed\n' +
      '  (optional peer dependencies: an install that a prebuilt binary fits needs none of them). Install the build tools beside\n' +
      '  torch-rlhf, then rebuild it:\n' +
      `    npm install --save-dev ${Object.entries(tools)
        .map(([name, range]) => `${name}@${range.replace(/^\^/, '')}`)
        .join(' ')}\n` +
      '    npm rebuild torch-rlhf\n' +
      "  The build also needs CMake, a C++20 compiler and PyTorch's libtorch (see the README: Finding libtorch).",
  );
  process.exit(1);
}

async function build() {
  if (!existsSync(join(root, 'CMakeLists.txt'))) {
    console.error('torch-rlhf: no prebuilt addon fits this libtorch and the sources to build one are missing.');
    process.exit(1);
  }
  const cmakeJs = join(dirname(buildTools()), 'bin', 'cmake-js');
  const jobs = String(Math.max(1, Math.min(16, availableParallelism())));
  // With dist/ here, build for exactly the libtorch the loader will find (CMake's own search,
  // used otherwise, follows the same order).
  const env = { ...process.env };
  if (existsSync(join(root, 'dist', 'libtorch.js'))) {
    const { findLibtorch } = await import('../dist/libtorch.js');
    const lt = (() => {
      try {
        return findLibtorch({ packageRoot: root });
      } catch {
        return undefined;
      }
    })();
    if (lt) env.LIBTORCH = lt.root;
  }
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--release', '-p', jobs], { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(
      '\ntorch-rlhf: building the native addon failed.\n' +
        "  It needs PyTorch's libtorch 2.x, CMake and a C++17 compiler.\n" +
        "  In a checkout: bash scripts/setup.sh (installs PyTorch's CPU libtorch into .venv with pip, and a toolchain)\n" +
        '  Elsewhere: pip install torch --index-url https://download.pytorch.org/whl/cpu (in a virtual environment),\n' +
        '  or LIBTORCH=/path/to/libtorch npm install',
    );
    process.exit(r.status ?? 1);
  }
}

const fromSource = !!process.env.TORCH_RLHF_BUILD_FROM_SOURCE;
const found = fromSource ? { status: 'no-dist' } : tryLoader();
if (found.status === 'loads' && /[\\/]prebuilds[\\/]/.test(found.file)) {
  say(`using the prebuilt addon ${found.file} (libtorch ${found.tag})`);
} else if (found.status === 'no-libtorch') {
  say('installed, but it needs libtorch to run, and none was found:');
  console.log(found.message.replace(/^torch-rlhf: could not load the native addon\.\n/, ''));
} else {
  if (found.status === 'no-binary') say('no prebuilt addon fits the libtorch found here; building it from source');
  await build();
}
