// Finds the libtorch this process will run on, and says what it is (version, CPU or CUDA),
// before anything is loaded. The addon is linked against one libtorch build, and libtorch has no
// stable C++ ABI across releases, so the loader (src/native.ts) picks the addon binary made for
// the libtorch found here and opens that libtorch by absolute path: a prebuilt binary works on
// a machine other than the one that built it, wherever its libtorch lives.
//
// Search order (the first hit wins; the build in CMakeLists.txt uses the same one):
//   1. LIBTORCH: a libtorch folder (PyTorch's zip, or a wheel's torch/ folder) or its lib/, or
//      the root of a virtual environment that holds PyTorch's wheel;
//   2. the project's environment: .venv in this package's folder (what scripts/setup.sh makes),
//      or in the folder of the app whose node_modules hold this package;
//   3. a Python PyTorch: the active VIRTUAL_ENV / CONDA_PREFIX, then `python3` on the PATH;
//   4. the system's: /usr/local/libtorch, /opt/libtorch, then the library folders.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** The oldest libtorch the native code compiles against (CMakeLists.txt checks the same). */
export const MIN_LIBTORCH = '2.4';

/** Where a libtorch was found, and which search step found it. */
export type LibtorchSource = 'LIBTORCH' | 'project environment' | 'Python PyTorch' | 'system';

export interface Libtorch {
  /** The folder with libtorch.so, libc10.so, … */
  libDir: string;
  /** The install root: a wheel's torch/ folder, PyTorch's libtorch/ folder, or libDir itself. */
  root: string;
  /** Release, without a local label: '2.13.0'. */
  version: string;
  /** 'cpu', or the CUDA build as PyTorch tags it ('cu130'), or 'cuda' when the CUDA version is unknown. */
  variant: string;
  source: LibtorchSource;
  /** The Python interpreter of the environment that holds this libtorch, when it is a wheel's. */
  python?: string;
}

const SO = process.platform === 'darwin' ? '.dylib' : '.so';

/** The libraries of a libtorch install that the addon links, in dependency order. */
export function libtorchLibraries(lt: Pick<Libtorch, 'libDir'>): string[] {
  return ['libc10', 'libc10_cuda', 'libtorch_cpu', 'libtorch_cuda', 'libtorch']
    .map((name) => join(lt.libDir, name + SO))
    .filter((file) => existsSync(file));
}

/** The file name of a prebuilt addon for one libtorch: torch-rlhf.libtorch-2.13.0-cpu.node. */
export function prebuildName(lt: Pick<Libtorch, 'version' | 'variant'>): string {
  return `torch-rlhf.libtorch-${lt.version}-${lt.variant}.node`;
}

/** The build tag (`2.13.0-cpu`) in a prebuild's file name, or undefined for another file. */
export function prebuildTag(file: string): string | undefined {
  return /^torch-rlhf\.libtorch-(.+)\.node$/.exec(basename(file))?.[1];
}

/** `version-variant`, the tag both a prebuild's name and a compiled addon carry. */
export const buildTag = (lt: Pick<Libtorch, 'version' | 'variant'>): string => `${lt.version}-${lt.variant}`;

/** The tag a compiled addon carries inside (binding/addon.cc: "torch-rlhf-build:<tag>;"). */
export function embeddedBuildTag(file: string): string | undefined {
  const bytes = readFileSync(file);
  const marker = Buffer.from('torch-rlhf-build:');
  const at = bytes.indexOf(marker);
  if (at < 0) return undefined;
  const end = bytes.indexOf(0x3b /* ; */, at);
  return end < 0 ? undefined : bytes.subarray(at + marker.length, end).toString('latin1');
}

