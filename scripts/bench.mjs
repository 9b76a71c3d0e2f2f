// Benchmarks against PyTorch from Python: the same work in torch-rlhf and in PyTorch
// (scripts/bench/train_reference.py, the same GPT-2 and loops), each measurement in its own
// child process (peak RSS per side), the two sides alternated, at two model sizes:
// SFT step, reward-model step, PPO iteration, generation with and without the KV cache,
// and the SFT step's achieved GFLOP/s against a large float32 matmul in each process.
//   node scripts/bench.mjs [--quick] [--threads N]      (npm run bench)
// Writes its table to docs/benchmarks.md (section "bench"; the "generate" section of
// scripts/bench-generate.mjs is left as it is).
import { fileURLToPath } from 'node:url';
import { torch } from '../dist/index.js';
import { machine, writeSection } from './bench/report.mjs';
import { benchRunner } from './bench/rounds.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const ti = args.indexOf('--threads');
const threads = (ti >= 0 && Number(args[ti + 1])) || torch.getNumThreads();
const root = fileURLToPath(new URL('..', import.meta.url));

// ------------------------------------------------------------------ workloads
const V = 259,
  BOS = 256,
  EOS = 257,
  PAD = 258; // ByteTokenizer's ids
const sizes = [
  {
    key: 'demo',
    name: 'demo (4×128)',
    model: { vocabSize: V, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 },
    batch: 32,
    seqLen: [32, 48],
    promptChars: [8, 16],
    newTokens: 24,
    miniBatch: 8,
  },
  {
    key: 'compute',
    name: 'compute-bound (6×384)',
    model: { vocabSize: V, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384 },
    batch: 8,
    seqLen: [256, 256],
    promptChars: [96, 127],
    newTokens: 128,
    miniBatch: 2,
  },
  {
    // The Llama family at the compute-bound size: GQA (6 query heads over 2 KV heads), SwiGLU of
    // width 1024 (≈ 8/3·C, as Llama), untied head; the Python side is transformers' LlamaForCausalLM.
    key: 'llama',
    name: 'Llama-style (6×384, GQA 6/2)',
    model: { arch: 'llama', vocabSize: V, blockSize: 256, nLayer: 6, nHead: 6, nKvHead: 2, nEmbd: 384, intermediateSize: 1024 },
    batch: 8,
    seqLen: [256, 256],
    promptChars: [96, 127],
    newTokens: 128,
    miniBatch: 2,
    workloads: ['sft', 'generate'],
  },
];
// --only KEY runs one size (its table goes to its own section of docs/benchmarks.md).
const oi = args.indexOf('--only');
const only = oi >= 0 ? args[oi + 1] : null;
if (only !== null && !sizes.some((s) => s.key === only))
  throw new Error(`--only: no size '${only}' (${sizes.map((s) => s.key).join(', ')})`);
// Repeats per child process (after warm-up) and rounds of (torch-rlhf, PyTorch) children.
const plan = quick
  ? {
      rounds: 2,
      step: { warmup: 1, repeats: 2 },
      ppo: { warmup: 0, repeats: 1 },
      gen: { warmup: 1, repeats: 2, newTokens: 16 },
      genNoCache: { warmup: 0, repeats: 1 },
      matmul: { n: 2048, warmup: 1, repeats: 3 },
    }
  : {
      rounds: 4,
      step: { warmup: 2, repeats: 5 },
      ppo: { warmup: 1, repeats: 2 },
      gen: { warmup: 1, repeats: 4, newTokens: 96 },
      genNoCache: { warmup: 0, repeats: 1 },
      matmul: { n: 2048, warmup: 2, repeats: 8 },
    };
const genWork = { batch: 8, promptLen: 32, newTokens: plan.gen.newTokens }; // scripts/bench-generate.mjs's workload

