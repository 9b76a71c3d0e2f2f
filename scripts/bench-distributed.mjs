// Data-parallel scaling (part 13): the same global batch trained by 2 processes at 1 thread each
// (Gloo on loopback, each rank half the batch) against 1 process at 2 threads, and 1 process at
// 1 thread for scale, for an SFT step and a GRPO iteration at the compute-bound size (6×384
// GPT-2, block 256: bench.mjs's). Each configuration is a fresh set of children
// (scripts/bench/dist_side.mjs) running the real trainers; a step is the gap between consecutive
// step ends in rank 0's metrics.jsonl, after warm-up. Configurations alternate in rounds (ABC,
// CBA, …) so that a drift in the machine's speed hits them alike.
//   node scripts/bench-distributed.mjs [--quick] [--rounds N]
// Writes its table to docs/benchmarks.md (section "bench-distributed").
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, median, threadEnv, writeSection } from './bench/report.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const ri = args.indexOf('--rounds');
const rounds = (ri >= 0 && Number(args[ri + 1])) || (quick ? 1 : 2);
const root = fileURLToPath(new URL('..', import.meta.url));
const side = join(root, 'scripts', 'bench', 'dist_side.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'bench-dist-'));

const global = { sft: 8, grpo: 8 }; // sequences per optimizer step / completions per GRPO iteration, over all ranks
const plan = { sft: { steps: quick ? 3 : 5, warmup: 1 }, grpo: { steps: quick ? 3 : 4, warmup: 1 } };
const configs = [
  { key: '2x1', procs: 2, threads: 1, label: '2 processes × 1 thread' },
  { key: '1x2', procs: 1, threads: 2, label: '1 process × 2 threads' },
  { key: '1x1', procs: 1, threads: 1, label: '1 process × 1 thread' },
];
let port = 29900 + Math.floor(Math.random() * 50) * 2;

function child(env, input) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [side, JSON.stringify(input)], { env: { ...process.env, ...env }, cwd: root });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`dist_side exited ${code}: ${err}`))));
  });
}

async function measure(task, cfg, round) {
  const out = join(tmp, `${task}-${cfg.key}-${round}`);
  const input = { task, perRank: global[task] / cfg.procs, steps: plan[task].steps, warmup: plan[task].warmup, threads: cfg.threads, out };
  const base = threadEnv(cfg.threads);
  port += 1;
  const outs = await Promise.all(
    Array.from({ length: cfg.procs }, (_, r) =>
      child(
        cfg.procs > 1
          ? {
              ...base,
              RANK: String(r),
              LOCAL_RANK: String(r),
              WORLD_SIZE: String(cfg.procs),
              MASTER_ADDR: '127.0.0.1',
              MASTER_PORT: String(port),
            }
          : { ...base, RANK: '', WORLD_SIZE: '' },
        input,
      ),
    ),
  );
  const lines = outs
    .join('\n')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const r0 = lines.find((l) => l.rank === 0);
  // CPU time of a step: every rank's, added up (the work the configuration spends on it).
  return { gaps: r0.gaps, cpu: r0.cpu.map((_, i) => lines.reduce((a, l) => a + l.cpu[i], 0)) };
}

