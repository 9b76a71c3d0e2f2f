// Run-directory hygiene after kills: temporaries of dead processes are cleaned at start (those
// of live ones are not), incomplete checkpoints are neither resumed nor kept, replacing a
// checkpoint never leaves a moment without one (a child process is SIGKILLed between the
// renames), a resumed run's logs hold each step once, and a checkpoint of the older
// trainer_state.json format (globalStep, epoch, epochOffset) resumes exactly.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  torch,
  GPT,
  ActorCritic,
  ByteTokenizer,
  PPOTrainer,
  SFTTrainer,
  listCheckpoints,
  type SFTExample,
  type SFTConfig,
} from '../src/index.js';
import { recoverRunDir } from '../src/trainers/run-dir.js';
import { prepareRunLogs } from '../src/trainers/run-logs.js';
import { tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = tempDir('checkpoints');
const tok = new ByteTokenizer();
const data: SFTExample[] = Array.from({ length: 16 }, (_, i) => ({
  kind: 'prompt-completion',
  prompt: `Q${i % 4}:`,
  completion: ` a${i % 4}`,
}));
const tiny = () => {
  torch.manualSeed(1);
  return GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
};
const config = (dir: string, extra: Partial<SFTConfig> = {}) => ({
  outputDir: dir,
  learningRate: 1e-3,
  batchSize: 4,
  loggingSteps: 1,
  progressBar: false,
  ...extra,
});

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

/** The id of a process that has exited (ids are not reused this quickly). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

const steps = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step as number);
const powerCutAt = (n: number) => (call: number) => {
  if (call === n) throw new Error('power cut');
};

describe('a run directory after kills', () => {
  it('start deletes the temporaries of dead processes, keeps live ones, and never resumes an incomplete checkpoint', async () => {
    const dir = join(tmp, 'stale');
    await train(dir, { maxSteps: 4, saveSteps: 2, saveTotalLimit: 0 });
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([2, 4]);
    const dead = deadPid();
    const live = process.ppid; // the test runner's parent: alive, and not this process
    // What kills leave: a half-written checkpoint folder, an atomic write's temporary file (in
    // the run directory and in a checkpoint), a checkpoint emptied by an interrupted delete, and
    // one whose delete got as far as its weights but not its trainer_state.json.
    mkdirSync(join(dir, `.checkpoint-6.tmp-${dead}`));
    writeFileSync(join(dir, `.checkpoint-6.tmp-${dead}`, 'model.safetensors'), Buffer.alloc(4096));
    writeFileSync(join(dir, `.model.safetensors.${dead}.0123456789ab.tmp`), Buffer.alloc(4096));
    writeFileSync(join(dir, 'checkpoint-2', `.optimizer.safetensors.${dead}.0123456789ab.tmp`), 'x');
    mkdirSync(join(dir, 'checkpoint-9'));
    mkdirSync(join(dir, 'checkpoint-10'));
    writeFileSync(join(dir, 'checkpoint-10', 'trainer_state.json'), readFileSync(join(dir, 'checkpoint-4', 'trainer_state.json')));
    // A live process's save in progress, and its atomic write.
    mkdirSync(join(dir, `.checkpoint-8.tmp-${live}`));
    writeFileSync(join(dir, `.config.json.${live}.0123456789ab.tmp`), 'x');

    const firstLine = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n')[0];
    const r = await train(dir, { maxSteps: 6, saveSteps: 2, saveTotalLimit: 0, resumeFromCheckpoint: true });
    expect(r.globalStep).toBe(6);
    const left = readdirSync(dir)
      .filter((n) => n.startsWith('.') || n.startsWith('checkpoint-'))
      .sort();
    expect(left).toEqual(
      [`.checkpoint-8.tmp-${live}`, `.config.json.${live}.0123456789ab.tmp`, 'checkpoint-2', 'checkpoint-4', 'checkpoint-6'].sort(),
    );
    expect(readdirSync(join(dir, 'checkpoint-2')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    // Resumed from checkpoint-4 (not the incomplete 10, nor from scratch): the first run's lines
    // are still there, time stamps and all.
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n')[0]).toBe(firstLine);
  });

  it('rotation deletes incomplete checkpoint folders too; re-saving the last checkpoint leaves nothing aside', async () => {
    const dir = join(tmp, 'rotate');
    // Made after the start's clean-up: a folder emptied by another run's interrupted delete.
    await train(dir, { maxSteps: 4, saveSteps: 2, saveTotalLimit: 1 }, (call) => call === 1 && mkdirSync(join(dir, 'checkpoint-1')));
    expect(readdirSync(dir).filter((n) => n.startsWith('checkpoint-'))).toEqual(['checkpoint-4']);
    // Resumed at its last step, a run only re-saves checkpoint-4 over the existing one.
    const r = await train(dir, { maxSteps: 4, saveSteps: 2, saveTotalLimit: 1, resumeFromCheckpoint: true });
    expect(r.globalStep).toBe(4);
    expect(readdirSync(dir).filter((n) => n.includes('checkpoint-'))).toEqual(['checkpoint-4']);
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([4]);
  });

  it('re-saving checkpoint-N: a kill between the renames leaves a checkpoint the next start recovers', () => {
    const runDir = join(root, 'dist', 'trainers', 'run-dir.js');
    if (!existsSync(runDir)) throw new Error('dist/ is missing: run npm run build:ts');
    for (const killAt of ['aside', 'installed'] as const) {
      const dir = join(tmp, `resave-${killAt}`);
      const fill = (d: string, text: string) => {
        mkdirSync(d, { recursive: true });
        for (const f of ['model.safetensors', 'optimizer.safetensors', 'trainer_state.json']) writeFileSync(join(d, f), text);
      };
      fill(join(dir, 'checkpoint-5'), 'old');
      // The child writes the successor and replaces checkpoint-5, with saveTotalLimit 1 the only one.
      const child = `
        import { mkdirSync, writeFileSync } from 'node:fs';
        import { join } from 'node:path';
        import { checkpointTempDir, installCheckpoint } from ${JSON.stringify(pathToFileURL(runDir).href)};
        const dir = ${JSON.stringify(join(dir, 'checkpoint-5'))};
        const tmp = checkpointTempDir(dir);
        mkdirSync(tmp);
        for (const f of ['model.safetensors', 'optimizer.safetensors', 'trainer_state.json']) writeFileSync(join(tmp, f), 'new');
        installCheckpoint(tmp, dir, (step) => { if (step === ${JSON.stringify(killAt)}) process.kill(process.pid, 'SIGKILL'); });`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8' });
      expect(r.signal, r.stderr).toBe('SIGKILL');
      recoverRunDir(dir);
      expect(readdirSync(dir)).toEqual(['checkpoint-5']);
      expect(listCheckpoints(dir).map((c) => c.step)).toEqual([5]);
      // Killed before the new one was in place: the old one is back; after: the new one stays.
      expect(readFileSync(join(dir, 'checkpoint-5', 'model.safetensors'), 'utf8')).toBe(killAt === 'aside' ? 'old' : 'new');
    }
  });

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

/**
 * Rewrites a checkpoint's trainer_state.json as checkpoints before the shared run loop wrote it:
 * the step as `globalStep`, the data position as `epoch` / `epochOffset`.
 */
function toOldTrainerState(checkpoint: string): void {
  const file = join(checkpoint, 'trainer_state.json');
  const { step, position, ...rest } = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, JSON.stringify({ globalStep: step, epoch: position.pass, epochOffset: position.offset, ...rest }));
  expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')))).not.toContain('position');
}