// Deterministic data, the same for both sides.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function dataFor(size) {
  const rnd = mulberry32(1234);
  const int = (a, b) => a + Math.floor(rnd() * (b - a + 1));
  const seq = () => Array.from({ length: int(...size.seqLen) }, () => int(0, 255));
  const seqs = Array.from({ length: size.batch }, () => {
    const ids = seq();
    const prompt = Math.floor(ids.length / 4); // completion-only loss: the first quarter is the prompt
    return { ids, labels: ids.map((id, j) => (j < prompt ? -100 : id)) };
  });
  const pairs = Array.from({ length: size.batch }, () => [seq(), seq()]);
  const prompts = Array.from({ length: size.batch }, () =>
    Array.from({ length: int(...size.promptChars) }, () => String.fromCharCode(97 + int(0, 25))).join(''),
  );
  return { pad: PAD, bos: BOS, eos: EOS, seqs, pairs, prompts };
}
const ppoConfig = (size) => ({
  numIterations: 100,
  batchSize: size.batch,
  miniBatchSize: size.miniBatch,
  ppoEpochs: 4,
  maxNewTokens: size.newTokens,
  maxPromptLength: size.model.blockSize - size.newTokens,
  temperature: 0.7,
  klCoef: 0.05,
  cliprange: 0.2,
  cliprangeValue: 0.2,
  vfCoef: 0.1,
  gamma: 1,
  lam: 0.95,
  learningRate: 3e-6,
  adamEpsilon: 1e-5,
  missingEosPenalty: 1,
  maxGradNorm: 1,
  seed: 42,
});

// Training FLOPs of one SFT step over B×T computed positions (padding included: it is computed):
// 6·N·B·T for the matmul weights, N = L·12·C² (qkv 3C², proj C², MLP 8C²) + C·V (tied LM head),
// plus attention 12·L·C·T²·B (QKᵀ and A·V, 2·T·C each per token and layer, the full T×T
// square as both sides compute it, ×3 for forward + backward).
// The Llama rows: N = L·(C·H·D + 2·C·Hkv·D + H·D·C + 3·C·I) + C·V (q, k, v, o, SwiGLU, head).
const sftFlops = (size) => {
  const { nLayer: L, nEmbd: C, vocabSize: Vv } = size.model;
  const T = size.seqLen[1],
    B = size.batch;
  if (size.model.arch === 'llama') {
    const { nHead: H, nKvHead: Hkv, intermediateSize: I } = size.model;
    const D = C / H;
    return 6 * (L * (2 * C * H * D + 2 * C * Hkv * D + 3 * C * I) + C * Vv) * B * T + 12 * L * H * D * T * T * B;
  }
  return 6 * (12 * L * C * C + C * Vv) * B * T + 12 * L * C * T * T * B;
};

// ------------------------------------------------------------------ children
// The Llama rows' Python side is transformers itself (scripts/bench/llama_reference.py).
const pyScript = (task) => (task.size?.arch === 'llama' ? 'scripts/bench/llama_reference.py' : 'scripts/bench/train_reference.py');
const { both } = benchRunner({ root, threads, rounds: plan.rounds, pyScript });

// ------------------------------------------------------------------ run
const t0 = performance.now();
const rows = [];
const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;
const row = (size, workload, js, py, ratio, r = {}) =>
  rows.push({ size, workload, js, py, ratio, range: r.ratioRange, jsRss: r.jsRss ? mib(r.jsRss) : '', pyRss: r.pyRss ? mib(r.pyRss) : '' });

const n = plan.matmul.n;
const mm = both(`matmul ${n}×${n}`, { task: 'matmul', ...plan.matmul });
const peak = { js: (2 * n ** 3) / mm.js / 1e9, py: (2 * n ** 3) / mm.py / 1e9 };
row('—', `float32 matmul ${n}×${n} (GFLOP/s)`, peak.js.toFixed(1), peak.py.toFixed(1), mm.ratio, mm);