const load = [loadavg()[0]];
const results = {};
for (const task of ['sft', 'grpo']) {
  results[task] = Object.fromEntries(configs.map((c) => [c.key, { gaps: [], cpu: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const cfg of round % 2 ? [...configs].reverse() : configs) {
      const r = await measure(task, cfg, round);
      results[task][cfg.key].gaps.push(...r.gaps);
      results[task][cfg.key].cpu.push(...r.cpu);
      process.stderr.write(
        `${task} ${cfg.label}, round ${round + 1}: ${r.gaps.map((g) => g.toFixed(2)).join(', ')} s wall, ` +
          `${r.cpu.map((g) => g.toFixed(2)).join(', ')} s CPU\n`,
      );
    }
  }
}
rmSync(tmp, { recursive: true, force: true });
load.push(loadavg()[0]);

const rows = [];
const units = { sft: 'sequences/s', grpo: 'completions/s' };
const names = {
  sft: `SFT step (${global.sft} sequences × 256 tokens)`,
  grpo: `GRPO iteration (${global.grpo} completions: 2 prompts × 4, up to 128 new tokens, one update)`,
};
const summary = {};
for (const task of ['sft', 'grpo']) {
  const s = Object.fromEntries(configs.map((c) => [c.key, median(results[task][c.key].gaps)]));
  const cpu = Object.fromEntries(configs.map((c) => [c.key, median(results[task][c.key].cpu)]));
  summary[task] = { wall: s, cpu };
  for (const c of configs) {
    const t = s[c.key];
    const thr = global[task] / t;
    const vs2 = (s['1x2'] / t).toFixed(2);
    const eff = ((s['1x1'] / t / (c.procs * c.threads)) * 100).toFixed(0);
    const gaps = results[task][c.key].gaps;
    const work = ((cpu['1x1'] / cpu[c.key]) * 100).toFixed(0);
    rows.push(
      `| ${names[task]} | ${c.label} | ${t.toFixed(2)} (${Math.min(...gaps).toFixed(2)}–${Math.max(...gaps).toFixed(2)}) | ` +
        `${thr.toFixed(2)} ${units[task]} | ${vs2}× | ${eff} % | ${cpu[c.key].toFixed(2)} | ${work} % |`,
    );
  }
}
const date = new Date().toISOString().slice(0, 10);
const md = [
  '## Data-parallel scaling: 2 processes × 1 thread against 1 process × 2 threads',
  '',
  `Measured ${date} by \`node scripts/bench-distributed.mjs${quick ? ' --quick' : ''}\` (${rounds} round(s), configurations ` +
    `alternated), on ${machine(2).replace(/; \d+ thread\(s\) on both sides$/, '')}. The same global batch in each configuration: the 2 ` +
    'ranks (Gloo over loopback, `RANK`/`WORLD_SIZE` set by hand, as torchrun would) take half of it each and average their gradients ' +
    'in ~25 MB buckets after backward; the one process takes all of it. Compute-bound size: 6 layers × 384 wide GPT-2, block 256, AdamW, ' +
    'clip 1. A step is the gap between consecutive step ends on rank 0 (an `onStep` callback of the real `SFTTrainer` / ' +
    `\`GRPOTrainer\` loops), the median of ${plan.sft.steps - 1 - plan.sft.warmup} (SFT) and ${plan.grpo.steps - 1 - plan.grpo.warmup} ` +
    `(GRPO) gaps per child after ${plan.sft.warmup} warm-up, range in brackets. *vs 1×2* is the 1-process-at-2-threads time over this ` +
    'one (above 1: faster); *efficiency* is the 1-thread time over this one, divided by the cores used (100 % = perfect scaling). *CPU ' +
    "per step* adds up the process CPU time of every rank for one step; *work efficiency* is the 1-thread process's CPU time over it: " +
    "what data parallelism costs in extra work (communication, Gloo's threads, what each rank repeats), which other jobs on the machine " +
    'do not inflate as they inflate wall time.',
  '',
  '| Workload | Configuration | Step, wall (s) | Throughput | vs 1×2 | Efficiency | CPU per step, all ranks (s) | Work efficiency |',
  '|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  `The machine is shared with other work: its 1-minute load average was ${load[0].toFixed(1)} at the start and ${load[1].toFixed(1)} ` +
    'at the end, on 2 vCPUs, so the configurations competed with other processes for the cores; a process at 2 threads suffers most from ' +
    'that (its OpenMP team waits for its slowest thread), which is why it can be slower than 1 thread here. Read the ratios as this ' +
    "machine's under that load, not as the scaling of an idle one. GRPO's generation stops early when every completion of a batch has " +
    'ended (EOS): with 4 completions per rank a batch ends sooner than with 8, which favours the 2-rank configuration slightly.',
].join('\n');
writeSection(join(root, 'docs', 'benchmarks.md'), 'bench-distributed', md);
console.log(md);
console.log(JSON.stringify(summary));
