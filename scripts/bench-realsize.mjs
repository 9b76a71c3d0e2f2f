// The real-size benchmark (issue 31): torch-rlhf against TRL 1.13 + PEFT and transformers'
// `generate` on models of the exact shapes people fine-tune, SmolLM2-135M's and Qwen2.5-0.5B's
// (random weights, Hugging Face files, made by scripts/bench/make_realsize_models.py when missing),
// in the style of bench-trl: one run, both sides, the same data and thread count, each
// measurement in a fresh child process per side (torch-rlhf: scripts/bench/node_side.mjs; TRL and
// transformers: scripts/bench/trl_reference.py), the sides alternated (ABBA). Like for like: the
// same gradient-checkpointing setting and the same precision on both sides, said in each row.
// Each row gives the step time and the peak RSS of both sides, their ratios, and the issue's
// targets (memory ≤ 0.8× TRL's, time ≤ 0.8× TRL's, generation ≥ 1.5× transformers' tokens/s at the
// 0.5B shape) met or missed.
//   node scripts/bench-realsize.mjs [--quick] [--only ROW[,ROW]] [--threads N] [--models smol,qwen]
//                                   [--precisions fp32,bf16] [--checkpointing on|off]     (npm run bench:realsize)
// Needs trl, peft and transformers in the Python of the addon's libtorch (scripts/setup.sh --bench).
// Writes its table to docs/benchmarks.md (section "bench-realsize", or "bench-realsize-bf16" for a run of
// the bf16 rows alone; the others are left as they are).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../dist/index.js';
import { mulberry32 } from '../dist/data/random.js';
import { dpoFields } from '../dist/trainers/dpo-config.js';
import { grpoFields } from '../dist/trainers/grpo-config.js';
import { sftFields } from '../dist/trainers/sft-config.js';
import { machine, referencePython, writeSection } from './bench/report.mjs';
import { benchRunner } from './bench/rounds.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const threads = Number(flag('--threads')) || 2;
const models = (flag('--models') ?? 'smol,qwen').split(',');
const only = flag('--only')?.split(',');
const checkpointing = (flag('--checkpointing') ?? 'on') === 'on';
// bf16 matmuls run at a fraction of float32's speed on CPUs without bf16 instructions (AVX512-BF16,
// AMX): measured here, 38× slower on an AVX2 EPYC, the same kernels on both sides. Such a machine
// runs the float32 rows unless --precisions asks for both.
const cpuFlags = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
const nativeBf16 = /\b(avx512_bf16|amx_bf16)\b/.test(cpuFlags);
const precisions = (flag('--precisions') ?? (nativeBf16 ? 'fp32,bf16' : 'fp32')).split(',');

// ------------------------------------------------------------------ models
const SHAPES = {
  smol: { dir: 'smollm2-135m', name: 'SmolLM2-135M' },
  qwen: { dir: 'qwen2.5-0.5b', name: 'Qwen2.5-0.5B' },
};
for (const m of models) if (!SHAPES[m]) throw new Error(`--models: unknown model '${m}' (known: ${Object.keys(SHAPES).join(', ')})`);
const cache = `${root}/.cache/realsize`;
const missing = models.filter((m) => !existsSync(`${cache}/${SHAPES[m].dir}/model.safetensors`));
if (missing.length > 0) {
  process.stderr.write(`making the ${missing.join(', ')} model(s) in ${cache} (scripts/bench/make_realsize_models.py)\n`);
  execFileSync(referencePython(), [`${root}/scripts/bench/make_realsize_models.py`, cache, '--models', missing.join(',')], {
    stdio: 'inherit',
  });
}
const words = JSON.parse(readFileSync(`${cache}/words.json`, 'utf8'));

// Repeats per child process after its untimed first step (a trainer's first step, a first
// generate call), and rounds of (torch-rlhf, TRL) children.
const plan = quick
  ? { rounds: 1, train: { warmup: 0, repeats: 1 }, gen: { warmup: 1, repeats: 1 } }
  : { rounds: 2, train: { warmup: 1, repeats: 2 }, gen: { warmup: 1, repeats: 3 } };

