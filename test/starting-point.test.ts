// Defaults by starting point and the "learned nothing" findings (issue 21): where a model's
// weights come from (GPT.origin, kept through save and load), the defaults each trainer then
// picks and the notes it prints, the findings on hand-made cases, a from-scratch preset trained
// with default settings on a task nobody tuned them for (it must beat the unigram model and not
// warn), and deliberately useless runs (learning rate 0) that must warn, in warnings.json and in
// the report too.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GPT } from '../src/models/gpt.js';
import { frozenCopy } from '../src/models/frozen-copy.js';
import { buildReport } from '../src/report/report.js';
import { torch } from '../src/torch.js';
import { ByteTokenizer } from '../src/tokenizers/byte-tokenizer.js';
import { SFTTrainer } from '../src/trainers/sft.js';
import { defaultSFTConfig } from '../src/trainers/sft-config.js';
import { GRPOTrainer } from '../src/trainers/grpo.js';
import { defaultGRPOConfig } from '../src/trainers/grpo-config.js';
import { defaultsForStart, FROM_SCRATCH_DEFAULTS, startingPointHelp } from '../src/trainers/starting-point.js';
import { accuracyFinding, chanceBand, rewardTrendFinding, sftFinding, unigramLoss } from '../src/trainers/learning-check.js';
import { MODEL_PRESETS } from '../src/cli/models.js';
import { mulberry32 } from '../src/data/random.js';
import { tempDir, trainCapturingStderr } from './helpers.js';

const tok = new ByteTokenizer();
const tmp = tempDir('start');
const quiet = { progressBar: false, loggingSteps: 5 } as const;

/** A task nobody tuned the defaults on: reverse a word of 3–5 letters ("rev abcd:" → " dcba"). */
function reverseTask(n: number, seed: number) {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const w = Array.from({ length: 3 + Math.floor(rng() * 3) }, () => String.fromCharCode(97 + Math.floor(rng() * 8))).join('');
    return { prompt: `rev ${w}:`, completion: ` ${[...w].reverse().join('')}` };
  });
}

describe('where the weights come from', () => {
  it('created: random; saved and loaded: from-scratch; a checkpoint from elsewhere: pretrained; a frozen copy keeps it', async () => {
    const m = GPT.create({ vocabSize: tok.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16 });
    expect(m.origin).toBe('random');
    await m.save(join(tmp, 'scratch'));
    expect(JSON.parse(readFileSync(join(tmp, 'scratch', 'config.json'), 'utf8')).torch_rlhf.from_scratch).toBe(true);
    const back = await GPT.load(join(tmp, 'scratch'));
    expect(back.origin).toBe('from-scratch');
    const copy = frozenCopy(back);
    expect(copy.origin).toBe('from-scratch');
    const hf = await GPT.load(join(import.meta.dirname, 'fixtures', 'gpt2-tiny'));
    expect(hf.origin).toBe('pretrained');
    // A pretrained model saved again stays pretrained (no from-scratch mark).
    await hf.save(join(tmp, 'hf-again'));
    expect((await GPT.load(join(tmp, 'hf-again'))).origin).toBe('pretrained');
    for (const x of [m, back, copy, hf]) x.dispose();
  });
});

