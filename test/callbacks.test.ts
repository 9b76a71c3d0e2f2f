// Trainer callbacks (HF's TrainerCallback / TrainerControl) in the three loops — the shared one
// (SFT, RM, DPO), PPO's and GRPO/RLOO's —: the events, their order, the metrics they carry,
// early stop by a returned value or the control object; plain progress lines off a terminal;
// TensorBoard event files with reportTo, read back by TensorBoard's own reader when .venv has it.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ActorCritic,
  ByteTokenizer,
  GPT,
  GRPOTrainer,
  PPOTrainer,
  SFTTrainer,
  TensorBoardWriter,
  plainProgress,
  type TrainerCallback,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = tempDir('callbacks');
const tok = new ByteTokenizer();
const small = { vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 };
const rows = Array.from({ length: 16 }, (_, i) => ({ prompt: `Q${i % 4}:`, completion: ` A${i % 4}` }));
const metricsLines = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);

/** A callback that records every event as `name@step` and the payloads. */
function recorder(stopAt?: { step: number; how: 'return' | 'control' }) {
  const events: string[] = [];
  const logs: Record<string, number>[] = [];
  const evals: Record<string, number>[] = [];
  const saves: string[] = [];
  const cb: TrainerCallback = {
    onStep(state, metrics, control) {
      events.push(`step@${state.globalStep}`);
      expect(typeof metrics).toBe('object');
      if (stopAt && state.globalStep === stopAt.step) {
        if (stopAt.how === 'control') control.shouldTrainingStop = true;
        else return { shouldTrainingStop: true };
      }
    },
    onLog(state, l) {
      events.push(`log@${state.globalStep}`);
      logs.push({ ...l });
    },
    async onEvaluate(state, m) {
      events.push(`evaluate@${state.globalStep}`);
      evals.push({ ...m });
    },
    onSave(state, dir) {
      events.push(`save@${state.globalStep}`);
      saves.push(dir);
    },
    onTrainEnd(state) {
      events.push(`end@${state.globalStep}`);
    },
  };
  return { cb, events, logs, evals, saves };
}

describe('callbacks', () => {
  it('the shared loop (SFT) calls every event in order and stops early when a callback returns shouldTrainingStop', async () => {
    const model = GPT.create(small);
    const r = recorder({ step: 3, how: 'return' });
    const dir = join(tmp, 'sft');
    const t = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: rows,
      callbacks: [r.cb],
      config: {
        outputDir: dir,
        batchSize: 2,
        maxSteps: 10,
        loggingSteps: 2,
        evalSteps: 2,
        evalFraction: 0.25,
        saveSteps: 2,
        progressBar: false,
      },
    });
    const result = await t.train();
    expect(result.globalStep).toBe(3);
    expect(r.events).toEqual([
      'step@1',
      'step@2',
      'evaluate@2',
      'log@2',
      'save@2',
      'step@3',
      'log@3',
      'evaluate@3',
      'log@3',
      'save@3',
      'end@3',
    ]);
    // onLog gets exactly the lines of metrics.jsonl.
    expect(r.logs).toEqual(metricsLines(dir));
    expect(Object.keys(r.evals[0]!).every((k) => k.startsWith('eval/'))).toBe(true);
    expect(r.saves).toEqual([join(dir, 'checkpoint-2'), join(dir, 'checkpoint-3')]);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(true);
    t.dispose();
    model.dispose();
  });

  it('GRPO and PPO loops call them too, and stop when a callback sets control.shouldTrainingStop', async () => {
    const model = GPT.create(small);
    const g = recorder({ step: 2, how: 'control' });
    const reward = ({ completions }: { completions: string[] }) => completions.map((c) => c.length);
    const gt = new GRPOTrainer({
      model,
      tokenizer: tok,
      prompts: rows,
      rewards: reward,
      callbacks: [g.cb],
      config: {
        outputDir: join(tmp, 'grpo'),
        batchSize: 4,
        numGenerations: 2,
        maxCompletionLength: 4,
        maxSteps: 5,
        sampleEvery: 0,
        progressBar: false,
      },
    });
    // One name for the step count in every trainer's result and callback state (TRL's global_step).
    const gr = await gt.train();
    expect(gr.globalStep).toBe(2);
    expect(gr).not.toHaveProperty('steps');
    expect(g.events).toEqual(['step@1', 'log@1', 'step@2', 'log@2', 'save@2', 'end@2']);
    expect(g.logs).toEqual(metricsLines(join(tmp, 'grpo')));
    gt.dispose();

    const policy = new ActorCritic(small);
    const p = recorder();
    const pt = new PPOTrainer({
      model: policy,
      refModel: model,
      rewardFn: (ps) => ps.map(() => 1),
      tokenizer: tok,
      prompts: rows,
      config: {
        outputDir: join(tmp, 'ppo'),
        numIterations: 2,
        batchSize: 2,
        miniBatchSize: 2,
        maxNewTokens: 4,
        sampleEvery: 0,
        progressBar: false,
      },
    });
    pt.addCallback(p.cb);
    const pr = await pt.train();
    expect(pr.globalStep).toBe(2);
    expect(pr).not.toHaveProperty('iterations');
    expect(p.events).toEqual(['step@1', 'log@1', 'step@2', 'log@2', 'save@2', 'end@2']);
    expect(p.logs).toEqual(metricsLines(join(tmp, 'ppo')));
    pt.dispose();
    policy.dispose();
    model.dispose();
  });

  it('a callback that is not one fails at once with what is wrong', () => {
    const model = GPT.create(small);
    const mk = (callbacks: unknown) => () =>
      new SFTTrainer({
        model,
        tokenizer: tok,
        trainDataset: rows,
        callbacks: callbacks as TrainerCallback[],
        config: { outputDir: join(tmp, 'x') },
      });
    expect(mk([{ onStep: 3 }])).toThrow("SFTTrainer: callbacks[0]: 'onStep' must be a function (got number)");
    expect(mk([null])).toThrow('SFTTrainer: callbacks[0]: a callback must be an object');
    expect(mk({})).toThrow('SFTTrainer: callbacks must be an array');
    model.dispose();
  });

  it('plain progress lines: one per tenth of the run (or 30 s), with metrics, elapsed time and ETA', () => {
    const lines: string[] = [];
    let t = 0;
    const p = plainProgress(
      'sft',
      20,
      (l) => lines.push(l),
      () => t,
    );
    p.update(0, {});
    for (let s = 1; s <= 20; s++) {
      t += 1000;
      p.update(s, { loss: 2 / s });
    }
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe('sft step 2/20 (10%) loss 1.0000, 2 s elapsed, ETA 18 s');
    expect(lines[9]).toBe('sft step 20/20 (100%) loss 0.1000, 20 s elapsed, ETA 0 s');
  });
});

