// GRPO with a reward you write: a function of the batch (prompts, completions and the prompt rows'
// other columns) that returns one number per completion, or null where it does not apply. Here
// exact match on the row's `answer` column (the built-in exactMatch()) plus a small length
// penalty of our own, on the arithmetic task; the policy starts from a fresh tiny model.
//
//   npx tsc -p examples && node examples/dist/grpo-reward-function.js   (TINY=1 for a seconds-long run)
import { join } from 'node:path';
import { ByteTokenizer, GPT, GRPOTrainer, exactMatch, loadPromptDataset, type RewardFunction } from 'torch-rlhf';

const tiny = process.env.TINY === '1';
const out = process.env.OUT ?? 'runs/example-grpo';
// The task's files ship with the package: data/arith/ beside its dist/.
const data = new URL('../data/arith/', import.meta.resolve('torch-rlhf')).pathname;

// {prompt, answer, ...} rows: every field but the prompt reaches the reward functions as a column.
const prompts = (await loadPromptDataset(join(data, 'prompts.jsonl'))).examples.slice(0, tiny ? 16 : 1000);

// A reward function: completions are decoded texts; return a score per completion (sync or async).
const brevity: RewardFunction = ({ completions }) => completions.map((c) => -0.01 * Math.max(0, c.trim().length - 4));

const tokenizer = new ByteTokenizer();
const model = process.env.POLICY
  ? await GPT.load(process.env.POLICY)
  : GPT.create({ vocabSize: tokenizer.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 32 });
const trainer = new GRPOTrainer({
  model,
  tokenizer,
  prompts,
  rewards: [exactMatch({ column: 'answer' }), brevity],
  config: {
    outputDir: out,
    numGenerations: 4,
    batchSize: 16,
    maxCompletionLength: 8,
    learningRate: 1e-4,
    maxSteps: tiny ? 2 : 100,
    reportTo: 'tensorboard',
    progressBar: !tiny,
    rewardWeights: [1, 1],
  },
  // Callbacks see every step; returning { shouldTrainingStop: true } ends the run early.
  callbacks: [{ onStep: (_state, m) => (m.reward !== undefined && m.reward > 0.9 ? { shouldTrainingStop: true } : undefined) }],
});
const result = await trainer.train();
console.log(
  `GRPO: ${result.globalStep} steps, mean reward ${result.metrics.reward?.toFixed(3)}; ` +
    `TensorBoard: tensorboard --logdir ${join(out, 'runs')}`,
);
trainer.dispose();
model.dispose();