// ------------------------------------------------------------------ data
// English-like texts of an exact token count under the model's tokenizer, the same strings for
// both sides. The byte-level pre-tokenizer splits before each space, so a text's token count is
// the sum of its words' (each with its leading space): texts are put together word by word, and
// the last few tokens filled with a one-token word.
async function textMaker(dir) {
  const tok = await loadTokenizer(dir);
  const rnd = mulberry32(1234);
  const count = new Map();
  const tokens = (w) => {
    if (!count.has(w)) count.set(w, tok.encode(w).length);
    return count.get(w);
  };
  const filler = [' the', ' and', ' of', ' to'].find((w) => tokens(w) === 1);
  if (!filler) throw new Error(`${dir}: no one-token filler word`);
  /** A text of exactly n tokens; `lead` starts it with a space (an answer following its prompt). */
  const text = (n, lead) => {
    let out = '';
    let used = 0;
    while (used < n) {
      let w = (out || lead ? ' ' : '') + words[Math.floor(rnd() * words.length)];
      if (used + tokens(w) > n) w = out || lead ? filler : filler.trimStart();
      out += w;
      used += tokens(w);
    }
    if (tok.encode(out).length !== n) throw new Error(`text of ${tok.encode(out).length} tokens, expected ${n}`);
    return out;
  };
  return { tok, text, fillerId: tok.encode(filler)[0] };
}

// The workloads, the issue's: SFT 4 × 256 tokens; DPO 2 pairs of 256 and 236 tokens (padded to
// 256); GRPO 1 prompt of 32 tokens × 4 completions of 32 tokens per iteration; generation of 64
// new tokens after prompts of 32.
const SFT = { batchSize: 4, prompt: 64, answer: 191 }; // + EOS = 256
const DPO = { pairs: 2, prompt: 64, chosen: 191, rejected: 171 };
const GRPO = { prompts: 8, prompt: 32, numGenerations: 4, completion: 32 };
const GEN = { prompt: 32, newTokens: 64 };
const LORA = { r: 16, loraAlpha: 32, loraDropout: 0, targetModules: 'all-linear' };

// ------------------------------------------------------------------ rows
// Which of the settings the library takes today: other work adds gradientCheckpointing and dtype
// to the trainers' configs, and the trainers reject unknown fields. A setting the library lacks is
// left out on both sides (checkpointing off on both), and the row says so.
const fields = { sftTrainer: sftFields, dpo: dpoFields, grpo: grpoFields };
const takes = (task, field) => field in fields[task];

const ROWS = [
  { id: 'sft-lora', task: 'sftTrainer', label: `SFT step with LoRA, ${SFT.batchSize} × 256 tokens`, lora: true },
  { id: 'sft-full', task: 'sftTrainer', label: `full SFT step, ${SFT.batchSize} × 256 tokens`, lora: false, models: ['smol'] },
  { id: 'dpo-lora', task: 'dpo', label: `DPO step with LoRA, ${DPO.pairs} pairs of ≤ 256 tokens`, lora: true },
  {
    id: 'grpo-lora',
    task: 'grpo',
    label: `GRPO iteration with LoRA, 1 prompt × ${GRPO.numGenerations} completions of ${GRPO.completion}`,
    lora: true,
  },
  { id: 'generate-b1', task: 'generate', label: `generation, batch 1, ${GEN.newTokens} new tokens`, batch: 1 },
  { id: 'generate-b8', task: 'generate', label: `generation, batch 8, ${GEN.newTokens} new tokens`, batch: 8 },
  { id: 'generate-n8', task: 'generate', label: `generation, 1 prompt × 8 samples, ${GEN.newTokens} new tokens`, batch: 1, samples: 8 },
];
if (only)
  for (const id of only) if (!ROWS.some((r) => r.id === id)) throw new Error(`--only: no row '${id}' (rows: ${ROWS.map((r) => r.id)})`);

