// Benchmarks against TRL's own trainers (issue 15's speed rows): a DPO step and a GRPO iteration
// (generation plus update) of torch-rlhf's DPOTrainer and GRPOTrainer against TRL's DPOTrainer
// and GRPOTrainer (scripts/bench/trl_reference.py, on transformers' GPT2LMHeadModel), on the same
// tiny GPT-2, data, float32 and thread count, each measurement in its own child process per side
// (torch-rlhf: the dpo and grpo tasks of scripts/bench/node_side.mjs), the sides alternated (ABBA).
// TRL is what people compare with today; the target is ≤ 0.5× its time.
//   node scripts/bench-trl.mjs [--quick] [--threads N]      (npm run bench:trl)
// Needs trl and transformers in the Python of the addon's libtorch (.venv). Writes its table to
// docs/benchmarks.md (section "bench-trl"; the other sections are left as they are).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { torch } from '../dist/index.js';
import { mulberry32 } from '../dist/data/random.js';
import { machine, writeSection } from './bench/report.mjs';
import { benchRunner } from './bench/rounds.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const ti = args.indexOf('--threads');
const threads = (ti >= 0 && Number(args[ti + 1])) || torch.getNumThreads();
const root = fileURLToPath(new URL('..', import.meta.url));

// ------------------------------------------------------------------ workloads
// The demo GPT-2 (ByteTokenizer's vocabulary: bytes, BOS 256, EOS 257, PAD 258).
const size = { vocabSize: 259, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 };
const sizeName = 'demo (4×128)';
// Repeats per child process (after warm-up; each child also runs one first step that is not
// timed, see node_side.mjs / trl_reference.py) and rounds of (torch-rlhf, TRL) children.
const plan = quick
  ? { rounds: 2, dpo: { warmup: 1, repeats: 2 }, grpo: { warmup: 1, repeats: 2 } }
  : { rounds: 6, dpo: { warmup: 3, repeats: 12 }, grpo: { warmup: 2, repeats: 10 } };

// Deterministic texts of lowercase letters (one byte, one token each), the same for both sides.
const rnd = mulberry32(1234);
const int = (a, b) => a + Math.floor(rnd() * (b - a + 1));
const letters = (n) => Array.from({ length: n }, () => String.fromCharCode(97 + int(0, 25))).join('');
const PAIRS = 8;
// BOS + prompt 8–12 + answer 22–34 + EOS: sequences of 32–48 tokens.
const pairs = Array.from({ length: PAIRS }, () => ({
  prompt: letters(int(8, 12)),
  chosen: letters(int(22, 34)),
  rejected: letters(int(22, 34)),
}));
const prompts = Array.from({ length: 8 }, () => letters(int(8, 16)));
const dpo = { batchSize: PAIRS, learningRate: 1e-6, beta: 0.1 };
const grpo = {
  batchSize: 16,
  numGenerations: 8,
  maxCompletionLength: 24,
  temperature: 1,
  beta: 0,
  learningRate: 1e-6,
  lossType: 'dapo',
  scaleRewards: 'group',
  epsilon: 0.2,
  rewardByte: 'a'.charCodeAt(0),
};
// The padded DPO batch both sides should build: chosen and rejected rows, BOS … EOS.
const dpoShape = [2 * PAIRS, Math.max(...pairs.flatMap((p) => [p.chosen, p.rejected].map((a) => p.prompt.length + a.length + 2)))];

// ------------------------------------------------------------------ run
const { child, both } = benchRunner({ root, threads, rounds: plan.rounds, pyScript: 'scripts/bench/trl_reference.py' });
const t0 = performance.now();

// Checks that both sides do the same work, in short children of their own: TRL's collated DPO
// batch has torch-rlhf's shape (same tokens, same padding), and the GRPO completions are as long.
const probe = child('py', { task: 'dpo', size, warmup: 0, repeats: 1, dpo, data: { pairs } });
if (probe.batchShape.join('×') !== dpoShape.join('×'))
  throw new Error(`TRL's DPO batch is ${probe.batchShape.join('×')}, expected ${dpoShape.join('×')}`);
const completionLength = Object.fromEntries(
  ['js', 'py'].map((side) => [
    side,
    child(side, { task: 'grpo', size, warmup: 0, repeats: 2, grpo, data: { prompts } }).meanCompletionLength.toFixed(1),
  ]),
);

