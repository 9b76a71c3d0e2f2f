// GRPO and RLOO: their math against hand-computed cases, reward scoring (weights, null,
// async functions, reward models, errors that name the function and the sample), learning from
// a programmatic reward on a tiny model, flat memory, exact resume, and both architectures.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  torch,
  GPT,
  ByteTokenizer,
  RewardModel,
  GRPOTrainer,
  RLOOTrainer,
  loadTokenizer,
  groupAdvantages,
  leaveOneOutAdvantages,
  clippedSurrogate,
  klToReference,
  aggregateLoss,
  scoreSamples,
  generateText,
  type RewardFunction,
} from '../src/index.js';
import { abcDemos, expectClose, tempDir, trainSFTPolicy, expectExactResume } from './helpers.js';

const tmp = tempDir('grpo');
const tok = new ByteTokenizer();
const sftDir = join(tmp, 'sft');
const share = (s: string) => (s.length ? [...s].filter((c) => c === 'a').length / s.length : 0);
const aShare: RewardFunction = ({ completions }) => completions.map(share);
const prompts = Array.from({ length: 8 }, (_, i) => ({ prompt: `p${i}:`, columns: { id: i } }));

beforeAll(async () => {
  // A policy that answers with short strings over {a, b, c}, so a reward on them has signal.
  await trainSFTPolicy(sftDir, tok, abcDemos({ count: 160, prompts: 8, maxLength: 4, seed: 7 }));
});

const config = (name: string, extra: Record<string, unknown> = {}) => ({
  outputDir: join(tmp, name),
  batchSize: 16,
  numGenerations: 4,
  maxCompletionLength: 8,
  learningRate: 3e-3,
  temperature: 1,
  progressBar: false,
  seed: 5,
  sampleEvery: 0,
  ...extra,
});

describe('GRPO and RLOO math', () => {
  it('group advantages: centred on the group mean, scaled by the group std, the batch std or not at all', () => {
    const r = torch.tensor([1, 0, 0, 1, 2, 2, 2, 2], { dtype: 'float32' });
    const s = Math.sqrt(1 / 3); // unbiased std of [1, 0, 0, 1]
    const g = groupAdvantages(r, 4, 'group');
    expectClose(g.advantages, [0.5, -0.5, -0.5, 0.5].map((v) => v / (s + 1e-4)).concat([0, 0, 0, 0]), 1e-5);
    expect(g.zeroStd.tolist()).toEqual([false, false, false, false, true, true, true, true]);
    const batchStd = Math.sqrt(((1 - 1.25) ** 2 * 2 + 1.25 ** 2 * 2 + 0.75 ** 2 * 4) / 7);
    expectClose(
      groupAdvantages(r, 4, 'batch').advantages,
      [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0].map((v) => v / (batchStd + 1e-4)),
      1e-5,
    );
    expectClose(groupAdvantages(r, 4, 'none').advantages, [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0]);
  });

  it('leave-one-out advantages: each reward minus the mean of the others of its group', () => {
    expectClose(leaveOneOutAdvantages(torch.tensor([1, 0, 0, 3, 5, 5], { dtype: 'float32' }), 3), [
      1 - 0,
      0 - 0.5,
      0 - 0.5,
      3 - 5,
      5 - 4,
      5 - 4,
    ]);
    expect(() => leaveOneOutAdvantages(torch.tensor([1]), 1)).toThrow(/at least 2/);
  });

  it('the clipped surrogate and its clip fractions, by hand', () => {
    // ratios e^0.5 ≈ 1.65 (above 1.2) and e^-0.5 ≈ 0.61 (below 0.8); advantages +1 and −1.
    const logp = torch.tensor([
      [0.5, -0.5],
      [0.5, -0.5],
    ]);
    const old = torch.zeros([2, 2]);
    const adv = torch.tensor([1, -1], { dtype: 'float32' });
    const mask = torch.tensor([
      [true, true],
      [true, false],
    ]);
    const s = clippedSurrogate(logp, old, adv, mask, 0.2, 0.2);
    const e = Math.exp(0.5),
      f = Math.exp(-0.5);
    // A = +1: −min(ρ, clip ρ) → −1.2 and −0.61; A = −1: −min(−ρ, −clip ρ) = max(ρ, clip ρ) → 1.65 and 0.8.
    expectClose(
      s.perToken,
      [
        [-1.2, -f],
        [e, 0.8],
      ],
      1e-5,
    );
    expect(s.clipHigh.item()).toBeCloseTo(1 / 3, 6); // row 0 token 0 (ρ > 1.2, A > 0) over 3 real tokens
    expect(s.clipLow.item()).toBe(0); // row 0 token 1 has A > 0; row 1's low ratio is masked out
    expect(s.clipRegion.item()).toBeCloseTo(1 / 3, 6);
  });

  it('k3 KL is exp(d) − d − 1 with d = ref − logp', () => {
    const d = [-0.3, 0, 0.7];
    expectClose(
      klToReference(torch.zeros([3]), torch.tensor(d)),
      d.map((v) => Math.exp(v) - v - 1),
      1e-6,
    );
  });

  it("the four aggregations of TRL's loss types", () => {
    const per = torch.tensor(
      [
        [1, 2, 3],
        [4, 0, 0],
      ],
      { dtype: 'float32' },
    );
    const mask = torch.tensor([
      [true, true, true],
      [true, false, false],
    ]);
    const o = { maxCompletionLength: 5, tokensInStep: 8, sequencesInStep: 2 };
    expect(aggregateLoss(per, mask, 'grpo', o).item()).toBeCloseTo((2 + 4) / 2, 6);
    expect(aggregateLoss(per, mask, 'bnpo', o).item()).toBeCloseTo(10 / 4, 6);
    expect(aggregateLoss(per, mask, 'dr_grpo', o).item()).toBeCloseTo(10 / (2 * 5), 6);
    expect(aggregateLoss(per, mask, 'dapo', o).item()).toBeCloseTo(10 / 8, 6);
  });
});