describe('defaultsForStart', () => {
  it('fills the from-scratch defaults the user left out, derives SFT epochs from the data, and says why', () => {
    const r = defaultsForStart('sft', 'random', { outputDir: 'x', batchSize: 16 }, defaultSFTConfig, 800);
    // 800 examples at 16 → 50 steps an epoch → 30 epochs (1500 steps, the cap).
    expect(r.config).toEqual({
      outputDir: 'x',
      batchSize: 16,
      learningRate: 2e-3,
      lrSchedulerType: 'cosine',
      warmupSteps: 20,
      numTrainEpochs: 30,
      gradientCheckpointing: false,
    });
    expect(r.notes).toContain("from scratch (random weights): learningRate 2e-3 (TRL's 2e-5 is for pretrained checkpoints)");
    expect(r.notes.some((n) => n.includes('numTrainEpochs 30 (about 1500 steps over 800 examples, 3 to 30 epochs)'))).toBe(true);
    expect(r.notes.some((n) => n.includes('batchSize'))).toBe(false); // given: not a choice
    // Many examples: fewer epochs, at least 3.
    expect(defaultsForStart('sft', 'random', {}, defaultSFTConfig, 32 * 1000).config).toMatchObject({ numTrainEpochs: 3 });
    expect(defaultsForStart('sft', 'random', {}, defaultSFTConfig, 32 * 100).config).toMatchObject({ numTrainEpochs: 15 });
    // maxSteps or epochs given: no derived epochs.
    expect(defaultsForStart('sft', 'from-scratch', { maxSteps: 7 }, defaultSFTConfig, 100).config).not.toHaveProperty('numTrainEpochs');
    expect(defaultsForStart('sft', 'from-scratch', { numTrainEpochs: 2 }, defaultSFTConfig, 100).config).toMatchObject({
      numTrainEpochs: 2,
    });
    expect(defaultsForStart('grpo', 'from-scratch', { gradientCheckpointing: true }, defaultGRPOConfig).notes).toEqual([
      "from a checkpoint trained from scratch: learningRate 3e-4 (TRL's 1e-6 is for pretrained checkpoints)",
    ]);
  });

  it("keeps TRL's defaults for a pretrained checkpoint, and says so", () => {
    const r = defaultsForStart('sft', 'pretrained', { outputDir: 'x' }, defaultSFTConfig, 800);
    expect(r.config).toEqual({ outputDir: 'x', gradientCheckpointing: true });
    expect(r.notes).toEqual([
      "from a pretrained checkpoint: TRL's defaults (learningRate 2e-5, numTrainEpochs 3); a model trained from random weights would " +
        'get the from-scratch ones',
      "from a pretrained checkpoint: gradientCheckpointing true (TRL's default: activations recomputed in backward, for less memory)",
    ]);
    const given = { learningRate: 1e-4, numTrainEpochs: 1, gradientCheckpointing: false };
    expect(defaultsForStart('sft', 'pretrained', given, defaultSFTConfig).notes).toEqual([]);
  });

  it.each([
    ['pretrained', true],
    ['random', false],
    ['from-scratch', false],
  ] as const)('gradientCheckpointing for a %s model: %s unless given, and the start says so', (origin, on) => {
    for (const stage of Object.keys(FROM_SCRATCH_DEFAULTS) as (keyof typeof FROM_SCRATCH_DEFAULTS)[]) {
      const r = defaultsForStart(stage, origin, {}, {});
      expect(r.config).toMatchObject({ gradientCheckpointing: on });
      expect(r.notes.filter((n) => n.includes(`gradientCheckpointing ${on}`))).toHaveLength(1);
      const given = defaultsForStart(stage, origin, { gradientCheckpointing: !on }, {});
      expect(given.config).toMatchObject({ gradientCheckpointing: !on });
      expect(given.notes.some((n) => n.includes('gradientCheckpointing'))).toBe(false);
    }
  });

  it('--help describes both sets', () => {
    const h = startingPointHelp('reward', { learningRate: 1e-5, numTrainEpochs: 1 });
    expect(h).toContain('learningRate 0.0005');
    expect(h).toContain("a pretrained checkpoint keeps TRL's (learningRate 0.00001, numTrainEpochs 1, gradientCheckpointing true)");
    expect(h).toContain('gradientCheckpointing false; a pretrained');
    for (const stage of Object.keys(FROM_SCRATCH_DEFAULTS))
      expect(FROM_SCRATCH_DEFAULTS[stage as keyof typeof FROM_SCRATCH_DEFAULTS].learningRate).toBeGreaterThan(0);
  });
});

describe('the findings', () => {
  it('unigramLoss: the add-one unigram cross-entropy of the labeled tokens (the first label predicts nothing)', () => {
    const seq = (labels: number[]) => ({ ids: labels.map((l) => Math.max(l, 0)), labels });
    // Train targets: 1, 1, 2 (the first labels are skipped); vocabulary 4 → counts 1+[0,2,1,0] = [1,3,2,1] of 7.
    const train = [seq([-100, 1, 1]), seq([0, 2])];
    const held = [seq([-100, 1, 3])];
    expect(unigramLoss(train, held, 4)).toBeCloseTo(-(Math.log(3 / 7) + Math.log(1 / 7)) / 2, 12);
    expect(unigramLoss(train, [seq([5])], 4)).toBeNaN();
  });

  it('SFT, RM and DPO against chance; the online trainers by the reward trend (and the KL)', () => {
    expect(sftFinding(2.0, 2.5, 259)).toBeNull();
    expect(sftFinding(2.49, 2.5, 259)).toMatch(
      new RegExp(
        "learned nothing beyond token frequencies: its held-out loss 2.490 is no better than a unigram model's 2.500 " +
          String.raw`\(uniform over the vocabulary: 5.557\)\. Try more epochs`,
      ),
    );
    expect(sftFinding(undefined, 2.5, 259)).toBeNull();
    // Without a held-out set (evalFraction 0) the evidence is the training loss, and the finding says so.
    const noHeldOut = sftFinding(2.49, 2.5, 259, false)!;
    expect(noHeldOut).toMatch(/its training loss \(there is no held-out set\) 2.490 is no better/);
    expect(noHeldOut).not.toMatch(/held-out loss/);
    expect(chanceBand(100)).toBeCloseTo(0.1, 12);
    expect(accuracyFinding('accuracy', 0.61, 100)).toBeNull();
    expect(accuracyFinding('accuracy', 0.59, 100)).toMatch(/accuracy 59.0 % on 100 held-out examples is at chance \(50 % ± 10.0\)/);
    expect(accuracyFinding('accuracy', 0.2, 100)).not.toBeNull();
    const run = (rewards: number[], kls?: number[]) => rewards.map((r, i) => ({ reward: r, ...(kls ? { kl: kls[i]! } : {}) }));
    const rising = [0, 0.1, 0.1, 0.2, 0.3, 0.3, 0.4, 0.5];
    const flat = [0.3, 0.31, 0.29, 0.3, 0.3, 0.31, 0.29, 0.3];
    const klUp = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
    expect(rewardTrendFinding(run(rising, klUp), 'reward', 'kl')).toBeNull();
    expect(rewardTrendFinding(run(flat, klUp), 'reward', 'kl')).toMatch(
      /the reward went from 0.305 to 0.295 .* while the KL rose to 0.650/,
    );
    expect(rewardTrendFinding(run(flat, flat), 'reward', 'kl')).toBeNull(); // the policy did not move either
    expect(rewardTrendFinding(run([...rising].reverse()), 'reward', 'kl')).toMatch(/the reward went from 0.450 to 0.050/); // no KL logged
    expect(rewardTrendFinding(run(flat.slice(0, 7)), 'reward', null)).toBeNull(); // too short to tell
  });
});

