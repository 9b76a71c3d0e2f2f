// Run-directory hygiene after kills: a resumed run's logs hold each step once.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { torch, GPT, ActorCritic, ByteTokenizer, PPOTrainer, SFTTrainer, type SFTExample, type SFTConfig } from '../src/index.js';
import { prepareRunLogs } from '../src/trainers/run-logs.js';

const tmp = mkdtempSync(join(tmpdir(), 'torch-rlhf-checkpoints-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const tok = new ByteTokenizer();
const data: SFTExample[] = Array.from({ length: 16 }, (_, i) => ({ kind: 'prompt-completion', prompt: `Q${i % 4}:`, completion: ` a${i % 4}` }));
const tiny = () => {
  torch.manualSeed(1);
  return GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
};
const config = (dir: string, extra: Partial<SFTConfig> = {}) => ({ outputDir: dir, learningRate: 1e-3, batchSize: 4, loggingSteps: 1, progressBar: false, ...extra });

/** Trains with `extra`; `during` runs before each micro-batch (the n-th), and may throw as a kill would stop the run. */
async function train(dir: string, extra: Partial<SFTConfig>, during: (call: number) => void = () => {}) {
  const model = tiny();
  const t = new SFTTrainer({ model, tokenizer: tok, trainDataset: data, evalDataset: data.slice(0, 4), config: config(dir, extra) });
  let calls = 0;
  const orig = (t as unknown as { computeLoss: (b: unknown) => unknown }).computeLoss.bind(t);
  (t as unknown as { computeLoss: unknown }).computeLoss = (b: unknown) => {
    during(++calls);
    return orig(b);
  };
  try {
    return await t.train();
  } finally {
    t.dispose();
    model.dispose();
  }
}

const steps = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step as number);
const powerCutAt = (n: number) => (call: number) => {
  if (call === n) throw new Error('power cut');
};

describe('a run directory after kills', () => {
  it('a resumed run logs each step once, and drops the line a kill cut short', async () => {
    const dir = join(tmp, 'logs');
    // Killed in step 8, after logging steps 6 and 7 beyond its checkpoint-5, mid-way through a line.
    await expect(train(dir, { maxSteps: 10, saveSteps: 5 }, powerCutAt(8))).rejects.toThrow('power cut');
    appendFileSync(join(dir, 'metrics.jsonl'), '{"step":8,"lo');
    await train(dir, { maxSteps: 10, saveSteps: 5, resumeFromCheckpoint: true });
    const text = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const training = steps(join(dir, 'metrics.jsonl'));
    // Steps 1–10 in order, then the final evaluation's line at step 10.
    expect(training).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10]);
  });
});

describe('PPO resume', () => {
  it('cuts metrics.jsonl and samples.jsonl back to the checkpoint, so each iteration is logged once', async () => {
    const dir = join(tmp, 'ppo');
    const policy = join(tmp, 'ppo-policy');
    const base = tiny();
    await base.save(policy);
    await tok.save(policy);
    base.dispose();
    const run = async (kill: number, resume: boolean) => {
      const model = await ActorCritic.fromPretrained(policy);
      const refModel = await GPT.load(policy);
      const t = new PPOTrainer({
        model, refModel, tokenizer: tok, prompts: data.map((d) => ({ prompt: (d as { prompt: string }).prompt })), rewardFn: (_, answers) => answers.map((a) => a.length),
        config: { outputDir: dir, numIterations: 4, batchSize: 4, miniBatchSize: 4, ppoEpochs: 1, maxNewTokens: 3, saveSteps: 2, sampleEvery: 1, numSamples: 1, progressBar: false, resumeFromCheckpoint: resume },
      });
      let calls = 0;
      const rollout = t.rollout.bind(t);
      t.rollout = async () => {
        if (++calls === kill) throw new Error('power cut');
        return rollout();
      };
      try {
        return await t.train();
      } finally {
        t.dispose();
        model.dispose();
        refModel.dispose();
      }
    };
    // Killed in iteration 4, after logging iteration 3 beyond its checkpoint-2.
    await expect(run(4, false)).rejects.toThrow('power cut');
    await run(0, true);
    expect(steps(join(dir, 'metrics.jsonl'))).toEqual([1, 2, 3, 4]);
    const samples = readFileSync(join(dir, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).iteration);
    expect(samples).toEqual([1, 2, 3, 4]);
  });
});

describe('prepareRunLogs', () => {
  let dir: string;
  beforeAll(() => {
    dir = join(tmp, 'prepare');
    mkdirSync(dir);
  });

  it('keeps the lines up to the resumed step, and lines it cannot read except an unfinished last one', () => {
    const lines = ['{"iteration":1,"a":1}', '{"iteration":2}', 'not json', '{"note":"no step"}', '{"iteration":3}', '{"iteration":4}', '{"iteration":5'];
    writeFileSync(join(dir, 'samples.jsonl'), lines.join('\n'));
    prepareRunLogs(dir, 3, [{ file: 'samples.jsonl', stepKey: 'iteration' }]);
    expect(readFileSync(join(dir, 'samples.jsonl'), 'utf8')).toBe(['{"iteration":1,"a":1}', '{"iteration":2}', 'not json', '{"note":"no step"}', '{"iteration":3}', ''].join('\n'));
    expect(readdirSync(dir)).toEqual(['samples.jsonl']); // rewritten atomically: no temporary left
    prepareRunLogs(dir, null, [{ file: 'samples.jsonl', stepKey: 'iteration' }]);
    expect(existsSync(join(dir, 'samples.jsonl'))).toBe(false);
  });
});
