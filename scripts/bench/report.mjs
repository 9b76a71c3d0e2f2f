// Shared by the benchmark scripts: the Python that runs the reference side, the thread
// settings both sides get, machine description, medians, and writing one section of
// docs/benchmarks.md (between markers, so each benchmark owns its section).
import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { torch } from '../../dist/index.js';
import { libtorch } from '../../dist/native.js';

/**
 * The Python whose PyTorch holds the very libtorch the addon runs on (the project's .venv after
 * scripts/setup.sh), so both sides run the same kernels. PYTHON overrides it (e.g. on a GPU machine).
 */
export function referencePython() {
  const python = process.env.PYTHON ?? libtorch.python;
  if (!python)
    throw new Error(`the addon runs on ${libtorch.libDir}, which is not a Python wheel's: set PYTHON to a python3 with the same PyTorch`);
  return python;
}

/**
 * The thread count for both sides: torch.set_num_threads / setNumThreads in each process, and
 * the environment of every pool a libtorch may have: OpenMP (ATen's backend in PyTorch's wheels),
 * MKL (their BLAS on x86-64) and OpenBLAS (aarch64 wheels and distribution builds).
 */
export const threadEnv = (threads) => ({
  OMP_NUM_THREADS: String(threads),
  MKL_NUM_THREADS: String(threads),
  OPENBLAS_NUM_THREADS: String(threads),
});

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function machine(threads) {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  let py = 'unknown';
  try {
    py = execFileSync(
      referencePython(),
      ['-c', 'import sys, torch; print(f"PyTorch {torch.__version__} on Python {sys.version.split()[0]}")'],
      { encoding: 'utf8' },
    ).trim();
  } catch {}
  const v = torch.version();
  const blas = /Math Kernel Library Version ([\d.]+)/.exec(v.parallel)?.[1];
  const backend = /ATen parallel backend: (\w+)/.exec(v.parallel)?.[1];
  return (
    `${cpu}, ${cpus().length} vCPU, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${py}; the addon on the same ` +
    `libtorch (build ${v.build}${blas ? `, MKL ${blas}` : ''}${backend ? `, ${backend}` : ''}); ${threads} thread(s) on both sides`
  );
}

export function writeSection(file, name, markdown) {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  let doc = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmarks\n\nFigures measured by the scripts in `scripts/`, torch-rlhf against the same work in PyTorch from Python, in one ' +
      'run.\n';
  const block = `${begin}\n${markdown.trim()}\n${end}`;
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  doc = i >= 0 && j > i ? doc.slice(0, i) + block + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, doc);
}