describe('TensorBoard event files (reportTo)', () => {
  const python = join(root, '.venv', 'bin', 'python');
  const hasTensorboard = existsSync(python) && spawnSync(python, ['-c', 'import tensorboard'], { encoding: 'utf8' }).status === 0;
  if (!hasTensorboard)
    console.log('skipping the TensorBoard read-back: .venv has no tensorboard (bash scripts/setup.sh --test installs it)');
  const read = (dir: string) => {
    const r = spawnSync(python, [join(root, 'scripts', 'check', 'read_tfevents.py'), dir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { files: number; versions: string[]; scalars: Record<string, [number, number, number][]> };
  };

  it.skipIf(!hasTensorboard)("SFT with reportTo 'tensorboard' writes every metrics.jsonl line as scalars TensorBoard reads", async () => {
    const model = GPT.create(small);
    const dir = join(tmp, 'tb-sft');
    const t = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: rows,
      config: {
        outputDir: dir,
        batchSize: 2,
        maxSteps: 4,
        loggingSteps: 1,
        evalFraction: 0.25,
        progressBar: false,
        reportTo: 'tensorboard',
      },
    });
    await t.train();
    const tb = read(join(dir, 'runs'));
    expect(tb.files).toBe(1);
    expect(tb.versions).toEqual(['brain.Event:2']);
    const lines = metricsLines(dir);
    for (const key of ['loss', 'lr', 'grad_norm', 'eval/loss']) {
      const expected = lines.filter((l) => l[key] !== undefined).map((l) => [l.step, l[key]]);
      const got = tb.scalars[key]!.map(([s, v]) => [s, v]);
      expect(got.length, key).toBe(expected.length);
      got.forEach(([s, v], i) => {
        expect(s).toBe(expected[i]![0]);
        expect(Math.abs(v! - expected[i]![1]!)).toBeLessThanOrEqual(Math.abs(expected[i]![1]!) * 1e-6 + 1e-12);
      });
    }
    t.dispose();
    model.dispose();
  });

  it.skipIf(!hasTensorboard)('the writer: large steps, many tags, non-finite values left out; GRPO writes them too', async () => {
    const dir = join(tmp, 'tb-writer');
    const w = new TensorBoardWriter(dir);
    w.addScalars(3_000_000_000, { 'objective/kl': 0.25, 'val/num_eos_tokens': 7, bad: NaN }, 1234.5);
    w.addScalars(1, { a: -1.5 });
    const tb = read(dir);
    expect(tb.scalars['objective/kl']).toEqual([[3_000_000_000, 0.25, 1234.5]]);
    expect(tb.scalars['val/num_eos_tokens']![0]!.slice(0, 2)).toEqual([3_000_000_000, 7]);
    expect(tb.scalars.bad).toBeUndefined();
    expect(tb.scalars.a![0]!.slice(0, 2)).toEqual([1, -1.5]);

    const model = GPT.create(small);
    const gdir = join(tmp, 'tb-grpo');
    const gt = new GRPOTrainer({
      model,
      tokenizer: tok,
      prompts: rows,
      rewards: ({ completions }) => completions.map((c) => c.length),
      config: {
        outputDir: gdir,
        batchSize: 4,
        numGenerations: 2,
        maxCompletionLength: 4,
        maxSteps: 2,
        sampleEvery: 0,
        progressBar: false,
        reportTo: ['tensorboard'],
      },
    });
    await gt.train();
    expect(readdirSync(join(gdir, 'runs')).length).toBe(1);
    expect(read(join(gdir, 'runs')).scalars.reward!.length).toBe(2);
    gt.dispose();
    model.dispose();
  });
});