/** A run's metrics.jsonl lines without their time stamps. */
const linesOf = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { time: _, ...rest } = JSON.parse(l);
      return rest;
    });
/** The final model's weight files of a run, by name. */
const weightsOf = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((n) => n.endsWith('.safetensors') && !n.includes('checkpoint-'))
      .sort()
      .map((n) => [n, readFileSync(join(dir, n))]),
  );

describe('a checkpoint of the older format (globalStep, epoch, epochOffset)', () => {
  it('SFT: resumes to the weights and losses of an unbroken run', async () => {
    // Checkpoint-5 of 16 examples in batches of 4 is at pass 1, offset 4: both fields of the position matter.
    const full = join(tmp, 'old-sft-full');
    const part = join(tmp, 'old-sft-part');
    await train(full, { maxSteps: 8, saveSteps: 5 });
    await expect(train(part, { maxSteps: 8, saveSteps: 5 }, powerCutAt(7))).rejects.toThrow('power cut');
    const state = JSON.parse(readFileSync(join(part, 'checkpoint-5', 'trainer_state.json'), 'utf8'));
    expect(state.position).toEqual({ pass: 1, offset: 4 });
    toOldTrainerState(join(part, 'checkpoint-5'));
    let calls = 0;
    const r = await train(part, { maxSteps: 8, saveSteps: 5, resumeFromCheckpoint: true }, () => calls++);
    expect(r.globalStep).toBe(8);
    expect(calls).toBe(3); // steps 6 to 8: resumed, not started again
    expect(linesOf(part)).toEqual(linesOf(full));
    expect(weightsOf(part)).toEqual(weightsOf(full));
  });

  it('PPO: globalStep is the iteration and epoch / epochOffset the prompt position; resumes to an unbroken run', async () => {
    const policy = await ppoPolicy();
    const full = join(tmp, 'old-ppo-full');
    const part = join(tmp, 'old-ppo-part');
    // Checkpoint-5 of 16 prompts in batches of 4 is at pass 1, offset 4.
    const options = { numIterations: 6, saveSteps: 5 };
    torch.manualSeed(7);
    await ppoRun(full, policy, options);
    torch.manualSeed(7);
    await expect(ppoRun(part, policy, { ...options, kill: 6 })).rejects.toThrow('power cut');
    const state = JSON.parse(readFileSync(join(part, 'checkpoint-5', 'trainer_state.json'), 'utf8'));
    expect(state.position).toEqual({ pass: 1, offset: 4 });
    toOldTrainerState(join(part, 'checkpoint-5'));
    torch.manualSeed(999); // a different process state: resume must restore it
    const r = await ppoRun(part, policy, { ...options, resume: true });
    expect(r.globalStep).toBe(6);
    expect(r.rollouts).toBe(1); // iteration 6 alone: resumed, not started again
    expect(linesOf(part)).toEqual(linesOf(full));
    expect(weightsOf(part)).toEqual(weightsOf(full));
  });
});

