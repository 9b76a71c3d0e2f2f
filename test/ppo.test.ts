// PPO end to end on tiny models: learning from a programmatic reward with both critic
// layouts, staying near the reference without a reward signal, rollout log-probs, memory,
// resume, and the knobs (missing-EOS penalty, adaptive KL, ptx, early stop).
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { torch, GPT, ByteTokenizer, ActorCritic, PPOTrainer, RewardModel, type PPOConfig } from '../src/index.js';
import { abcDemos, tempDir, trainSFTPolicy, expectExactResume } from './helpers.js';

const tmp = tempDir('ppo');
const tok = new ByteTokenizer();
const sftDir = join(tmp, 'sft');
const rmDir = join(tmp, 'rm');
const share = (s: string) => (s.length ? [...s].filter((c) => c === 'a').length / s.length : 0);
const prompts = Array.from({ length: 20 }, (_, i) => ({ prompt: `p${i}:` }));
const demos = abcDemos({ count: 200, prompts: 20, maxLength: 5, seed: 1 });

beforeAll(async () => {
  // An SFT policy that answers with short strings over {a, b, c}, and an (untrained) reward
  // model on its trunk to start a separate critic from.
  await trainSFTPolicy(sftDir, tok, demos);
  const rm = await RewardModel.fromTrunk(sftDir);
  await rm.save(rmDir);
  rm.dispose();
});

const cfg = (name: string, extra: Partial<PPOConfig> = {}): Partial<PPOConfig> & { outputDir: string } => ({
  outputDir: join(tmp, name),
  numIterations: 30,
  batchSize: 16,
  miniBatchSize: 8,
  maxNewTokens: 10,
  learningRate: 1e-3,
  temperature: 1,
  klCoef: 0.02,
  progressBar: false,
  seed: 3,
  ...extra,
});

async function makeTrainer(
  name: string,
  extra: Partial<PPOConfig> = {},
  options: { separateCritic?: boolean; rewardFn?: (p: string[], a: string[]) => number[] | Promise<number[]>; ptx?: boolean } = {},
) {
  const model = await ActorCritic.fromTrunk(sftDir, { separateCritic: options.separateCritic, rewardModelDir: rmDir });
  const refModel = await GPT.load(sftDir);
  const trainer = new PPOTrainer({
    model,
    refModel,
    tokenizer: tok,
    prompts,
    rewardFn: options.rewardFn ?? ((_, answers) => answers.map(share)),
    config: cfg(name, extra),
    ptxDataset: options.ptx ? demos : undefined,
  });
  const done = () => {
    trainer.dispose();
    model.dispose();
    refModel.dispose();
  };
  return { model, refModel, trainer, done };
}

