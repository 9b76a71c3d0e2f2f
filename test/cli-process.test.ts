// What the `rlhf` process does when something goes wrong outside the command's own code: a
// reader that closes the pipe (`| head`), a stdout closed before `generate` writes its answers,
// a reward function that never settles, throws from a timer or leaves a rejection unhandled,
// `rlhf merge --out` pointed at the base, the adapter or a full folder, and a reward's column
// missing from the prompts (checked before any model loads). Each ends in one line and the
// right exit code, never a raw stack trace or a silent exit 0 with the work undone.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ByteTokenizer, GPT, GRPOTrainer, applyLora, exactMatch, saveAdapter, torch } from '../src/index.js';
import { tempDir, words } from './helpers.js';
import { CLI, expectOneLineError, rlhfIn, type CliResult } from './cli-helpers.js';

const tmp = tempDir('cli-process');
const at = (name: string) => join(tmp, name);
const rlhf = rlhfIn(tmp, { timeoutMs: 300_000 });

/**
 * `rlhf …` whose stdout reader goes away: at once (before the command writes), or after the first
 * `afterLines` lines, as `| head -n afterLines` does.
 */
function withClosingReader(args: string[], afterLines = 0): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8');
    if (afterLines === 0) child.stdout.destroy();
    else
      child.stdout.on('data', (d: string) => {
        out += d;
        if (out.split('\n').length > afterLines) child.stdout.destroy();
      });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** A run that fails after its start-up lines: a non-zero exit, its last stderr line the error, no stack trace. */
function expectFailureLine(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.err).not.toBe(0);
  expect(r.err.trim().split('\n').pop()).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /);
}

const quick = words('--max-steps 1 --batch-size 4 --num-generations 2 --max-completion-length 4 --progress-bar false');

beforeAll(async () => {
  writeFileSync(at('prompts.jsonl'), Array.from({ length: 4 }, (_, i) => JSON.stringify({ prompt: `Q${i}:`, answer: `${i}` })).join('\n'));
  writeFileSync(at('sft.jsonl'), Array.from({ length: 4 }, (_, i) => JSON.stringify({ prompt: `Q${i}:`, completion: ` ${i}` })).join('\n'));
  writeFileSync(
    at('rewards.mjs'),
    [
      'export function stuck() { return new Promise(() => {}); }',
      "export function lateThrow(inputs) { setTimeout(() => { throw new Error('late boom'); }, 0); return inputs.prompts.map(() => 1); }",
      "export function leaky(inputs) { Promise.reject(new Error('leaked')); return inputs.prompts.map(() => 1); }",
    ].join('\n'),
  );
  // A base model directory with its tokenizer, and a LoRA adapter that names it.
  torch.manualSeed(0);
  const tok = new ByteTokenizer();
  const base = GPT.create({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16 });
  await base.save(at('base'));
  await tok.save(at('base'));
  applyLora(base, { r: 2, targetModules: ['c_attn'] }, { baseModelNameOrPath: at('base') });
  await saveAdapter(base, at('adapter'), 'CAUSAL_LM');
  base.dispose();
});