describe('scoring with several rewards', () => {
  const seq = { sequences: torch.zeros([3, 2], { dtype: 'int64' }), attentionMask: torch.ones([3, 2], { dtype: 'bool' }) };
  const inputs = {
    prompts: ['a', 'b', 'c'],
    completions: ['x', 'yy', 'zzz'],
    completionIds: [[1], [2, 2], [3, 3, 3]],
    answer: ['x', 'q', null],
  };

  it('weights, null (not applicable), async functions and dataset columns', async () => {
    const exact: RewardFunction = async ({ completions, answer }) =>
      completions.map((c, i) => (answer![i] === null ? null : c === answer![i] ? 1 : 0));
    const len: RewardFunction = ({ completionIds }) => completionIds.map((ids) => -ids.length);
    const r = await scoreSamples([exact, len], [2, 0.5], inputs, seq);
    expect(r.total).toEqual([2 - 0.5, 0 - 1, -1.5]);
    expect(r.perSource.map((p) => p.name)).toEqual(['exact', 'len']);
  });

  it('bad output and failures name the function and the sample', async () => {
    const nan = Object.assign(() => [1, Number.NaN, 0], { rewardName: 'broken' });
    await expect(scoreSamples([nan], [1], inputs, seq)).rejects.toThrow(/reward function 'broken': sample 1 \(prompt "b"\) scored NaN/);
    const short: RewardFunction = () => [1];
    await expect(scoreSamples([short], [1], inputs, seq)).rejects.toThrow(/'short' must return an array of 3 numbers or nulls/);
    const throws: RewardFunction = async function failing() {
      throw new Error('no network');
    };
    await expect(scoreSamples([throws], [1], inputs, seq)).rejects.toThrow("reward function 'failing' failed: no network");
  });

  it('a reward model scores the sequences beside a function', async () => {
    torch.manualSeed(1);
    const rm = new RewardModel({ vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 });
    const fn: RewardFunction = () => [1, 1, 1];
    const r = await scoreSamples([rm, fn], [1, 1], inputs, seq);
    const direct = torch.noGrad(() => rm.rewards(seq.sequences, seq.attentionMask, { path: 'native' })).tolist() as number[];
    r.total.forEach((v, i) => expect(v).toBeCloseTo(direct[i]! + 1, 5));
    expect(r.perSource[0]!.name).toBe('reward_model_0');
    rm.dispose();
  });
});

