// Generation benchmark: tokens/s with and without the KV cache, torch-rlhf (the native loop)
// against the same loop in PyTorch from Python, alternating the two sides in one run.
//   node scripts/bench-generate.mjs [--quick] [--threads N]
// Writes its table to docs/benchmarks.md (section "generate").
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GPT, torch } from '../dist/index.js';
import { machine, median, referencePython, threadEnv, writeSection } from './bench/report.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threads = Number(args[args.indexOf('--threads') + 1] || 0) || torch.getNumThreads();
torch.setNumThreads(threads);
const root = fileURLToPath(new URL('..', import.meta.url));

const sizes = [
  { name: 'demo (4×128)', vocabSize: 259, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 128 },
  { name: 'compute-bound (6×384)', vocabSize: 259, blockSize: 512, nLayer: 6, nHead: 6, nEmbd: 384 },
];
const work = { batch: 8, promptLen: 32, newTokens: quick ? 16 : 96, warmup: 1, repeats: quick ? 2 : 5 };

async function jsSide(size, useCache) {
  torch.manualSeed(0);
  const model = GPT.create(size).eval();
  const prompts = Array.from({ length: work.batch }, () =>
    Array.from({ length: work.promptLen }, () => Math.floor(Math.random() * size.vocabSize)),
  );
  const times = [];
  for (let r = 0; r < work.warmup + work.repeats; r++) {
    const t0 = performance.now();
    const out = await model.generate(prompts, { maxNewTokens: work.newTokens, useCache, seed: r });
    if (r >= work.warmup) times.push((performance.now() - t0) / 1000);
    torch.dispose(out);
  }
  model.dispose();
  return times;
}

function pySide(size, useCache) {
  const cfg = JSON.stringify({ ...size, ...work, useCache, threads });
  // torch.set_num_threads does not reach Debian's OpenBLAS pool; pin it too so both sides
  // really run at the same thread count (torch-rlhf's setNumThreads pins both).
  const env = { ...process.env, ...threadEnv(threads) };
  const r = spawnSync(referencePython(), [`${root}/scripts/bench/gpt_reference.py`, cfg], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`python side failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()).times;
}

const rows = [];
for (const size of sizes) {
  for (const useCache of [true, false]) {
    const tokens = work.batch * work.newTokens;
    const js = [],
      py = [];
    for (let round = 0; round < 2; round++) {
      // Alternate the sides so drift in the machine's speed hits both.
      js.push(...(await jsSide(size, useCache)));
      py.push(...pySide(size, useCache));
    }
    const tJs = median(js),
      tPy = median(py);
    rows.push({ size: size.name, cache: useCache ? 'KV cache' : 'no cache', jsTps: tokens / tJs, pyTps: tokens / tPy, ratio: tJs / tPy });
    console.log(
      `${size.name.padEnd(24)} ${(useCache ? 'KV cache' : 'no cache').padEnd(9)} torch-rlhf ${(tokens / tJs).toFixed(0).padStart(7)} ` +
        `tok/s   PyTorch ${(tokens / tPy).toFixed(0).padStart(7)} tok/s   time ratio ${(tJs / tPy).toFixed(2)}`,
    );
  }
}

const date = new Date().toISOString().slice(0, 10);
const table = [
  `## Generation (tokens/s)`,
  '',
  `Measured ${date} by \`node scripts/bench-generate.mjs${quick ? ' --quick' : ''}\` on ${machine(threads)}.`,
  `Batch ${work.batch}, prompt ${work.promptLen} tokens, ${work.newTokens} new tokens sampled at temperature 1, median of ` +
    `${work.repeats * 2} runs per side after warm-up. Python runs the same GPT-2 and loop (\`scripts/bench/gpt_reference.py\`, a ` +
    'concatenating KV cache as in Hugging Face); torch-rlhf runs its native loop (`native/gpt.cpp`, a preallocated KV cache) on the ' +
    'libuv thread pool.',
  '',
  '| model | mode | torch-rlhf tok/s | PyTorch tok/s | time ratio (torch-rlhf / PyTorch) |',
  '|---|---|---:|---:|---:|',
  ...rows.map((r) => `| ${r.size} | ${r.cache} | ${r.jsTps.toFixed(0)} | ${r.pyTps.toFixed(0)} | ${r.ratio.toFixed(2)} |`),
];
writeSection(`${root}/docs/benchmarks.md`, 'generate', table.join('\n'));
console.log('\nwrote docs/benchmarks.md (generate)');