describe('a closed stdout', () => {
  it('`rlhf dpo --help | head` ends quietly with exit 0', async () => {
    const r = await withClosingReader(['dpo', '--help']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('`rlhf generate … | head -n 1` ends quietly after the first answers; a reader gone before any is an error', async () => {
    const prompts = ['A', 'B', 'C', 'D', 'E', 'F'];
    const args = ['generate', '--model', 'base', '--max-new-tokens', '2', '--batch-size', '1', ...prompts];
    const head = await withClosingReader(args, 1);
    expect(head.err).toBe('');
    expect(head.code).toBe(0);
    expect(JSON.parse(head.out.split('\n')[0]!)).toMatchObject({ prompt: 'A' });
    const gone = await withClosingReader(args);
    expectOneLineError(gone, /^rlhf: generate: stdout was closed before any answer was written, so the answers are lost \(give --out/);
  });

  it('`rlhf generate … >&-` refuses to lose its answers; --out still works', () => {
    const run = (extra: string) =>
      spawnSync('bash', ['-c', `exec "${process.execPath}" "${CLI}" generate --model base --max-new-tokens 2 Q1: ${extra} >&-`], {
        cwd: tmp,
        encoding: 'utf8',
      });
    const r = run('');
    expectOneLineError({ code: r.status, out: r.stdout, err: r.stderr }, /^rlhf: stdout is closed, so the answers would be lost/);
    const ok = run('--out answers.jsonl');
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(readFileSync(at('answers.jsonl'), 'utf8'))).toMatchObject({ prompt: 'Q1:' });
    // A shell's > /dev/null is the user's choice, not a closed stdout.
    const devNull = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" generate --model base --max-new-tokens 2 Q1: > /dev/null`], {
      cwd: tmp,
      encoding: 'utf8',
    });
    expect(devNull.status, devNull.stderr).toBe(0);
  });
});

describe('reward functions that misbehave', () => {
  const grpo = (...args: string[]) => rlhf('grpo', '--model', 'tiny', '--prompts', 'prompts.jsonl', ...quick, ...args);

  it('one that never settles fails the run after rewardTimeout, naming it', () => {
    const r = grpo('--out', 'stuck', '--reward-fn', './rewards.mjs#stuck', '--reward-timeout', '1');
    expectFailureLine(r, /^rlhf: reward function 'stuck' did not return its scores within 1 s \(rewardTimeout/);
    expect(existsSync(at('stuck/model.safetensors'))).toBe(false);
  });

  it('with no timeout, an event loop that drains with the reward pending is a non-zero exit that names it', () => {
    const r = grpo('--out', 'stuck0', '--reward-fn', './rewards.mjs#stuck', '--reward-timeout', '0');
    expectFailureLine(r, /^rlhf: reward function 'stuck' never returned its scores and nothing else was left to run/);
  });

  it('an error thrown from its timer or left unhandled is one line naming it', () => {
    expectFailureLine(
      grpo('--out', 'late', '--reward-fn', './rewards.mjs#lateThrow'),
      /^rlhf: reward function 'lateThrow' failed: late boom$/,
    );
    expectFailureLine(grpo('--out', 'leaky', '--reward-fn', './rewards.mjs#leaky'), /^rlhf: reward function 'leaky' failed: leaked$/);
  });

  it('GRPOTrainer.train() rejects when a reward never settles, within rewardTimeout', async () => {
    torch.manualSeed(0);
    const tokenizer = new ByteTokenizer();
    const model = GPT.create({ vocabSize: tokenizer.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
    const stuck = Object.assign(() => new Promise<number[]>(() => {}), { rewardName: 'judge' });
    const t = new GRPOTrainer({
      model,
      tokenizer,
      prompts: [{ prompt: 'Q:' }, { prompt: 'R:' }],
      rewards: stuck,
      config: { outputDir: at('lib-stuck'), maxSteps: 1, batchSize: 4, numGenerations: 2, maxCompletionLength: 4, rewardTimeout: 0.5 },
    });
    try {
      await expect(t.train()).rejects.toThrow(/reward function 'judge' did not return its scores within 0.5 s/);
    } finally {
      t.dispose();
      model.dispose();
    }
  });
});

describe('checked before anything loads', () => {
  it('exact-match:COLUMN with a column the prompts lack fails before the model is read', () => {
    // --model names no directory: the reward's column is checked first.
    expectOneLineError(
      rlhf('grpo', '--model', 'no-such-model', '--prompts', 'prompts.jsonl', '--out', 'g', '--reward', 'exact-match:answr'),
      /^rlhf: reward 'exact_match' reads the column 'answr', which no row of --prompts has \(columns: answer\)$/,
    );
    const tokenizer = new ByteTokenizer();
    const model = GPT.create({ vocabSize: tokenizer.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
    expect(
      () =>
        new GRPOTrainer({
          model,
          tokenizer,
          prompts: [{ prompt: 'Q:', answer: '1' }],
          rewards: exactMatch({ column: 'answr' }),
          config: { outputDir: at('lib-col'), batchSize: 2, numGenerations: 2 },
        }),
    ).toThrow(/reward 'exact_match' reads the column 'answr', which no row of GRPOTrainer prompts has \(columns: answer\)/);
    model.dispose();
  });

  it('rlhf merge refuses an --out that is the base, the adapter or a non-empty folder (symlinks resolved)', () => {
    const before = readFileSync(at('base/model.safetensors'));
    const merge = (out: string) => rlhf('merge', '--model', 'adapter', '--out', out);
    expectOneLineError(merge('base'), /--out base is the base model's directory: merging there would overwrite the base/);
    expectOneLineError(merge(at('base/')), /is the base model's directory/);
    symlinkSync(at('base'), at('base-link'));
    expectOneLineError(merge('base-link'), /--out base-link is the base model's directory/);
    expectOneLineError(merge('./adapter'), /--out \.\/adapter is the adapter's directory: the merged model would be mixed into it/);
    mkdirSync(at('full'));
    writeFileSync(at('full/notes.txt'), 'mine');
    expectOneLineError(merge('full'), /--out full is not empty: the merged model goes to a new or empty directory/);
    expectOneLineError(merge('prompts.jsonl'), /--out prompts\.jsonl is a file, not a directory/);
    expect(readFileSync(at('base/model.safetensors')).equals(before)).toBe(true);
    mkdirSync(at('empty'));
    for (const out of ['empty', 'new/merged']) {
      const r = merge(out);
      expect(r.code, r.err).toBe(0);
      expect(existsSync(at(`${out}/model.safetensors`))).toBe(true);
    }
  });
});