describe('training with the defaults', () => {
  it('a from-scratch preset at its defaults learns a task nobody tuned them for: well below the unigram loss, no warning', async () => {
    torch.manualSeed(3);
    const model = GPT.create({ vocabSize: tok.vocabSize, ...MODEL_PRESETS.tiny! });
    const data = reverseTask(400, 11);
    const { result: r, stderr } = await trainCapturingStderr(
      () =>
        new SFTTrainer({
          model,
          tokenizer: tok,
          trainDataset: data,
          config: { outputDir: join(tmp, 'rev'), progressBar: false, seed: 3 },
        }),
    );
    expect(stderr).toMatch(/sft: from scratch \(random weights\): learningRate 2e-3/);
    const unigram = 2.3; // about: letters a–h, the space and EOS
    expect(r.metrics['eval/loss']).toBeLessThan(0.6 * unigram);
    expect(r.warnings).toEqual([]);
    expect(existsSync(join(tmp, 'rev', 'warnings.json'))).toBe(false);
    expect(JSON.parse(readFileSync(join(tmp, 'rev', 'sft_config.json'), 'utf8'))).toMatchObject({
      learningRate: 2e-3,
      numTrainEpochs: 30,
      lrSchedulerType: 'cosine',
    });
    model.dispose();
  }, 240_000);

  it('learning rate 0 learns nothing, and SFT says so: printed, in warnings.json and in the report', async () => {
    torch.manualSeed(4);
    const model = GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 });
    const dir = join(tmp, 'useless');
    const { result: r, stderr } = await trainCapturingStderr(
      () =>
        new SFTTrainer({
          model,
          tokenizer: tok,
          trainDataset: reverseTask(80, 5),
          config: { outputDir: dir, learningRate: 0, maxSteps: 4, ...quiet },
        }),
    );
    expect(r.warnings).toHaveLength(1);
    expect(stderr).toMatch(/warning: sft the model learned nothing beyond token frequencies/);
    expect(JSON.parse(readFileSync(join(dir, 'warnings.json'), 'utf8'))).toEqual({ stage: 'sft', warnings: r.warnings });
    expect(await buildReport(dir)).toContain('Warning: this sft run learned nothing.');
    model.dispose();
  }, 60_000);

  it('with evalFraction 0 the finding speaks of the training loss, not of a held-out loss that does not exist', async () => {
    torch.manualSeed(4);
    const model = GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 });
    const { result: r } = await trainCapturingStderr(
      () =>
        new SFTTrainer({
          model,
          tokenizer: tok,
          trainDataset: reverseTask(80, 5),
          config: { outputDir: join(tmp, 'useless-no-eval'), learningRate: 0, maxSteps: 4, evalFraction: 0, ...quiet },
        }),
    );
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/its training loss \(there is no held-out set\)/);
    expect(r.warnings[0]).not.toMatch(/held-out loss/);
    model.dispose();
  }, 60_000);

  it('GRPO with learning rate 0: the reward stays flat, and it says so', async () => {
    torch.manualSeed(5);
    const model = GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 });
    const share = (i: { completions: string[] }) => i.completions.map((c) => (c.split('a').length - 1) / Math.max(c.length, 1));
    const { result: r, stderr } = await trainCapturingStderr(
      () =>
        new GRPOTrainer({
          model,
          tokenizer: tok,
          prompts: Array.from({ length: 8 }, (_, i) => ({ prompt: `p${i}` })),
          rewards: share,
          config: {
            outputDir: join(tmp, 'grpo0'),
            learningRate: 0,
            maxSteps: 12,
            batchSize: 8,
            numGenerations: 4,
            maxCompletionLength: 6,
            ...quiet,
            loggingSteps: 1,
          },
        }),
    );
    expect(r.warnings).toHaveLength(1);
    expect(stderr).toMatch(/warning: grpo the reward went from .* the policy learned nothing the reward values/);
    model.dispose();
  }, 60_000);
});