function versionLess(a: string, b: string): boolean {
  const pa = a.split('.').map(Number),
    pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0,
      y = pb[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}

/** Is this libtorch older than the oldest one supported? */
export const tooOld = (lt: Pick<Libtorch, 'version'>): boolean => versionLess(lt.version, MIN_LIBTORCH);

/** 'cu130' from a CUDA version '13.0'; 'cpu' without one. */
function variantOf(cuda: string | null | undefined): string {
  return cuda ? `cu${cuda.replace(/\./g, '')}` : 'cpu';
}

/**
 * Identifies the libtorch in `libDir`: version and variant from a wheel's torch/version.py,
 * PyTorch's libtorch/build-version, or CMake's TorchConfigVersion.cmake (in that order).
 */
export function identify(libDir: string, source: LibtorchSource): Libtorch | undefined {
  if (!existsSync(join(libDir, 'libtorch' + SO)) && !existsSync(join(libDir, 'libtorch_cpu' + SO))) return undefined;
  const root = basename(libDir) === 'lib' ? dirname(libDir) : libDir;
  const hasCuda = existsSync(join(libDir, 'libtorch_cuda' + SO));
  let version: string | undefined;
  let variant: string | undefined;
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : undefined);
  const py = read(join(root, 'version.py'));
  if (py) {
    const v = /^__version__\s*=\s*['"]([^'"]+)['"]/m.exec(py)?.[1];
    const cuda = /^cuda(?::[^=]*)?=\s*['"]([^'"]+)['"]/m.exec(py)?.[1];
    if (v) [version, variant] = [v.split('+')[0]!, variantOf(cuda)];
  }
  const bv = !version ? read(join(root, 'build-version'))?.trim() : undefined;
  if (bv) {
    const [v, label] = bv.split('+');
    version = v;
    variant = label && /^(cpu|cu\d+)$/.test(label) ? label : hasCuda ? 'cuda' : 'cpu';
  }
  if (!version) {
    for (const f of [
      join(root, 'share', 'cmake', 'Torch', 'TorchConfigVersion.cmake'),
      join(libDir, 'cmake', 'Torch', 'TorchConfigVersion.cmake'),
    ]) {
      const v = /set\(PACKAGE_VERSION "([^"]+)"\)/.exec(read(f) ?? '')?.[1];
      if (v) {
        version = v.split('+')[0];
        break;
      }
    }
  }
  if (!version) {
    // Debian's libtorch.so.1.13 style: the version is in the versioned file name.
    const file = readdirSync(libDir).find((f) => /^libtorch\.so\.\d+\.\d+/.test(f));
    version = file ? file.replace(/^libtorch\.so\./, '') : '0';
  }
  variant ??= hasCuda ? 'cuda' : 'cpu';
  const lt: Libtorch = { libDir, root, version, variant, source };
  // A wheel in <prefix>/lib/pythonX.Y/site-packages/torch: its interpreter is <prefix>/bin/python3.
  const site = dirname(root);
  if (basename(root) === 'torch' && basename(site) === 'site-packages') {
    const python = join(dirname(dirname(dirname(site))), 'bin', 'python3');
    if (existsSync(python)) lt.python = python;
  }
  return lt;
}

/** A libtorch folder, a wheel's torch/ folder or a lib/ folder, as given by a user. */
function fromFolder(dir: string, source: LibtorchSource): Libtorch | undefined {
  return identify(join(dir, 'lib'), source) ?? identify(dir, source);
}

/** torch/ inside an environment's site-packages (a venv or a conda prefix). */
function inEnvironment(prefix: string, source: LibtorchSource): Libtorch | undefined {
  const lib = join(prefix, 'lib');
  if (!existsSync(lib)) return undefined;
  for (const py of readdirSync(lib)
    .filter((d) => /^python3\.\d+$/.test(d))
    .sort()
    .reverse()) {
    const found = fromFolder(join(lib, py, 'site-packages', 'torch'), source);
    if (found) return found;
  }
  return undefined;
}

/** The app folder whose node_modules hold the package at `root` (scoped or not), if any. */
function appFolder(root: string): string | undefined {
  let parent = dirname(resolve(root));
  if (basename(parent).startsWith('@')) parent = dirname(parent);
  return basename(parent) === 'node_modules' ? dirname(parent) : undefined;
}