describe.each([
  ['GRPO', GRPOTrainer],
  ['RLOO', RLOOTrainer],
] as const)('%sTrainer', (name, Trainer) => {
  it('raises a programmatic reward on a tiny model, with TRL-named metrics and constant memory', async () => {
    const model = await GPT.load(sftDir);
    const base = torch.memory().tensors;
    const t = new Trainer({
      model,
      tokenizer: tok,
      prompts,
      rewards: aShare,
      config: config(`learn-${name}`, { maxSteps: 30, ...(name === 'RLOO' ? { numGenerations: 4 } : {}) }),
    });
    await t.train();
    const h = t.history;
    const first = h.slice(0, 5).reduce((a, r) => a + r.reward!, 0) / 5;
    const last = h.slice(-5).reduce((a, r) => a + r.reward!, 0) / 5;
    expect(last).toBeGreaterThan(first + 0.1);
    for (const k of [
      'reward',
      'reward_std',
      'frac_reward_zero_std',
      'rewards/aShare/mean',
      'completions/mean_length',
      'completions/clipped_ratio',
      'entropy',
      'clip_ratio/region_mean',
      'loss',
      'lr',
    ])
      expect(h[0], k).toHaveProperty([k]);
    expect(
      readFileSync(join(tmp, `learn-${name}`, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(30);
    t.dispose();
    // Rollouts, updates and the reference copy freed (≤: other tests' garbage may be finalized meanwhile).
    expect(torch.memory().tensors).toBeLessThanOrEqual(base);
    // And per step: one generate + update leaves exactly its batch, which dispose frees.
    const probe = new Trainer({ model, tokenizer: tok, prompts, rewards: aShare, config: config(`probe-${name}`, { maxSteps: 1 }) });
    const before = torch.memory().tensors;
    const { batch } = await probe.generate();
    await probe.update(batch);
    probe.optimizer.zeroGrad();
    torch.dispose(batch);
    probe.dispose();
    expect(torch.memory().tensors).toBeLessThanOrEqual(before);
    model.dispose();
  }, 120_000);

  it('resume continues exactly (policy, optimizer, prompt order, sampling)', async () => {
    const extra = { maxSteps: 4, saveSteps: 2, numIterations: 2, beta: 0.04 };
    const part = `resume-part-${name}`;
    await expectExactResume({
      make: async (run) => {
        const model = await GPT.load(sftDir);
        const outputDir = run === 'full' ? `resume-full-${name}` : part;
        const runConfig = config(outputDir, { ...extra, resumeFromCheckpoint: run === 'resumed' });
        return { model, trainer: new Trainer({ model, tokenizer: tok, prompts, rewards: aShare, config: runConfig }) };
      },
      cut: ['generate', 3],
      checkpoint: join(tmp, part, 'checkpoint-2'),
      also: () => {
        const steps = readFileSync(join(tmp, part, 'metrics.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).step);
        expect(steps).toEqual([1, 2, 3, 4]);
      },
    });
  }, 120_000);

  it('bad configs name the field', async () => {
    const model = await GPT.load(sftDir);
    const mk = (extra: Record<string, unknown>) => () =>
      new Trainer({ model, tokenizer: tok, prompts, rewards: aShare, config: config('bad', extra) });
    expect(mk({ batchSize: 10, numGenerations: 4 })).toThrow(/batchSize \(10\) must be a multiple of numGenerations \(4\)/);
    expect(mk({ numGenerations: 1, batchSize: 4 })).toThrow(/numGenerations must be at least 2/);
    expect(mk({ epsilon: 0 })).toThrow(/field 'epsilon' must be a positive number/);
    expect(mk({ maxCompletionLength: 40 })).toThrow(/exceed the model's blockSize/);
    expect(mk({ rewardWeights: [1, 2] })).toThrow(/rewardWeights must be 1 finite numbers/);
    if (name === 'GRPO') expect(mk({ lossType: 'ppo' })).toThrow(/field 'lossType' must be 'grpo', 'bnpo', 'dr_grpo' or 'dapo'/);
    model.dispose();
  });
});

describe('a model whose embedding is larger than its tokenizer (as real checkpoints pad it)', () => {
  it('samples ids the tokenizer does not have, and generateText and a GRPO step skip them instead of failing', async () => {
    // 259 byte-tokenizer ids and 1,024 more rows: most samples of a random model land in the gap.
    torch.manualSeed(11);
    const model = GPT.create({ vocabSize: tok.vocabSize + 1024, blockSize: 32, nLayer: 1, nEmbd: 32, nHead: 2 });
    const texts = await generateText(model, tok, ['ab', 'c'], { maxNewTokens: 12, seed: 3 });
    expect(texts).toHaveLength(2);
    const sampled: number[][] = [];
    const t = new GRPOTrainer({
      model,
      tokenizer: tok,
      prompts: [{ prompt: 'a' }, { prompt: 'b' }],
      rewards: ({ completions, completionIds }) => (sampled.push(...completionIds), completions.map(share)),
      config: { ...config('padded-embedding'), batchSize: 8, maxSteps: 1 },
    });
    await t.train();
    expect(t.history).toHaveLength(1);
    expect(sampled.flat().some((id) => id >= tok.vocabSize)).toBe(true);
    t.dispose();
    model.dispose();
  });
});

describe('GRPO on a Llama-family checkpoint', () => {
  it('a few steps on the Llama fixture with its own tokenizer and stop ids', async () => {
    const dir = fileURLToPath(new URL('./fixtures/llama-tiny', import.meta.url));
    const model = await GPT.load(dir);
    const tokenizer = await loadTokenizer(dir);
    const len: RewardFunction = ({ completionIds }) => completionIds.map((ids) => -ids.length);
    const t = new GRPOTrainer({
      model,
      tokenizer,
      prompts: [{ prompt: 'hello' }, { prompt: 'the cat' }],
      rewards: len,
      config: { ...config('llama'), batchSize: 8, maxSteps: 2, beta: 0.04 },
    });
    await t.train();
    expect(t.history).toHaveLength(2);
    expect(t.history[1]).toHaveProperty('kl');
    t.dispose();
    model.dispose();
  }, 60_000);
});
