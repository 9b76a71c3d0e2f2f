// One rank (or the one process) of scripts/bench-distributed.mjs: runs SFTTrainer or GRPOTrainer
// at the compute-bound size (6×384 GPT-2, block 256) for `steps` optimizer steps, with the launch
// environment it was given (RANK, WORLD_SIZE, … or none). Every rank prints one JSON line: the
// wall-clock and CPU-time gaps between consecutive step ends (an onStep callback) after `warmup`.
// argv[2]: {task: 'sft' | 'grpo', perRank, steps, warmup, threads, out}
import { GPT, ByteTokenizer, SFTTrainer, GRPOTrainer, torch, getProcessGroup } from '../../dist/index.js';
import { mulberry32 } from '../../dist/data/random.js';

const o = JSON.parse(process.argv[2]);
torch.setNumThreads(o.threads);
torch.manualSeed(1);
const tokenizer = new ByteTokenizer();
const model = GPT.create({ vocabSize: tokenizer.vocabSize, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384 });
const rnd = mulberry32(1234);
const letters = (n) => Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(rnd() * 26))).join('');
const world = Number(process.env.WORLD_SIZE || 1);
const ends = [];
const callbacks = [
  {
    onStep: () =>
      void ends.push({ wall: performance.now() / 1000, cpu: (({ user, system }) => (user + system) / 1e6)(process.cpuUsage()) }),
  },
];
const common = { outputDir: o.out, maxSteps: o.steps, batchSize: o.perRank, progressBar: false, loggingSteps: 1, device: 'cpu', seed: 3 };
let trainer;
if (o.task === 'sft') {
  // 254 tokens each with BOS and EOS: every batch is the same 8 × 256-token shape as bench.mjs's.
  const rows = Array.from({ length: 64 }, () => ({ prompt: letters(63), completion: letters(189) }));
  trainer = new SFTTrainer({
    model,
    tokenizer,
    callbacks,
    trainDataset: rows,
    evalDataset: [],
    config: { ...common, learningRate: 1e-4, maxLength: 256 },
  });
} else {
  const prompts = Array.from({ length: 64 }, () => ({ prompt: letters(96 + Math.floor(rnd() * 32)) }));
  const reward = ({ completions }) => completions.map((c) => (c.match(/e/g) ?? []).length / Math.max(c.length, 1));
  trainer = new GRPOTrainer({
    model,
    tokenizer,
    callbacks,
    prompts,
    rewards: reward,
    config: { ...common, learningRate: 1e-5, numGenerations: 4, maxCompletionLength: 128, temperature: 1 },
  });
}
await trainer.train();
const gaps = (k) =>
  ends
    .slice(1)
    .map((e, i) => e[k] - ends[i][k])
    .slice(o.warmup);
console.log(JSON.stringify({ rank: Number(process.env.RANK || 0), world, threads: o.threads, gaps: gaps('wall'), cpu: gaps('cpu') }));
getProcessGroup()?.destroy();