/** torch's folder for a Python interpreter, found without importing torch (which takes seconds). */
function pythonTorch(python: string): string | undefined {
  const r = spawnSync(
    python,
    [
      '-c',
      "import importlib.util as u; s = u.find_spec('torch'); print(s.submodule_search_locations[0] if s and " +
        "s.submodule_search_locations else '')",
    ],
    {
      encoding: 'utf8',
      timeout: 15_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const dir = r.status === 0 ? r.stdout.trim() : '';
  return dir || undefined;
}

export interface FindOptions {
  /** This package's folder (for its .venv). */
  packageRoot: string;
  env?: NodeJS.ProcessEnv;
}

/** One step of the search: where it looks (for messages), and the look itself. */
interface SearchStep {
  place: string;
  find: () => Libtorch | undefined;
}

/** The steps of the search, in order (each look runs only when asked, so a slower step runs only when the earlier ones found nothing). */
function searchSteps({ packageRoot, env = process.env }: FindOptions): SearchStep[] {
  const steps: SearchStep[] = [];
  const { LIBTORCH } = env;
  if (LIBTORCH) {
    // A libtorch folder, a wheel's torch/ or lib/ folder, or the root of a virtual environment that holds the wheel.
    const dir = resolve(LIBTORCH);
    const find = () =>
      fromFolder(dir, 'LIBTORCH') ??
      inEnvironment(dir, 'LIBTORCH') ??
      notFound(`LIBTORCH=${LIBTORCH} holds no libtorch (no lib/libtorch${SO}, and no lib/python3.*/site-packages/torch)`);
    steps.push({ place: `LIBTORCH=${LIBTORCH}`, find });
  } else steps.push({ place: 'LIBTORCH (not set)', find: () => undefined });
  const app = appFolder(packageRoot);
  for (const venv of [join(packageRoot, '.venv'), ...(app ? [join(app, '.venv')] : [])])
    steps.push({ place: venv, find: () => inEnvironment(venv, 'project environment') });
  const { VIRTUAL_ENV, CONDA_PREFIX } = env;
  if (VIRTUAL_ENV)
    steps.push({ place: `the active virtual environment ${VIRTUAL_ENV}`, find: () => inEnvironment(VIRTUAL_ENV, 'Python PyTorch') });
  else steps.push({ place: 'the active virtual environment (none)', find: () => undefined });
  if (CONDA_PREFIX)
    steps.push({ place: `the conda environment ${CONDA_PREFIX}`, find: () => inEnvironment(CONDA_PREFIX, 'Python PyTorch') });
  for (const python of [env.TORCH_RLHF_PYTHON, 'python3'].filter((p): p is string => !!p))
    steps.push({
      place: `${python}'s torch`,
      find: () => {
        const dir = pythonTorch(python);
        return dir ? fromFolder(dir, 'Python PyTorch') : undefined;
      },
    });
  for (const dir of ['/usr/local/libtorch', '/opt/libtorch']) steps.push({ place: dir, find: () => fromFolder(dir, 'system') });
  const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch as string];
  const libDirs = ['/usr/local/lib', multiarch && `/usr/lib/${multiarch}`, '/usr/lib64', '/usr/lib'].filter((d): d is string => !!d);
  steps.push({ place: 'the system library folders', find: () => libDirs.map((d) => identify(d, 'system')).find((lt) => lt) });
  return steps;
}

/** Where the search looks, in order, for a "not found" message: the app's own .venv among them. */
export function searchedPlaces(options: FindOptions): string[] {
  return searchSteps(options).map((s) => s.place);
}

function notFound(message: string): never {
  throw new Error(`torch-rlhf: ${message}.`);
}

/** The libtorch to run on (see the search order above), or undefined when there is none. */
export function findLibtorch(options: FindOptions): Libtorch | undefined {
  for (const step of searchSteps(options)) {
    const found = step.find();
    if (found) return found;
  }
  return undefined;
}

/** One line for messages: `libtorch 2.13.0 (cpu) at …/torch/lib, from the project environment`. */
export function describeLibtorch(lt: Libtorch): string {
  const from = {
    LIBTORCH: 'LIBTORCH',
    'project environment': 'the project environment',
    'Python PyTorch': 'a Python PyTorch',
    system: "the system's",
  }[lt.source];
  return `libtorch ${lt.version} (${lt.variant}) at ${lt.libDir}, from ${from}`;
}

/** What to install to get PyTorch's libtorch for a build tag, for error messages. */
export function installHint(version: string, variant: string): string {
  if (variant === 'cpu')
    return `pip install torch==${version}+cpu --index-url https://download.pytorch.org/whl/cpu   (into .venv: bash scripts/setup.sh)`;
  const index = /^cu\d+$/.test(variant) ? ` --index-url https://download.pytorch.org/whl/${variant}` : '';
  return `pip install torch==${version}${index}   (into .venv: bash scripts/setup.sh --cuda)`;
}
