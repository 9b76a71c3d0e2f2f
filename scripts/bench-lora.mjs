// LoRA's costs and savings at the compute-bound model size of scripts/bench.mjs (GPT-2 6×384,
// 256 positions): for an SFT step and a GRPO iteration (generation + scoring + update), full
// fine-tuning against a LoRA adapter (r 16, alpha 32, all linear layers): step time, the
// process's peak RSS, the trainable parameters and the optimizer's state (AdamW's two
// moments); and generation through the native loop with the adapter unmerged (W + s·B·A made
// once per call), merged, and without an adapter. Each measurement runs in a fresh child
// process (its own peak RSS), sides alternated over rounds.
//   node scripts/bench-lora.mjs [--quick] [--threads N]      (npm run bench:lora; npm run build:ts first)
// Writes its table to docs/benchmarks.md (section "bench-lora").
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machine, median, threadEnv, writeSection } from './bench/report.mjs';
import { mulberry32 } from '../dist/data/random.js';

const args = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const V = 259,
  PAD = 258; // ByteTokenizer's vocabulary and pad id
const MODEL = { vocabSize: V, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384 };
const LORA = { r: 16, loraAlpha: 32, targetModules: 'all-linear' };
const LAYERS = 4 * MODEL.nLayer; // c_attn, attn.c_proj, c_fc, mlp.c_proj per block

