// One rank (or the one process) of scripts/bench-distributed.mjs: runs SFTTrainer or GRPOTrainer
// at the compute-bound size (6×384 GPT-2, block 256) for `steps` optimizer steps, with the launch
// environment it was given (RANK, WORLD_SIZE, … or none), logging every step. Rank 0 prints one
// JSON line: the gaps between consecutive step ends (metrics.jsonl times) after `warmup` steps.
// argv[2]: {task: 'sft' | 'grpo', perRank, steps, warmup, threads, out}
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
const common = { outputDir: o.out, maxSteps: o.steps, batchSize: o.perRank, progressBar: false, loggingSteps: 1, device: 'cpu', seed: 3 };
let trainer;
if (o.task === 'sft') {
  // 254 tokens each with BOS and EOS: every batch is the same 8 × 256-token shape as bench.mjs's.
  const rows = Array.from({ length: 64 }, () => ({ prompt: letters(63), completion: letters(189) }));
  trainer = new SFTTrainer({ model, tokenizer, trainDataset: rows, evalDataset: [], config: { ...common, learningRate: 1e-4, maxLength: 256 } });
} else {
  const prompts = Array.from({ length: 64 }, () => ({ prompt: letters(96 + Math.floor(rnd() * 32)) }));
  const reward = ({ completions }) => completions.map((c) => (c.match(/e/g) ?? []).length / Math.max(c.length, 1));
  trainer = new GRPOTrainer({ model, tokenizer, prompts, rewards: reward, config: { ...common, learningRate: 1e-5, numGenerations: 4, maxCompletionLength: 128, temperature: 1 } });
}
await trainer.train();
if (Number(process.env.RANK || 0) === 0) {
  const lines = readFileSync(join(o.out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => typeof m.step === 'number' && m.time);
  const times = lines.map((m) => m.time);
  const gaps = times.slice(1).map((t, i) => t - times[i]).slice(o.warmup);
  const lengths = lines.map((m) => m['completions/mean_length']).filter((x) => x !== undefined);
  console.log(JSON.stringify({ world, threads: o.threads, gaps, meanLength: lengths.length ? lengths.reduce((a, b) => a + b, 0) / lengths.length : null }));
}
getProcessGroup()?.destroy();