/** The settings of a row on both sides, and the words that say them in the table. */
function settingsOf(row, precision) {
  const bf16 = precision === 'bf16';
  if (row.task === 'generate') {
    const dtype = bf16 ? 'bfloat16' : 'float32';
    return { dtype, js: {}, py: {}, says: `weights ${dtype}, KV cache, sampling` };
  }
  const gc = checkpointing && takes(row.task, 'gradientCheckpointing');
  // A frozen LoRA base in bf16 needs float32 adapters on it (PEFT's autocast_adapter_dtype), which
  // comes with the dtype field; without it the base stays float32 on both sides. A model trained
  // in full keeps float32 weights under bf16 autocast (TRL's default: bf16 on, float32 loading).
  const dtype = bf16 && row.lora && takes(row.task, 'dtype') ? 'bfloat16' : 'float32';
  const js = {};
  if (takes(row.task, 'gradientCheckpointing')) js.gradientCheckpointing = gc;
  if (takes(row.task, 'dtype')) js.dtype = dtype;
  if (bf16) js.mixedPrecision = 'bf16';
  const why = checkpointing && !gc ? ' (torch-rlhf has no gradientCheckpointing yet)' : '';
  return {
    dtype,
    js,
    py: { gradientCheckpointing: gc, bf16 },
    says: `checkpointing ${gc ? 'on' : 'off'}${why}; ${bf16 ? 'bf16 autocast, ' : ''}${row.lora ? 'base' : 'weights'} ${dtype}`,
  };
}

/** The task a row sends both sides for one model. */
function taskOf(row, dir, made, set) {
  const model = { dir, dtype: set.dtype };
  // settings: torch-rlhf's trainer fields; trl: TRL's (gradientCheckpointing, bf16).
  const common = { model, settings: set.js, trl: set.py, ...(row.lora ? { peft: LORA } : {}) };
  const { text } = made;
  if (row.task === 'sftTrainer') {
    const examples = Array.from({ length: SFT.batchSize }, () => ({ prompt: text(SFT.prompt), completion: text(SFT.answer, true) }));
    const sft = { batchSize: SFT.batchSize, learningRate: row.lora ? 2e-4 : 2e-5, maxLength: 256 };
    return { task: 'sftTrainer', ...plan.train, sft, data: { examples }, ...common };
  }
  if (row.task === 'dpo') {
    const pairs = Array.from({ length: DPO.pairs }, () => ({
      prompt: text(DPO.prompt),
      chosen: text(DPO.chosen, true),
      rejected: text(DPO.rejected, true),
    }));
    return {
      task: 'dpo',
      ...plan.train,
      dpo: { batchSize: DPO.pairs, learningRate: 5e-6, beta: 0.1, maxLength: 256 },
      data: { pairs },
      ...common,
    };
  }
  if (row.task === 'grpo') {
    const grpo = {
      batchSize: GRPO.numGenerations,
      numGenerations: GRPO.numGenerations,
      maxCompletionLength: GRPO.completion,
      temperature: 1,
      beta: 0,
      learningRate: 1e-6,
      lossType: 'dapo',
      scaleRewards: 'group',
      epsilon: 0.2,
      rewardByte: made.fillerId, // the reward: the share of this token among a completion's ids
    };
    return {
      task: 'grpo',
      ...plan.train,
      grpo,
      data: { prompts: Array.from({ length: GRPO.prompts }, () => text(GRPO.prompt)) },
      ...common,
    };
  }
  const prompts = Array.from({ length: row.batch }, () => made.tok.encode(text(GEN.prompt)));
  const gen = { prompts, newTokens: GEN.newTokens, ...(row.samples ? { numReturnSequences: row.samples } : {}) };
  return { task: 'generate', ...plan.gen, gen, model };
}