// ------------------------------------------------------------------ child side
async function child(task) {
  const t = await import('../dist/index.js');
  const { torch } = t;
  torch.setNumThreads(task.threads);
  torch.manualSeed(0);
  const model = t.GPT.create(MODEL);
  const bytesOf = (ps) => ps.reduce((n, p) => n + p.numel() * 4, 0);
  const stateBytes = (opt) => {
    let n = 0;
    for (const s of Object.values(opt.stateDict().state))
      for (const v of Object.values(s)) if (v instanceof torch.Tensor) n += v.numel() * 4;
    return n;
  };
  const out = { threads: torch.getNumThreads(), times: [], cpuTimes: [] };
  // Wall and CPU time of one repeat: at one thread the process's CPU time is the work itself,
  // which other processes on a shared machine do not inflate as they do the wall time.
  const clock = () => ({ wall: performance.now(), cpu: process.cpuUsage() });
  const record = (c0) => {
    const cpu = process.cpuUsage(c0.cpu);
    out.times.push(performance.now() - c0.wall);
    out.cpuTimes.push((cpu.user + cpu.system) / 1000);
  };
  const lora = task.variant === 'lora' || task.variant === 'merged';
  if (lora) {
    t.applyLora(model, LORA);
    // A trained adapter is not zero: give lora_B values, so that merging changes the weights.
    torch.noGrad(() => {
      for (const [, p] of t.adapterParameters(model)) p.normal_(0, 0.02);
    });
  }
  const rnd = mulberry32(1234);
  const int = (a, b) => a + Math.floor(rnd() * (b - a + 1));
  if (task.task === 'sft') {
    const seqs = Array.from({ length: 8 }, () => {
      const ids = Array.from({ length: 256 }, () => int(0, 255));
      return { ids, labels: ids.map((id, j) => (j < 64 ? -100 : id)) };
    });
    const trainable = model.parameters().filter((p) => p.requiresGrad);
    const opt = new t.AdamW(trainable, { lr: 1e-4 });
    const batch = t.collateSequences(seqs, PAD, 'cpu');
    model.train();
    for (let i = 0; i < task.warmup + task.repeats; i++) {
      const c0 = clock();
      opt.zeroGrad();
      torch.tidy(() => t.languageModelLoss(model, batch).backward());
      torch.nn.utils.clipGradNorm(trainable, 1);
      opt.step();
      if (i >= task.warmup) record(c0);
    }
    out.trainable = bytesOf(trainable) / 4;
    out.optimizerBytes = stateBytes(opt);
    torch.dispose(batch);
    // What a checkpoint of the model holds: model.safetensors, or the adapter's file.
    const { mkdtempSync, readdirSync, statSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/bench-lora-save-');
    await model.save(dir);
    out.savedBytes = readdirSync(dir).reduce((n, f) => n + statSync(`${dir}/${f}`).size, 0);
    rmSync(dir, { recursive: true, force: true });
  } else if (task.task === 'grpo') {
    const tok = new t.ByteTokenizer();
    const prompts = Array.from({ length: 16 }, () => ({
      prompt: Array.from({ length: int(96, 127) }, () => String.fromCharCode(97 + int(0, 25))).join(''),
    }));
    const reward = ({ completions }) => completions.map((c) => (c.length ? [...c].filter((ch) => ch === 'a').length / c.length : 0));
    const trainer = new t.GRPOTrainer({
      model,
      tokenizer: tok,
      prompts,
      rewards: reward,
      peftConfig: undefined,
      config: {
        outputDir: '/tmp/bench-lora-grpo',
        batchSize: 8,
        numGenerations: 4,
        maxPromptLength: 128,
        maxCompletionLength: 128,
        beta: 0.04,
        learningRate: 1e-5,
        progressBar: false,
        seed: 1,
      },
    });
    out.rollout = [];
    for (let i = 0; i < task.warmup + task.repeats; i++) {
      const c0 = clock();
      const { batch } = await trainer.generate();
      const rollout = process.cpuUsage(c0.cpu);
      await trainer.update(batch);
      torch.dispose(batch);
      if (i >= task.warmup) {
        record(c0);
        out.rollout.push((rollout.user + rollout.system) / 1000);
      }
    }
    out.trainable = bytesOf(model.parameters().filter((p) => p.requiresGrad)) / 4;
    out.optimizerBytes = stateBytes(trainer.optimizer);
    out.reference = trainer.refModel ? 'frozen copy' : 'base (adapter off)';
  } else if (task.task === 'generate') {
    if (task.variant === 'merged') t.mergeAdapter(model);
    const prompts = Array.from({ length: 8 }, () => Array.from({ length: 32 }, () => int(0, 255)));
    for (let i = 0; i < task.warmup + task.repeats; i++) {
      const c0 = clock();
      const g = await model.generate(prompts, { maxNewTokens: task.newTokens, greedy: true, padTokenId: PAD });
      if (i >= task.warmup) record(c0);
      torch.dispose(g);
    }
    out.tokens = 8 * task.newTokens;
    // What an unmerged adapter adds to every native call, apart from the generation's length:
    // W + s·B·A for each adapted layer. A one-token forward is little else.
    const one = torch.tensor([[1]], { dtype: 'int64' });
    const calls = [];
    for (let i = 0; i < 25; i++) {
      const c0 = process.cpuUsage();
      torch.dispose(torch.noGrad(() => model.forward(one, { path: 'native' })));
      const c = process.cpuUsage(c0);
      if (i >= 5) calls.push((c.user + c.system) / 1000);
    }
    one.dispose();
    out.oneToken = calls.sort((a, b) => a - b)[calls.length >> 1];
  }
  out.rssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

// ------------------------------------------------------------------ parent side
async function parent() {
  const quick = args.includes('--quick');
  const ti = args.indexOf('--threads');
  const threads = (ti >= 0 && Number(args[ti + 1])) || 1;
  const plan = quick
    ? { rounds: 1, sft: [1, 2], grpo: [0, 1], gen: [1, 2], newTokens: 32 }
    : { rounds: 3, sft: [1, 3], grpo: [1, 2], gen: [1, 5], newTokens: 96 };
  const env = { ...process.env, ...threadEnv(threads) };
  const run = (task) => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child'], {
      input: JSON.stringify({ ...task, threads }),
      encoding: 'utf8',
      env,
      cwd: root,
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) throw new Error(`${task.task}/${task.variant} failed: ${r.stderr}`);
    const o = JSON.parse(r.stdout.trim().split('\n').pop());
    if (o.threads !== threads) throw new Error(`child ran ${o.threads} threads, expected ${threads}`);
    return o;
  };
  const started = Date.now();
  const results = {};
  // Each round runs every variant back to back (ABBA order over rounds); a variant's cost
  // against the first is the median of the rounds' ratios, which a machine shared with other
  // work disturbs less than a ratio of medians; its range shows the noise.
  const measure = (taskName, variants, [warmup, repeats], extra = {}) => {
    for (let round = 0; round < plan.rounds; round++) {
      const here = {};
      for (const variant of round % 2 ? [...variants].reverse() : variants) {
        const o = run({ task: taskName, variant, warmup, repeats, ...extra });
        const acc = (results[`${taskName}/${variant}`] ??= { times: [], wall: [], rollout: [], rss: 0, ratios: [] });
        acc.times.push(...o.cpuTimes);
        acc.wall.push(...o.times);
        acc.rollout.push(...(o.rollout ?? []));
        acc.rss = Math.max(acc.rss, o.rssMiB);
        here[variant] = median(o.cpuTimes);
        Object.assign(acc, {
          trainable: o.trainable,
          optimizerBytes: o.optimizerBytes,
          savedBytes: o.savedBytes,
          reference: o.reference,
          tokens: o.tokens,
        });
        if (o.oneToken !== undefined) (acc.oneToken ??= []).push(o.oneToken);
        process.stderr.write(
          `  ${taskName}/${variant}: CPU ${o.cpuTimes.map((x) => x.toFixed(0)).join(', ')} ms, wall ` +
            `${o.times.map((x) => x.toFixed(0)).join(', ')} ms, ${o.rssMiB.toFixed(0)} MiB\n`,
        );
      }
      for (const v of variants) results[`${taskName}/${v}`].ratios.push(here[v] / here[variants[0]]);
    }
  };
  measure('sft', ['full', 'lora'], plan.sft);
  measure('grpo', ['full', 'lora'], plan.grpo);
  measure('generate', ['base', 'lora', 'merged'], plan.gen, { newTokens: plan.newTokens });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const r = (k) => results[k];
  const ms = (k) => median(r(k).times);
  const mib = (b) => (b / 2 ** 20).toFixed(1);
  const vs = (k) => {
    const q = r(k).ratios;
    return q.length > 1
      ? `${median(q).toFixed(2)}× (${Math.min(...q).toFixed(2)}–${Math.max(...q).toFixed(2)})`
      : `${median(q).toFixed(2)}×`;
  };
  const wall = (k) => median(r(k).wall);
  const row = (label, k) =>
    `| ${label} | ${ms(k).toFixed(0)} ms | ${wall(k).toFixed(0)} ms | ${vs(k)} | ${r(k).rss.toFixed(0)} MiB | ` +
    `${r(k).trainable.toLocaleString('en')} | ${mib(r(k).optimizerBytes)} MiB |`;
  const inflation = Math.max(...Object.values(results).flatMap((x) => x.wall.map((w, i) => w / x.times[i])));
  const one = (k) => median(r(k).oneToken).toFixed(1);
  const tps = (k) => (r(k).tokens / (ms(k) / 1000)).toFixed(0);
  const md = [
    '## LoRA: full fine-tuning against an adapter',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} by \`node scripts/bench-lora.mjs${quick ? ' --quick' : ''} --threads ` +
      `${threads}\` (${seconds} s): ${machine(threads)}.`,
    `Model: GPT-2 6×384, 256 positions (the compute-bound size of \`scripts/bench.mjs\`); adapter r ${LORA.r}, alpha ` +
      `${LORA.loraAlpha}, all linear layers (c_attn, c_proj, c_fc; lm_head excluded).`,
    `Times are medians over ${plan.rounds} round(s) of fresh child processes per variant: the process's CPU time (at one thread, the ` +
      `work itself; other jobs on a shared machine inflate the wall time, also shown: here by up to ${inflation.toFixed(1)}× on one ` +
      `repeat), and "vs" the median of the rounds' CPU-time ratios (their range in brackets), each round's variants run back to back; ` +
      "peak RSS is the child's whole process (libtorch, the model, activations).",
    '',
    '| workload | CPU time | wall time | vs full (CPU) | peak RSS | trainable parameters | optimizer state |',
    '|---|---|---|---|---|---|---|',
    row('SFT step, full (batch 8 × 256 tokens)', 'sft/full'),
    row('SFT step, LoRA', 'sft/lora'),
    row(`GRPO iteration, full (8 completions × 128 tokens, beta 0.04: ${r('grpo/full').reference})`, 'grpo/full'),
    row(`GRPO iteration, LoRA (reference: ${r('grpo/lora').reference})`, 'grpo/lora'),
    '',
    `Saved model (what a checkpoint holds): full ${mib(r('sft/full').savedBytes)} MiB (model.safetensors), LoRA ` +
      `${mib(r('sft/lora').savedBytes)} MiB (adapter_config.json + adapter_model.safetensors).`,
    '',
    `GRPO's generation + scoring part: full ${median(r('grpo/full').rollout).toFixed(0)} ms, LoRA ` +
      `${median(r('grpo/lora').rollout).toFixed(0)} ms (the reference's log-probs with the adapter off instead of a second model).`,
    '',
    `| generation (native loop, KV cache, batch 8, prompt 32, ${plan.newTokens} new tokens, greedy) | CPU time | tokens per CPU second ` +
      '| vs no adapter |',
    '|---|---|---|---|',
    `| no adapter | ${ms('generate/base').toFixed(0)} ms | ${tps('generate/base')} | 1× |`,
    `| adapter unmerged (W + s·B·A made once per call) | ${ms('generate/lora').toFixed(0)} ms | ${tps('generate/lora')} | ` +
      `${vs('generate/lora')} |`,
    `| adapter merged | ${ms('generate/merged').toFixed(0)} ms | ${tps('generate/merged')} | ${vs('generate/merged')} |`,
    '',
    'The whole-generation rows differ by about the noise between rounds (merged and no adapter run the very same computation, yet ' +
      'differ by 7 % here); the one-token measure below isolates what the unmerged adapter costs.',
    '',
    'What the unmerged adapter adds to each native call (forward or whole generation), measured apart from the noise of a generation: ' +
      `a one-token native forward takes ${one('generate/base')} ms of CPU without an adapter, ${one('generate/merged')} ms merged and ` +
      `${one('generate/lora')} ms unmerged, so building W + s·B·A for the ${LAYERS} adapted layers costs about ` +
      `${(median(r('generate/lora').oneToken) - median(r('generate/base').oneToken)).toFixed(1)} ms per call, once per generate() (here ` +
      `${((100 * (median(r('generate/lora').oneToken) - median(r('generate/base').oneToken))) / ms('generate/base')).toFixed(1)} % of ` +
      'the generation above). Merged costs what the base model does.',
  ].join('\n');
  writeSection(`${root}/docs/benchmarks.md`, 'bench-lora', md);
  console.log(md);
}

if (args.includes('--child')) {
  let input = '';
  process.stdin.on('data', (d) => (input += d));
  process.stdin.on('end', () =>
    child(JSON.parse(input)).catch((err) => {
      console.error(err);
      process.exit(1);
    }),
  );
} else await parent();