for (const size of sizes.filter((s) => only === null || s.key === only)) {
  const data = dataFor(size);
  const runs = (w) => !size.workloads || size.workloads.includes(w);
  const base = { size: size.model, ...plan.step };
  const sft = both(`${size.key} SFT step`, { task: 'sft', ...base, matmul: plan.matmul, data: { pad: PAD, seqs: data.seqs } });
  row(size.name, 'SFT step (ms)', (sft.js * 1e3).toFixed(1), (sft.py * 1e3).toFixed(1), sft.ratio, sft);
  const f = sftFlops(size);
  const g = { js: f / sft.js / 1e9, py: f / sft.py / 1e9 };
  // % of the matmul rate measured in the same child process, right after the steps.
  const pct = (side) => (100 * f * sft.efficiency[side]) / (2 * n ** 3);
  row(
    size.name,
    `SFT achieved GFLOP/s (% of the same process's matmul; ${(f / 1e9).toFixed(1)} GFLOP/step)`,
    `${g.js.toFixed(1)} (${pct('js').toFixed(0)} %)`,
    `${g.py.toFixed(1)} (${pct('py').toFixed(0)} %)`,
    sft.ratio,
    { ratioRange: sft.ratioRange },
  );
  if (runs('rm')) {
    const rm = both(`${size.key} reward-model step`, { task: 'rm', ...base, data: { pad: PAD, pairs: data.pairs } });
    row(size.name, `reward-model step, ${size.batch} pairs (ms)`, (rm.js * 1e3).toFixed(1), (rm.py * 1e3).toFixed(1), rm.ratio, rm);
    const ppo = both(`${size.key} PPO iteration`, {
      task: 'ppo',
      size: size.model,
      ...plan.ppo,
      ppo: ppoConfig(size),
      data: { pad: PAD, bos: BOS, eos: EOS, prompts: data.prompts },
    });
    row(size.name, 'PPO iteration (s)', ppo.js.toFixed(2), ppo.py.toFixed(2), ppo.ratio, ppo);
    row(
      size.name,
      '  of which rollout: generation + scoring (s)',
      ppo.jsRollout.toFixed(2),
      ppo.pyRollout.toFixed(2),
      ppo.jsRollout / ppo.pyRollout,
    );
  }
  const tokens = genWork.batch * genWork.newTokens;
  const genModel = { ...size.model, blockSize: Math.max(size.model.blockSize, genWork.promptLen + genWork.newTokens) };
  for (const useCache of [true, false]) {
    const r = both(`${size.key} generate ${useCache ? 'KV cache' : 'no cache'}`, {
      task: 'generate',
      size: genModel,
      useCache,
      gen: genWork,
      ...(useCache ? plan.gen : plan.genNoCache),
    });
    row(
      size.name,
      `generation, ${useCache ? 'KV cache' : 'no cache'} (tokens/s)`,
      (tokens / r.js).toFixed(0),
      (tokens / r.py).toFixed(0),
      r.ratio,
      r,
    );
  }
}
const elapsed = (performance.now() - t0) / 1000;

// ------------------------------------------------------------------ report
const header =
  '| model | workload | torch-rlhf | PyTorch | time ratio (torch-rlhf / PyTorch), median of rounds (range) | peak RSS torch-rlhf | ' +
  'peak RSS PyTorch |';
const fmtRatio = (r) => (r.range ? `${r.ratio.toFixed(2)} (${r.range[0].toFixed(2)}–${r.range[1].toFixed(2)})` : r.ratio.toFixed(2));
const lines = rows.map((r) => `| ${r.size} | ${r.workload} | ${r.js} | ${r.py} | ${fmtRatio(r)} | ${r.jsRss} | ${r.pyRss} |`);
console.log(['', header, '|---|---|---:|---:|---:|---:|---:|', ...lines].join('\n'));
console.log(`\n${elapsed.toFixed(0)} s in all`);