// ------------------------------------------------------------------ run
const { both } = benchRunner({ root, threads, rounds: plan.rounds, pyScript: 'scripts/bench/trl_reference.py' });
const t0 = performance.now();
const results = [];
let versions;
for (const m of models) {
  const dir = `${cache}/${SHAPES[m].dir}`;
  const made = await textMaker(dir);
  for (const precision of precisions)
    for (const row of ROWS) {
      if ((only && !only.includes(row.id)) || (row.models && !row.models.includes(m))) continue;
      const set = settingsOf(row, precision);
      const task = taskOf(row, dir, made, set);
      const label = `${SHAPES[m].name} ${precision} ${row.id}`;
      const started = performance.now();
      try {
        const r = both(label, task);
        versions ??= r.last.py.versions;
        results.push({ m, precision, row, set, r, seconds: (performance.now() - started) / 1000 });
      } catch (err) {
        process.stderr.write(`  ${label} failed: ${errorLine(err.message)}\n`);
        results.push({ m, precision, row, set, error: errorLine(err.message), seconds: (performance.now() - started) / 1000 });
      }
    }
}
const elapsed = (performance.now() - t0) / 1000;

/** The error's own line out of a failed child's stderr (not the stack or Node's version line). */
function errorLine(message) {
  const lines = String(message)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !l.startsWith('Node.js '));
  const error = lines.find((l) => /^(\w+)?Error\b|Error: /.test(l) && !/failed \(\d+\)/.test(l));
  return (error ?? lines.at(-1) ?? 'failed').slice(0, 300);
}

// ------------------------------------------------------------------ report
const gib = (kib) => `${(kib / 2 ** 20).toFixed(2)} GiB`;
const secs = (s) => `${s.toFixed(2)} s`;
const TARGET = { memory: 0.8, time: 0.8, generation: 1.5 };
const lines = [];
const notes = [];
for (const { m, precision, row, set, r, error } of results) {
  const head = `| ${SHAPES[m].name} | ${row.label} | ${precision} | ${set.says}`;
  if (error) {
    lines.push(`${head} | failed | | | | | | ${error.replaceAll('|', '/')} |`);
    continue;
  }
  const memRatio = r.jsRss / r.pyRss;
  const verdicts = [`memory ${memRatio.toFixed(2)}× ${memRatio <= TARGET.memory ? 'met' : 'missed'}`];
  let jsCell, pyCell;
  if (row.task === 'generate') {
    const n = row.batch * (row.samples ?? 1) * GEN.newTokens;
    const speed = r.py / r.js; // torch-rlhf's tokens/s over transformers'
    jsCell = `${secs(r.js)} (${(n / r.js).toFixed(1)} tok/s)`;
    pyCell = `${secs(r.py)} (${(n / r.py).toFixed(1)} tok/s)`;
    verdicts.push(
      m === 'qwen'
        ? `speed ${speed.toFixed(2)}× ${speed >= TARGET.generation ? 'met' : 'missed'}`
        : `time ${r.ratio.toFixed(2)}× ${r.ratio <= TARGET.time ? 'met' : 'missed'}`,
    );
    const [a, b] = [r.last.js.outShape, r.last.py.outShape].map((x) => x.join('×'));
    if (a !== b) notes.push(`${SHAPES[m].name} ${precision} ${row.id}: not alike — torch-rlhf generated ${a} tokens, transformers ${b}.`);
    if (r.last.js.samples === 'repeated prompts')
      notes.push(
        `${SHAPES[m].name} ${row.id}: GPT.generate has no numReturnSequences yet; torch-rlhf sampled the prompt repeated 8 times.`,
      );
  } else {
    jsCell = secs(r.js);
    pyCell = secs(r.py);
    verdicts.push(`time ${r.ratio.toFixed(2)}× ${r.ratio <= TARGET.time ? 'met' : 'missed'}`);
    const [a, b] = [r.last.js, r.last.py];
    if (a.trainable !== b.trainable || a.trainableDtype !== b.trainableDtype || a.frozenDtype !== b.frozenDtype)
      notes.push(
        `${SHAPES[m].name} ${precision} ${row.id}: not alike — torch-rlhf trains ${a.trainable} ${a.trainableDtype} parameters on a ` +
          `${a.frozenDtype} base, TRL ${b.trainable} ${b.trainableDtype} on ${b.frozenDtype}.`,
      );
    // TRL's collated batch against the one torch-rlhf builds from the same rows (the tokenizers agree on the texts).
    const expected = { sftTrainer: [SFT.batchSize, 256], dpo: [2 * DPO.pairs, 256] }[row.task];
    if (expected && b.batchShape.join('×') !== expected.join('×'))
      notes.push(
        `${SHAPES[m].name} ${precision} ${row.id}: not alike — TRL's batch is ${b.batchShape.join('×')}, expected ${expected.join('×')}.`,
      );
    if (row.task === 'grpo')
      notes.push(
        `${SHAPES[m].name} ${precision} ${row.id}: mean completion length ${a.meanCompletionLength.toFixed(1)} (torch-rlhf), ` +
          `${b.meanCompletionLength.toFixed(1)} (TRL) tokens.`,
      );
  }
  const range = plan.rounds > 1 ? ` (${r.ratioRange[0].toFixed(2)}–${r.ratioRange[1].toFixed(2)})` : '';
  lines.push(
    `${head} | ${jsCell} | ${pyCell} | ${r.ratio.toFixed(2)}${range} | ${gib(r.jsRss)} | ${gib(r.pyRss)} | ${memRatio.toFixed(2)} | ` +
      `${verdicts.join('; ')} |`,
  );
}
const header =
  '| shape | workload | precision | settings (both sides) | torch-rlhf | TRL / transformers | time ratio | peak RSS torch-rlhf | ' +
  'peak RSS TRL | memory ratio | targets |';
