// Training inside a service: the event loop's longest stall (perf_hooks.monitorEventLoopDelay,
// max) while SFTTrainer, DPOTrainer and GRPOTrainer train at the compute-bound size of
// scripts/bench.mjs (GPT-2 6×384, batch 8), and their step time: the forward, backward and
// optimizer step run on the compute thread and the event loop must stay under 50 ms.
// Each method runs in a fresh child process; --dist DIR measures another build (e.g. the code
// before the change: a checkout's dist/, with its own build/Release beside it).
//   node scripts/bench-event-loop.mjs [--threads N] [--steps N] [--dist DIR]   (npm run build:ts first)
// Prints a Markdown table (docs/benchmarks.md, section "bench-event-loop", holds the figures).
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const root = fileURLToPath(new URL('..', import.meta.url));
const threads = Number(flag('--threads', '2'));
const steps = Number(flag('--steps', '4'));
const dist = resolve(flag('--dist', join(root, 'dist')));
const MODEL = { vocabSize: 259, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384 };

// ------------------------------------------------------------------ child side
async function child(method) {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const t = await import(pathToFileURL(join(dist, 'index.js')).href);
  t.torch.setNumThreads(threads);
  t.torch.manualSeed(0);
  const tok = new t.ByteTokenizer();
  const model = t.GPT.create(MODEL);
  const outputDir = mkdtempSync(join(tmpdir(), 'bench-event-loop-'));
  const text = (i, n) => Array.from({ length: n }, (_, k) => String.fromCharCode(97 + ((i * 7 + k * 3) % 26))).join('');
  const common = { outputDir, maxSteps: steps, batchSize: 8, loggingSteps: 1, progressBar: false, saveSteps: 0 };
  const stepEnds = [];
  const callbacks = [{ onStep: () => void stepEnds.push({ wall: performance.now(), cpu: process.cpuUsage() }) }];
  let trainer;
  if (method === 'sft') {
    // 8 × 256 tokens, the answer (192 tokens) trained.
    const data = Array.from({ length: 64 }, (_, i) => ({ kind: 'prompt-completion', prompt: text(i, 62), completion: text(i + 1, 192) }));
    trainer = new t.SFTTrainer({ model, tokenizer: tok, trainDataset: data, callbacks, config: { ...common, maxLength: 256 } });
  } else if (method === 'dpo') {
    // 8 pairs of 128-token sequences (64 prompt, 64 answer): 16 sequences through the policy, 16 through the reference.
    const data = Array.from({ length: 64 }, (_, i) => ({
      kind: 'text',
      prompt: text(i, 63),
      chosen: text(i + 1, 63),
      rejected: text(i + 2, 63),
    }));
    trainer = new t.DPOTrainer({ model, tokenizer: tok, trainDataset: data, callbacks, config: { ...common, maxLength: 128 } });
  } else {
    // 2 prompts of 64 tokens × 4 completions of 128 tokens; a reward function on this thread.
    const prompts = Array.from({ length: 16 }, (_, i) => ({ prompt: text(i, 64) }));
    const rewards = [({ completions }) => completions.map((c) => (c.match(/a/g)?.length ?? 0) / 128)];
    const config = { ...common, numGenerations: 4, maxCompletionLength: 128 };
    trainer = new t.GRPOTrainer({ model, tokenizer: tok, prompts, rewards, callbacks, config });
  }
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  await trainer.train();
  h.disable();
  // Step times from the step boundaries, the first step (allocations, the optimizer's state) left out.
  const times = [];
  const cpuTimes = [];
  for (let i = 1; i < stepEnds.length; i++) {
    const [a, b] = [stepEnds[i - 1], stepEnds[i]];
    times.push(b.wall - a.wall);
    cpuTimes.push((b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system)) / 1000);
  }
  trainer.dispose();
  model.dispose();
  rmSync(outputDir, { recursive: true, force: true });
  return { maxStallMs: h.max / 1e6, p99StallMs: h.percentile(99) / 1e6, times, cpuTimes };
}

// ------------------------------------------------------------------ parent side
if (process.env.BENCH_EVENT_LOOP_CHILD) {
  const r = await child(process.env.BENCH_EVENT_LOOP_CHILD);
  process.stdout.write(`${JSON.stringify(r)}\n`);
} else {
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const rows = [];
  for (const method of ['sft', 'dpo', 'grpo']) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args], {
      encoding: 'utf8',
      env: { ...process.env, BENCH_EVENT_LOOP_CHILD: method },
      maxBuffer: 1 << 26,
    });
    if (r.status !== 0) throw new Error(`${method}: ${r.stderr}`);
    const m = JSON.parse(r.stdout.trim().split('\n').pop());
    rows.push(
      `| ${method.toUpperCase()} | ${m.maxStallMs.toFixed(0)} ms | ${m.p99StallMs.toFixed(0)} ms | ` +
        `${median(m.times).toFixed(0)} ms | ${median(m.cpuTimes).toFixed(0)} ms |`,
    );
    console.error(`${method}: ${JSON.stringify(m)}`);
  }
  console.log(`GPT-2 6×384, batch 8, ${steps} steps, ${threads} thread(s), ${dist}`);
  console.log('| method | longest stall | 99th percentile | step time (wall, median) | step CPU time (median) |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}