const date = new Date().toISOString().slice(0, 10);
const [demo, big] = sizes;
const md = [
  only === 'llama'
    ? '## The Llama family against transformers (SFT step, generation)'
    : '## Training steps, PPO and generation against PyTorch',
  '',
  `Measured ${date} by \`node scripts/bench.mjs${quick ? ' --quick' : ''}${only === null ? '' : ` --only ${only}`}\` on ` +
    `${machine(threads)}.`,
  `${plan.rounds} rounds; in each, one fresh child process per side (torch-rlhf: \`scripts/bench/node_side.mjs\`, PyTorch: ` +
    "`scripts/bench/train_reference.py`, and for the Llama rows transformers' `LlamaForCausalLM` in " +
    `\`scripts/bench/llama_reference.py\`), the order alternating (ABBA), each child timing ${plan.step.repeats} steps ` +
    `(${plan.ppo.repeats} PPO iterations, ${plan.gen.repeats} generations with the cache, ${plan.genNoCache.repeats} without) after ` +
    "warm-up. Times are medians over all rounds; the ratio is the median of the rounds' ratios, with their range, since this shared " +
    "machine's speed drifts by ±10 % and more between minutes. float32, CPU, dropout " +
    `0.${quick ? ' A quick run: few repeats, noisy.' : ''}`,
  '',
  header,
  '|---|---|---:|---:|---:|---:|---:|',
  ...lines,
  '',
  `Models: GPT-2 blocks, vocabulary ${V}; demo: ${demo.model.nLayer} layers, ${demo.model.nEmbd} wide, ${demo.model.nHead} heads, ` +
    `block ${demo.model.blockSize}, batch ${demo.batch} sequences of ${demo.seqLen[0]}–${demo.seqLen[1]} tokens; compute-bound: ` +
    `${big.model.nLayer} layers, ${big.model.nEmbd} wide, ${big.model.nHead} heads, batch ${big.batch} sequences of ${big.seqLen[1]} ` +
    'tokens. Both sides build the same model (GPT-2 init, tied LM head) from the same token data and run the same steps; the Python side ' +
    'is written as one would in PyTorch (`torch.optim.AdamW`, `clip_grad_norm_`, `F.cross_entropy`).',
  '',
  "**What each row measures.** *float32 matmul*: an n×n by n×n product in each side's process at the bench's thread count (2n³ FLOP), " +
    'the ceiling for the rows below. ' +
    '*SFT step*: one optimizer step as `Trainer` runs it — zero grads, forward in train mode, masked next-token cross entropy (first ' +
    'quarter of each sequence is prompt, ignored), `.item()`, backward, clip grad norm to 1, AdamW (two parameter groups) — on a ' +
    'pre-collated batch (`collateSequences`, `languageModelLoss`). ' +
    "*SFT achieved GFLOP/s*: the step's FLOPs over its median time, FLOPs = 6·N·B·T + 12·L·C·T²·B with N = 12·L·C² + C·V the matmul " +
    'weights (LM head included), B×T the padded positions, the attention term counting QKᵀ and A·V over the full T×T square, ×3 for ' +
    'backward; biases, LayerNorm, softmax, GELU and the optimizer are not counted. The percentage is of the n×n matmul rate measured ' +
    'in the same child process right after its steps (median over the children), since the speed of the machine drifts between ' +
    'children. ' +
    "*Reward-model step*: a pairwise batch (chosen and rejected sequences in one forward of 2×batch rows), score at each row's last " +
    'token, −log σ(r_c − r_r) averaged over pairs, accuracy and margin read, backward, clip, AdamW (`collateRankings`, ' +
    '`RewardModel.rewards`, `rankingLoss`). ' +
    '*PPO iteration*: `PPOTrainer.rollout()` then its `update()` (what `train()` does per iteration, without logging and ' +
    `checkpoints): sample ${demo.newTokens} (demo) / ${big.newTokens} (compute-bound) tokens per prompt at temperature 0.7 with the KV ` +
    'cache, score with a reward model, log-probs and values of the policy and log-probs of a reference model (no grad, in ' +
    'minibatches), KL-penalised rewards, GAE, whitened advantages; then 4 epochs of shuffled minibatches ' +
    `(${demo.batch}/${demo.miniBatch} and ${big.batch}/${big.miniBatch}: 16 optimizer steps) of the clipped policy and value losses of ` +
    'an actor with a value head, clip and AdamW. *of which rollout* is the rollout() part. ' +
    `*Generation*: tokens/s of sampling ${genWork.newTokens} new tokens after a ${genWork.promptLen}-token prompt for a batch of ` +
    `${genWork.batch} (scripts/bench-generate.mjs's workload) with and without the KV cache; torch-rlhf's native loop keeps a ` +
    'preallocated cache, Python concatenates as Hugging Face does. ' +
    "*Peak RSS*: the child's maximum resident set (Node `process.resourceUsage().maxRSS`, Python `ru_maxrss`), so it includes each " +
    "runtime's baseline (V8 and the addon; the interpreter and `import torch`), the models, optimizer state and activations of that " +
    'one measurement.',
].join('\n');
writeSection(`${root}/docs/benchmarks.md`, only === null ? 'bench' : `bench-${only}`, md);
console.log(`wrote docs/benchmarks.md (${only === null ? 'bench' : `bench-${only}`})`);
