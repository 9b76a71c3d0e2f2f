// Held-out evaluation in the online trainers (PPO, GRPO, RLOO): the evalDataset answered greedily
// before training, every evalSteps and at the end, scored by the run's reward, with the win rate
// against the starting policy, the empty share and other judges (evalRewards); eval_samples.jsonl
// holds one fixed set of prompts per evaluation; a resumed run keeps its baseline.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ActorCritic,
  ByteTokenizer,
  GPT,
  GRPOTrainer,
  PPOTrainer,
  RewardModel,
  RewardTrainer,
  scoreTexts,
  torch,
  type RewardFunction,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('held-out');
const tok = new ByteTokenizer();
const small = { vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 };
const prompts = Array.from({ length: 8 }, (_, i) => ({ prompt: `p${i}:`, answer: String(i % 3) }));
const evalDataset = [
  { prompt: 'e0:', answer: '0' },
  { prompt: 'e1:', answer: '1' },
  { prompt: 'e2:', answer: '2' },
];
const lines = (dir: string, file: string) =>
  readFileSync(join(dir, file), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const length: RewardFunction = ({ completions }) => completions.map((c) => c.length / 8);
const nonEmpty: RewardFunction = ({ completions }) => completions.map((c) => (c.trim() === '' ? 0 : 1));

describe('held-out evaluation of the online trainers', () => {
  it('GRPO: eval/* before training, every evalSteps and at the end, on one fixed set of prompts; judges; flat memory', async () => {
    torch.manualSeed(1);
    const before = torch.memory().tensors;
    const model = GPT.create(small);
    const dir = join(tmp, 'grpo');
    const evaluations: number[] = [];
    const t = new GRPOTrainer({
      model,
      tokenizer: tok,
      prompts,
      rewards: length,
      evalDataset,
      evalRewards: nonEmpty,
      callbacks: [{ onEvaluate: (s, m) => void evaluations.push(s.globalStep, m['eval/win_rate']!) }],
      config: {
        outputDir: dir,
        batchSize: 4,
        numGenerations: 2,
        maxCompletionLength: 4,
        maxSteps: 2,
        evalSteps: 1,
        learningRate: 1e-2,
        sampleEvery: 0,
        progressBar: false,
      },
    });
    const r = await t.train();
    const evalRows = lines(dir, 'metrics.jsonl').filter((l) => 'eval/reward' in l);
    expect(evalRows.map((l) => l.step)).toEqual([0, 1, 2]);
    expect(evalRows[0]!['eval/win_rate']).toBe(0.5); // the starting policy against itself
    for (const row of evalRows)
      for (const k of ['eval/reward', 'eval/win_rate', 'eval/empty_fraction', 'eval/mean_length', 'eval/nonEmpty'])
        expect(typeof row[k], k).toBe('number');
    expect(r.metrics['eval/win_rate']).toBe(evalRows[2]!['eval/win_rate']);
    expect(evaluations.filter((_, i) => i % 2 === 0)).toEqual([0, 1, 2]);
    const samples = lines(dir, 'eval_samples.jsonl');
    expect(samples.map((s) => `${s.iteration}:${s.prompt}`)).toEqual(
      [0, 1, 2].flatMap((it) => evalDataset.map((e) => `${it}:${e.prompt}`)),
    );
    // The scores in eval_samples.jsonl are the reward's (the length reward), and eval/reward their mean.
    const at2 = samples.filter((s) => s.iteration === 2);
    const mean = at2.reduce((a, s) => a + (s.score as number), 0) / at2.length;
    expect(Math.abs(mean - (evalRows[2]!['eval/reward'] as number))).toBeLessThan(1e-9);
    t.dispose();
    model.dispose();
    expect(torch.memory().tensors).toBe(before);
  });

  it('a resumed run keeps the starting baseline and does not evaluate step 0 again', async () => {
    const dir = join(tmp, 'grpo-resume');
    const config = {
      outputDir: dir,
      batchSize: 4,
      numGenerations: 2,
      maxCompletionLength: 4,
      evalSteps: 1,
      learningRate: 1e-2,
      sampleEvery: 0,
      progressBar: false,
      saveSteps: 1,
    };
    torch.manualSeed(2);
    const model = GPT.create(small);
    const first = new GRPOTrainer({ model, tokenizer: tok, prompts, rewards: length, evalDataset, config: { ...config, maxSteps: 1 } });
    await first.train();
    first.dispose();
    const resumed = new GRPOTrainer({
      model,
      tokenizer: tok,
      prompts,
      rewards: length,
      evalDataset,
      config: { ...config, maxSteps: 2, resumeFromCheckpoint: true },
    });
    await resumed.train();
    const evalRows = lines(dir, 'metrics.jsonl').filter((l) => 'eval/reward' in l);
    expect(evalRows.map((l) => l.step)).toEqual([0, 1, 2]);
    expect(evalRows[0]!['eval/win_rate']).toBe(0.5);
    resumed.dispose();
    model.dispose();
  });

  it('PPO: the reward model or function scores the held-out answers; the empty share is logged', async () => {
    torch.manualSeed(3);
    const policy = new ActorCritic(small);
    const ref = GPT.create(small);
    const dir = join(tmp, 'ppo');
    const t = new PPOTrainer({
      model: policy,
      refModel: ref,
      tokenizer: tok,
      prompts,
      evalDataset,
      evalRewards: [nonEmpty],
      rewardFn: (_ps, answers) => answers.map((a) => (a.trim() === '' ? 1 : 0)), // a reward that likes empty answers
      config: { outputDir: dir, numIterations: 2, batchSize: 4, miniBatchSize: 2, maxNewTokens: 4, sampleEvery: 0, progressBar: false },
    });
    const r = await t.train();
    const evalRows = lines(dir, 'metrics.jsonl').filter((l) => 'eval/reward' in l);
    expect(evalRows.map((l) => l.step)).toEqual([0, 2]);
    for (const row of evalRows) expect((row['eval/empty_fraction'] as number) + (row['eval/nonEmpty'] as number)).toBeCloseTo(1, 9);
    expect(r.metrics['eval/reward']).toBe(evalRows[1]!['eval/reward']);
    expect(lines(dir, 'eval_samples.jsonl')).toHaveLength(6);
    t.dispose();
    policy.dispose();
    ref.dispose();
  });

  it("the reward model's held-out ranking scores go to eval_scores.jsonl, best first, as scoreTexts gives them", async () => {
    torch.manualSeed(4);
    const rm = new RewardModel(small);
    const dir = join(tmp, 'rm');
    const evalRows = [
      { prompt: 'Q:', chosen: ' yes', rejected: ' no' },
      { prompt: 'R:', completions: [' a', ' b', ''] },
    ];
    const t = new RewardTrainer({
      model: rm,
      tokenizer: tok,
      trainDataset: [{ prompt: 'Q:', chosen: ' good', rejected: ' bad' }],
      evalDataset: evalRows,
      config: { outputDir: dir, maxSteps: 1, batchSize: 1, progressBar: false },
    });
    await t.train();
    const got = lines(dir, 'eval_scores.jsonl').map((l) => l.scores as number[]);
    rm.eval();
    const expected = [scoreTexts(rm, tok, ['Q:', 'Q:'], [' yes', ' no']), scoreTexts(rm, tok, ['R:', 'R:', 'R:'], [' a', ' b', ''])];
    got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - expected[i]![j]!)).toBeLessThan(1e-5)));
    expect(got.map((r) => r.length)).toEqual([2, 3]);
    t.dispose();
    rm.dispose();
  });

  it('a bad evalDataset fails at once with its index and field', () => {
    const model = GPT.create(small);
    expect(
      () =>
        new GRPOTrainer({
          model,
          tokenizer: tok,
          prompts,
          rewards: length,
          evalDataset: [{ prompt: '' }],
          config: { outputDir: join(tmp, 'bad') },
        }),
    ).toThrow("GRPOTrainer evalDataset: index 0: field 'prompt' must be a non-empty string (got an empty string)");
    model.dispose();
  });
});