const rule = '|---|---|---|---|---:|---:|---:|---:|---:|---:|---|';
console.log(['', header, rule, ...lines, '', ...notes].join('\n'));
console.log(`\n${elapsed.toFixed(0)} s in all`);

if (!versions) {
  console.log('no row ran: docs/benchmarks.md left as it is');
  process.exit(1);
}
const libs = `TRL ${versions.trl}, PEFT ${versions.peft ?? '?'}, transformers ${versions.transformers}, accelerate ${versions.accelerate}`;
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const command = `node scripts/bench-realsize.mjs ${args.join(' ')}`.trim();
// A run of the bf16 rows alone (they take minutes a step on a CPU without bf16 arithmetic) keeps
// the float32 table and writes its own section; a run with float32 rows writes the main one.
const section = precisions.includes('fp32') ? 'bench-realsize' : 'bench-realsize-bf16';
const md = [
  section === 'bench-realsize'
    ? '## Real-size models against TRL + PEFT and transformers'
    : '### Real-size models, bf16 rows (run on their own)',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} by \`${command}\` (\`npm run bench:realsize\`) at commit ${commit} on ` +
    `${machine(threads)}; ${libs}. ${elapsed.toFixed(0)} s in all.`,
  `${plan.rounds} round(s); in each, one fresh child process per side (torch-rlhf: \`scripts/bench/node_side.mjs\`; TRL and ` +
    "transformers: `scripts/bench/trl_reference.py`), the order alternating (ABBA). Training rows time each trainer's own " +
    `\`train()\`: ${plan.train.repeats} step(s) after the first${plan.train.warmup ? ` and ${plan.train.warmup} more of warm-up` : ''}, ` +
    "a step being the gap between two consecutive optimizer steps' ends (as bench-trl); generation rows time " +
    `${plan.gen.repeats} call(s) after ${plan.gen.warmup} untimed. Peak RSS is the child's maximum resident set (Node ` +
    '`process.resourceUsage().maxRSS`, Python `ru_maxrss`): loading, the runtime and its imports included. Ratios are ' +
    "torch-rlhf's over the other side's (time: the median of the rounds' ratios). The issue's targets: peak memory ≤ 0.8×, step " +
    "time ≤ 0.8×, generation ≥ 1.5× transformers' tokens/s at the 0.5B shape (at the 135M shape, time ≤ 0.8×)." +
    (quick ? ' A quick run: one round, one timed step; noisy.' : ''),
  '',
  header,
  rule,
  ...lines,
  '',
  ...(notes.length ? [...notes.map((n) => `- ${n}`), ''] : []),
  "**Models.** `scripts/bench/make_realsize_models.py` makes them with transformers' own config classes from the real " +
    "checkpoints' shapes: SmolLM2-135M (LlamaConfig: 30 layers, 576 wide, 9 heads, 3 KV heads, MLP 1536, vocabulary 49,152, " +
    'RoPE θ 100,000, tied embeddings) and Qwen2.5-0.5B (Qwen2Config: 24 layers, 896 wide, 14 heads, 2 KV heads, MLP 4864, ' +
    'q/k/v biases, vocabulary 151,936, RoPE θ 1,000,000, tied embeddings); random weights from a fixed seed, saved as bf16 ' +
    'safetensors in `.cache/realsize/` with a byte-level BPE tokenizer trained by `tokenizers` (16,384 tokens: the embedding ' +
    'matrix is padded beyond it, as real checkpoints are), ChatML special tokens and template. Both sides load those directories ' +
    "as they are (torch-rlhf: `GPT.load` and `loadTokenizer`; TRL: the path, `model_init_kwargs` dtype as the row's).",
  '',
  '**Workloads, the same on both sides.** SFT: 4 prompt-completion rows of exactly 256 tokens (prompt 64, answer 191 + EOS), ' +
    'loss on the answers (both defaults), one batch per step. DPO: 2 pairs, prompt 64 tokens, answers of 191 and 171 + EOS, ' +
    'sigmoid loss, β 0.1; with LoRA the reference is the base with the adapter switched off on both sides. GRPO: one prompt ' +
    `of 32 tokens × ${GRPO.numGenerations} completions sampled for ${GRPO.completion} tokens at temperature 1 (transformers' ` +
    "`generate` on TRL's side), a reward of the share of one token id, β 0 (no reference), loss dapo, one update per " +
    `generation. LoRA: r ${LORA.r}, alpha ${LORA.loraAlpha}, dropout 0, every linear layer but the LM head (PEFT's ` +
    '`all-linear`). Generation: prompts of 32 tokens, 64 new tokens sampled at temperature 1 without top-k/top-p, KV cache, ' +
    "no EOS (every row runs 64 steps); transformers' `model.generate` (`num_return_sequences` for 1 prompt × 8 samples) " +
    'against `GPT.generate`. Texts are English-like words put together to exact token counts; the script checks nothing ' +
    'about the contents, only that both sides train the same parameter count in the same dtypes (listed above when not).',
  '',
  `**Settings.** Gradient checkpointing is TRL's default (on); a row runs it on both sides where torch-rlhf's trainer has ` +
    '`gradientCheckpointing`, else off on both (`--checkpointing off` turns it off everywhere). bf16 rows: bf16 autocast on ' +
    "both sides (TRL `bf16=True`, torch-rlhf `mixedPrecision: 'bf16'`); a LoRA base held in bf16 where torch-rlhf's trainers " +
    "take `dtype` (float32 adapters on a bf16 base), else float32 on both; full SFT keeps float32 weights (TRL's default " +
    'loading). ' +
    (nativeBf16 || precisions.includes('bf16')
      ? ''
      : 'This CPU has no bf16 instructions (AVX512-BF16, AMX), where a bf16 matmul runs ~38× slower than float32 on both sides, ' +
        'so only the float32 rows ran (`--precisions fp32,bf16` runs both).'),
].join('\n');
writeSection(`${root}/docs/benchmarks.md`, section, md);
console.log(`wrote docs/benchmarks.md (${section})`);