const dpoRun = both('DPO step', { task: 'dpo', size, ...plan.dpo, dpo, data: { pairs } });
const grpoRun = both('GRPO iteration', { task: 'grpo', size, ...plan.grpo, grpo, data: { prompts } });
const elapsed = (performance.now() - t0) / 1000;

// ------------------------------------------------------------------ report
const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;
const ms = (s) => (s * 1e3).toFixed(1);
const fmtRatio = (r, range) => (range ? `${r.toFixed(2)} (${range[0].toFixed(2)}–${range[1].toFixed(2)})` : r.toFixed(2));
const G = grpo.numGenerations;
const rows = [
  [
    `DPO step, ${PAIRS} pairs of ${dpoShape[1]} tokens padded (ms)`,
    ms(dpoRun.js),
    ms(dpoRun.py),
    fmtRatio(dpoRun.ratio, dpoRun.ratioRange),
    mib(dpoRun.jsRss),
    mib(dpoRun.pyRss),
  ],
  [
    `GRPO iteration, ${grpo.batchSize / G} prompts × ${G} completions of ≤ ${grpo.maxCompletionLength} tokens (ms)`,
    ms(grpoRun.js),
    ms(grpoRun.py),
    fmtRatio(grpoRun.ratio, grpoRun.ratioRange),
    mib(grpoRun.jsRss),
    mib(grpoRun.pyRss),
  ],
  [
    '  of which generation + scoring (ms)',
    ms(grpoRun.jsRollout),
    ms(grpoRun.pyRollout),
    fmtRatio(grpoRun.jsRollout / grpoRun.pyRollout),
    '',
    '',
  ],
  [
    '  of which the update and the loop (ms)',
    ms(grpoRun.js - grpoRun.jsRollout),
    ms(grpoRun.py - grpoRun.pyRollout),
    fmtRatio((grpoRun.js - grpoRun.jsRollout) / (grpoRun.py - grpoRun.pyRollout)),
    '',
    '',
  ],
];
const verdict = (name, r) => `${name} ${r.toFixed(2)}×: ${r <= 0.5 ? 'met' : 'missed'}`;
const header =
  '| model | workload | torch-rlhf | TRL | time ratio (torch-rlhf / TRL), median of rounds (range) | peak RSS torch-rlhf | peak RSS TRL |';
const lines = rows.map((r) => `| ${sizeName} | ${r.join(' | ')} |`);
console.log(['', header, '|---|---|---:|---:|---:|---:|---:|', ...lines].join('\n'));
console.log(`\n${elapsed.toFixed(0)} s in all`);

