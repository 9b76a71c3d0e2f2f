// Shared by the benchmark scripts: machine description, medians, and writing one section of
// docs/benchmarks.md (between markers, so each benchmark owns its section).
import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function machine(threads) {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  let py = 'unknown';
  try {
    py = execSync(`/usr/bin/python3 -c "import torch; print(torch.__version__)"`, { encoding: 'utf8' }).trim();
  } catch {}
  return `${cpu}, ${cpus().length} vCPU, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; PyTorch ${py} (Python) and libtorch of the addon; ${threads} thread(s) on both sides`;
}

export function writeSection(file, name, markdown) {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\nFigures measured by the scripts in `scripts/`, torch-rlhf against the same work in PyTorch from Python, in one run.\n';
  const block = `${begin}\n${markdown.trim()}\n${end}`;
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  doc = i >= 0 && j > i ? doc.slice(0, i) + block + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, doc);
}