describe('PPOTrainer', () => {
  for (const separateCritic of [false, true]) {
    it(
      'raises the mean reward clearly while KL stays bounded ' +
        `(${separateCritic ? 'separate critic from the reward model' : 'shared trunk + value head'})`,
      async () => {
        const { trainer, model, done } = await makeTrainer(`learn-${separateCritic}`, {}, { separateCritic });
        expect(model.separateCritic).toBe(separateCritic);
        await trainer.train();
        const h = trainer.history;
        const first = h.slice(0, 3).reduce((a, r) => a + r['objective/scores']!, 0) / 3;
        const last = h.slice(-3).reduce((a, r) => a + r['objective/scores']!, 0) / 3;
        expect(last).toBeGreaterThan(first + 0.25);
        expect(last).toBeGreaterThan(0.75);
        for (const r of h) expect(r['objective/kl']!).toBeLessThan(8);
        for (const k of [
          'objective/kl',
          'objective/entropy',
          'objective/scores',
          'objective/rlhf_reward',
          'objective/non_score_reward',
          'policy/approxkl_avg',
          'policy/clipfrac_avg',
          'policy/entropy_avg',
          'loss/policy_avg',
          'loss/value_avg',
          'val/clipfrac_avg',
          'val/ratio',
          'val/explained_variance',
          'val/response_length',
          'lr',
        ])
          expect(h[0], k).toHaveProperty(k);
        const dir = join(tmp, `learn-${separateCritic}`);
        const logged = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
        expect(logged.length).toBe(30);
        expect(readFileSync(join(dir, 'samples.jsonl'), 'utf8')).toContain('"answer"');
        // The output directory is a GPT checkpoint the next stage can load.
        const policy = await GPT.load(dir);
        policy.dispose();
        expect(existsSync(join(dir, 'critic', 'model.safetensors'))).toBe(separateCritic);
        done();
      },
    );
  }

  it('with the same reward for every answer and β > 0, the policy stays near the reference', async () => {
    const { trainer, model, refModel, done } = await makeTrainer(
      'flat',
      { numIterations: 15, klCoef: 0.2, learningRate: 3e-4 },
      { rewardFn: (p) => p.map(() => 0.5) },
    );
    await trainer.train();
    // The sampled KL estimate is noisy per batch; its mean stays small.
    const kl = trainer.history.map((r) => r['objective/kl']!);
    expect(kl.reduce((a, b) => a + b, 0) / kl.length).toBeLessThan(0.6);
    // Next-token distributions on the prompts barely moved.
    torch.tidy(() => {
      const ids = torch.tensor(prompts.slice(0, 8).map((p) => tok.encode(p.prompt, { addSpecialTokens: true })));
      const a = model.forward(ids).logits.logSoftmax(-1);
      const b = refModel.forward(ids).logits.logSoftmax(-1);
      const klRef = a.exp().mul(a.sub(b)).sum(-1).mean().item();
      expect(klRef).toBeLessThan(0.1);
    });
    done();
  });

  it('log-probs recorded at rollout equal those recomputed before the first update (ratio = 1)', async () => {
    const { trainer, model, done } = await makeTrainer('ratio');
    const r = await trainer.rollout();
    torch.tidy(() => {
      const m = r.responseMask.float();
      expect(r.genLogprobs.mul(m).sub(r.logprobs).abs().max().item()).toBeLessThan(1e-4);
      const out = model.policyAndValues(r.sequences, r.attentionMask);
      const R = r.responses.shape[1]!;
      const lp = out.logits
        .narrow(1, r.promptLength - 1, R)
        .div(0.7 / 0.7)
        .div(1)
        .logSoftmax(-1)
        .gather(2, r.responses.unsqueeze(-1))
        .squeeze(-1)
        .mul(m);
      const ratio = lp.sub(r.logprobs).exp().mul(m).sum().div(m.sum()).item();
      expect(Math.abs(ratio - 1)).toBeLessThan(1e-4);
      // Values match too, and padding is zero everywhere.
      expect(
        out.values
          .narrow(1, r.promptLength - 1, R)
          .mul(m)
          .sub(r.values)
          .abs()
          .max()
          .item(),
      ).toBeLessThan(1e-4);
      expect(r.advantages.mul(r.responseMask.logicalNot().float()).abs().max().item()).toBe(0);
    });
    torch.dispose(r);
    done();
  });

  it('keeps memory flat over many iterations', async () => {
    const { trainer, done } = await makeTrainer('memory', { numIterations: 25 });
    const counts: number[] = [];
    const rollout = trainer.rollout.bind(trainer);
    trainer.rollout = async () => {
      counts.push(torch.memory().tensors);
      return rollout();
    };
    await trainer.train();
    // The optimizer state appears with the first update; from then on nothing accumulates.
    expect(new Set(counts.slice(1)).size).toBe(1);
    done();
  });

  it('resume continues exactly (model, optimizer, KL coefficient, prompt order, sampling)', async () => {
    const extra = { numIterations: 6, saveSteps: 3, adaptiveKl: true, targetKl: 0.5, klHorizon: 100 };
    // The value head starts from the global generator, as a script that seeds first builds it:
    // both runs seed before building (the test passed alone only by the luck of the order).
    await expectExactResume({
      make: (run) => {
        if (run !== 'resumed') torch.manualSeed(7);
        return makeTrainer(run === 'full' ? 'resume-full' : 'resume-part', { ...extra, resumeFromCheckpoint: run === 'resumed' });
      },
      cut: ['rollout', 5],
      checkpoint: join(tmp, 'resume-part', 'checkpoint-3'),
      also: (a, c) => {
        expect(c.trainer.klController.klCoef).toBe(a.trainer.klController.klCoef);
        expect(a.trainer.klController.klCoef).not.toBe(0.02); // the adaptive controller moved it
      },
    });
  });

  it('penalises answers that never emit EOS', async () => {
    const { trainer, done } = await makeTrainer('eos', { maxNewTokens: 1, missingEosPenalty: 2 }, { rewardFn: (p) => p.map(() => 0) });
    const r = await trainer.rollout();
    const eos = (r.responses.tolist() as number[][]).map((row) => row[0] === tok.eosTokenId);
    (r.scores.tolist() as number[]).forEach((s, i) => expect(s).toBe(eos[i] ? 0 : -2));
    torch.dispose(r);
    done();
  });

  it('PPO-ptx mixes the pretraining loss in; early stopping on approximate KL ends epochs', async () => {
    const { trainer, done } = await makeTrainer('ptx', { numIterations: 2, ptxCoef: 0.5, earlyStopKl: 1e-9, ppoEpochs: 4 }, { ptx: true });
    await trainer.train();
    expect(trainer.history[0]).toHaveProperty('loss/ptx_avg');
    expect(trainer.history[0]!['policy/early_stop_epoch']).toBe(0);
    done();
  });

  it('an async rewardFn is awaited; a bad score names the function and the answer', async () => {
    const asyncShare = async (_: string[], answers: string[]) => {
      await new Promise((r) => setTimeout(r, 1));
      return answers.map(share);
    };
    const a = await makeTrainer('async-reward', { numIterations: 1 }, { rewardFn: asyncShare });
    const r = await a.trainer.rollout();
    expect((r.scores.tolist() as number[]).every(Number.isFinite)).toBe(true);
    torch.dispose(r);
    a.done();
    const broken = async function brokenReward(p: string[]) {
      return p.map((_, i) => (i === 2 ? Number.NaN : 0));
    };
    const b = await makeTrainer('bad-reward', { numIterations: 1 }, { rewardFn: broken });
    await expect(b.trainer.rollout()).rejects.toThrow(
      /reward function 'brokenReward': answer 2 \(prompt "p\d+:"\) scored NaN, expected a finite number/,
    );
    b.done();
    // One that never settles fails the rollout after rewardTimeout seconds, naming it.
    const stuck = function stuckJudge(): Promise<number[]> {
      return new Promise(() => {});
    };
    const c = await makeTrainer('stuck-reward', { numIterations: 1, rewardTimeout: 0.5 }, { rewardFn: stuck });
    await expect(c.trainer.rollout()).rejects.toThrow(/reward function 'stuckJudge' did not return its scores within 0.5 s/);
    c.done();
  });

  it('rejects bad configs naming the field', async () => {
    const { model, refModel, done } = await makeTrainer('bad');
    const mk = (extra: Record<string, unknown>) => () =>
      new PPOTrainer({
        model,
        refModel,
        tokenizer: tok,
        prompts,
        rewardFn: (p) => p.map(() => 0),
        config: { outputDir: tmp, maxNewTokens: 10, ...extra },
      });
    expect(mk({ cliprange: 0 })).toThrow(/PPOConfig: field 'cliprange' must be a positive number/);
    expect(mk({ klEstimator: 'k2' })).toThrow(/field 'klEstimator' must be 'k1' or 'k3'/);
    expect(mk({ batchSize: 10, miniBatchSize: 4 })).toThrow(/batchSize \(10\) must be a multiple of miniBatchSize \(4\)/);
    expect(mk({ maxNewTokens: 40 })).toThrow(/exceed the model's blockSize/);
    expect(mk({ ptxCoef: 1 })).toThrow(/ptxCoef > 0 needs a ptxDataset/);
    expect(() => new PPOTrainer({ model, refModel, tokenizer: tok, prompts, config: { outputDir: tmp } })).toThrow(
      /exactly one of rewardModel and rewardFn/,
    );
    done();
  });
});