/** The tiny model saved as a PPO starting point (once). */
let policyDir: string | undefined;
async function ppoPolicy(): Promise<string> {
  if (policyDir) return policyDir;
  const dir = join(tmp, 'ppo-policy');
  const base = tiny();
  await base.save(dir);
  await tok.save(dir);
  base.dispose();
  return (policyDir = dir);
}

/** A PPO run from `policy`; its rollout number `kill` throws as a kill would stop the run. Returns its result and the rollouts done. */
async function ppoRun(
  dir: string,
  policy: string,
  options: { numIterations: number; saveSteps: number; kill?: number; resume?: boolean },
): Promise<{ globalStep: number; rollouts: number }> {
  const model = await ActorCritic.fromTrunk(policy);
  const refModel = await GPT.load(policy);
  const t = new PPOTrainer({
    model,
    refModel,
    tokenizer: tok,
    prompts: data.map((d) => ({ prompt: (d as { prompt: string }).prompt })),
    rewardFn: (_, answers) => answers.map((a) => a.length),
    config: {
      outputDir: dir,
      numIterations: options.numIterations,
      batchSize: 4,
      miniBatchSize: 4,
      ppoEpochs: 1,
      maxNewTokens: 3,
      saveSteps: options.saveSteps,
      sampleEvery: 1,
      numSamples: 1,
      progressBar: false,
      resumeFromCheckpoint: options.resume ?? false,
    },
  });
  let calls = 0;
  const rollout = t.rollout.bind(t);
  t.rollout = async () => {
    if (++calls === options.kill) throw new Error('power cut');
    return rollout();
  };
  try {
    const r = await t.train();
    return { globalStep: r.globalStep, rollouts: calls };
  } finally {
    t.dispose();
    model.dispose();
    refModel.dispose();
  }
}

describe('PPO resume', () => {
  it('cuts metrics.jsonl and samples.jsonl back to the checkpoint, so each iteration is logged once', async () => {
    const dir = join(tmp, 'ppo');
    const policy = await ppoPolicy();
    // Killed in iteration 4, after logging iteration 3 beyond its checkpoint-2.
    await expect(ppoRun(dir, policy, { numIterations: 4, saveSteps: 2, kill: 4 })).rejects.toThrow('power cut');
    await ppoRun(dir, policy, { numIterations: 4, saveSteps: 2, resume: true });
    expect(steps(join(dir, 'metrics.jsonl'))).toEqual([1, 2, 3, 4]);
    const samples = readFileSync(join(dir, 'samples.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).iteration);
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
    const lines = [
      '{"iteration":1,"a":1}',
      '{"iteration":2}',
      'not json',
      '{"note":"no step"}',
      '{"iteration":3}',
      '{"iteration":4}',
      '{"iteration":5',
    ];
    writeFileSync(join(dir, 'samples.jsonl'), lines.join('\n'));
    prepareRunLogs(dir, 3, [{ file: 'samples.jsonl', stepKey: 'iteration' }]);
    expect(readFileSync(join(dir, 'samples.jsonl'), 'utf8')).toBe(
      ['{"iteration":1,"a":1}', '{"iteration":2}', 'not json', '{"note":"no step"}', '{"iteration":3}', ''].join('\n'),
    );
    expect(readdirSync(dir)).toEqual(['samples.jsonl']); // rewritten atomically: no temporary left
    prepareRunLogs(dir, null, [{ file: 'samples.jsonl', stepKey: 'iteration' }]);
    expect(existsSync(join(dir, 'samples.jsonl'))).toBe(false);
  });
});