const v = probe.versions;
const libs = `TRL ${v.trl}, transformers ${v.transformers}, accelerate ${v.accelerate}, datasets ${v.datasets}`;
const date = new Date().toISOString().slice(0, 10);
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const md = [
  "## DPO and GRPO against TRL's trainers",
  '',
  `Measured ${date} by \`node scripts/bench-trl.mjs${quick ? ' --quick' : ''}\` (\`npm run bench:trl\`) at commit ${commit} on ` +
    `${machine(threads)}; ${libs}.`,
  `${plan.rounds} rounds; in each, one fresh child process per side (torch-rlhf: the \`dpo\` and \`grpo\` tasks of ` +
    '`scripts/bench/node_side.mjs`; TRL: `scripts/bench/trl_reference.py`), the order alternating (ABBA), each child timing ' +
    `${plan.dpo.repeats} DPO steps / ${plan.grpo.repeats} GRPO iterations after warm-up. Times are medians over all rounds; the ratio is ` +
    "the median of the rounds' ratios, with their range (this shared machine's speed drifts between minutes). float32, CPU, dropout 0. " +
    `Issue 15's target is ≤ 0.5× TRL's time.${quick ? ' A quick run: few repeats, noisy.' : ''}`,
  '',
  header,
  '|---|---|---:|---:|---:|---:|---:|',
  ...lines,
  '',
  `Model: GPT-2 blocks, vocabulary ${size.vocabSize} (torch-rlhf's ByteTokenizer: the UTF-8 bytes, BOS, EOS, PAD), ${size.nLayer} ` +
    `layers, ${size.nEmbd} wide, ${size.nHead} heads, ${size.blockSize} positions, tied head, GPT-2 init; torch-rlhf builds it with ` +
    "`GPT.create`, the TRL side with transformers' `GPT2LMHeadModel` from the same config (SDPA attention). The TRL side tokenizes " +
    'with a transformers tokenizer equal to the ByteTokenizer (bytes, BOS before the prompt, EOS after the answer), so both sides train ' +
    `on the same ids; the script checks that TRL's collated DPO batch is ${dpoShape.join('×')} as torch-rlhf's. TRL's defaults that ` +
    "would change the work are set to torch-rlhf's: `bf16=False` (its default is bfloat16), `gradient_checkpointing=False` (its " +
    'default recomputes the forward), `use_cpu`, `report_to="none"`, no saving, `logging_strategy="no"`, no vLLM.',
  '',
  "**What is timed, on both sides alike.** Each side runs its trainer's own `train()` with `maxSteps` / `max_steps` = 1 + warm-up + " +
    "repeats, and a step's time is the gap between the ends of two consecutive optimizer steps inside that loop (torch-rlhf: the `time` " +
    "its `train()` writes with each step's line of metrics.jsonl, `loggingSteps` 1; TRL: `time.perf_counter()` in a " +
    '`TrainerCallback.on_step_end`). So a step is everything the loop does per optimizer step — taking and collating the next batch, the ' +
    "step itself, clipping the gradient norm to 1, AdamW, the learning-rate schedule, the trainer's metrics — and none of the setup, the " +
    'first step or the final save. ' +
    `*DPO step*: one batch of all ${PAIRS} pairs, sigmoid loss, β ${dpo.beta}: the policy's forward of chosen and rejected rows in one ` +
    `batch of ${dpoShape.join('×')} (train mode), the reference's forward without gradient (a frozen copy of the starting policy on ` +
    "both sides), per-sequence log-probs of the answers, the loss, backward, clip, AdamW; both sides also compute their metrics, TRL's " +
    'set (entropy and token accuracy included). ' +
    `*GRPO iteration*: ${grpo.batchSize / G} prompts of 8–16 letters, ${G} completions each sampled at temperature ${grpo.temperature} ` +
    `(no top-k/top-p) for at most ${grpo.maxCompletionLength} new tokens, stopping at EOS (torch-rlhf: its native generation loop with ` +
    "a KV cache; TRL: transformers' `model.generate`), decoding, a reward function (the share of the byte 'a' among a completion's " +
    'token ids), group-normalised advantages (`scale_rewards` group), then one update (`num_iterations` 1, β 0 so no reference ' +
    `model, loss type dapo, ε ${grpo.epsilon}): the policy's forward and backward over the ${grpo.batchSize} prompt + completion rows ` +
    'in one micro-batch, the clipped surrogate, clip, AdamW. With `num_iterations` 1 neither side runs a forward for the ' +
    'sampling-time log-probs (the old policy is the current one). Mean completion length over 3 iterations of a separate child per ' +
    `side: ${completionLength.js} (torch-rlhf) and ${completionLength.py} (TRL) tokens (ids passed to the reward function; the few EOS ` +
    'are sampled by chance from the untrained model). ' +
    "*of which generation + scoring*: the time inside the method each trainer's step calls for its rollout (torch-rlhf: " +
    '`GRPOTrainer.generate()`; TRL: `GRPOTrainer._generate_and_score_completions`), timed by wrapping it on the instance; *the update ' +
    'and the loop* is the rest of the iteration. ' +
    "*Peak RSS*: the child's maximum resident set (Node `process.resourceUsage().maxRSS`, Python `ru_maxrss`), so it includes each " +
    "runtime's baseline (V8 and the addon; the interpreter and the imports of torch, transformers and TRL).",
  '',
  `**Against the target (≤ 0.5×).** ${verdict('DPO step', dpoRun.ratio)}; ${verdict('GRPO iteration', grpoRun.ratio)}, its generation ` +
    `+ scoring alone at ${(grpoRun.jsRollout / grpoRun.pyRollout).toFixed(2)}× (native sampling loop against \`model.generate\`) and its ` +
    `update and loop, ${((100 * (grpoRun.js - grpoRun.jsRollout)) / grpoRun.js).toFixed(0)} % of torch-rlhf's iteration, at ` +
    `${((grpoRun.js - grpoRun.jsRollout) / (grpoRun.py - grpoRun.pyRollout)).toFixed(2)}×. ` +
    "The DPO step and GRPO's update are forward and backward passes on the same libtorch kernels on both sides; what separates the two " +
    "sides there is the model code around the kernels (torch-rlhf's native no-grad forward, which DPO's reference runs, and its GPT " +
    "trunk, against transformers' GPT-2 modules), far more than the trainers' loops.",
].join('\n');
writeSection(`${root}/docs/benchmarks.md`, 'bench-trl', md);
console.log('wrote docs/benchmarks.md (bench-trl)');
