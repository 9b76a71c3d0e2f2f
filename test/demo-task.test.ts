// The demo task: the simulated labeler's scores checked by hand, and the seeded generator
// (determinism, sizes, short texts, noisy but mostly faithful rankings, mixed-quality
// demonstrations, held-out eval names) and its committed files (valid through the real loaders,
// byte-identical to what the generator and scripts/make-demo-data.mjs produce now).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPreferenceDataset, loadPromptDataset, loadSFTDataset } from '../src/data/index.js';
import { describeLabeler, labelerBreakdown, labelerScore } from '../src/demo/labeler.js';
import {
  DEMO_HELD_OUT_PROMPTS,
  DEMO_MAX_ANSWER_BYTES,
  DEMO_TRAIN_NAMES,
  demoTaskFiles,
  makeDemoTask,
  type DemoTask,
} from '../src/demo/task.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dataDir = join(root, 'data', 'demo');
const FILES = ['sft.jsonl', 'preferences.jsonl', 'prompts.jsonl', 'eval_prompts.jsonl'] as const;
const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

let task: DemoTask;
let tmp: string;
beforeAll(() => {
  task = makeDemoTask(1234);
  tmp = mkdtempSync(join(tmpdir(), 'torch-rlhf-demo-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('labeler', () => {
  it('gives the hand-computed scores', () => {
    // All six credits: 0.25 + 0.25 + 0.2 + 0.1 + 0.1 + 0.1.
    expect(labelerScore('Greet Ann:', ' Hi Ann, great!')).toBe(1);
    // 19 bytes: brevity (32 - 19) / 16 = 0.8125, so 0.9 + 0.1 * 0.8125.
    expect(labelerScore('Greet Ann:', ' Hello Ann, so kind!')).toBeCloseTo(0.98125, 10);
    // No friendly word, "." is 0.7 of the ending: 0.25 + 0.25 + 0.07 + 0.1 + 0.1.
    expect(labelerScore('Greet Ann:', ' Hi Ann.')).toBeCloseTo(0.77, 10);
    // Another request's opener (0.4), no friendly word, no ending: 0.1 + 0.25 + 0.1 + 0.1.
    expect(labelerScore('Greet Ann:', ' Thanks Ann, ok')).toBeCloseTo(0.55, 10);
    // Name in the wrong case (0.125), "..." (0.03), brevity, vocabulary, one rude word (-0.3).
    expect(labelerScore('Greet Ann:', ' ann, meh...')).toBeCloseTo(0.055, 10);
    // A repeat costs 0.15; 20 bytes costs 0.025 of brevity.
    expect(labelerScore('Greet Ann:', 'Hi Ann, great great!')).toBeCloseTo(0.825, 10);
    // Clamped at 0.
    expect(labelerScore('Greet Ann:', ' ugh ugh')).toBe(0);
  });

  it('ranks good above mediocre above bad, within [0, 1]', () => {
    const p = 'Thank Bob:';
    const good = labelerScore(p, ' Thanks Bob, so kind!');
    const mediocre = labelerScore(p, ' Hi bob, fine.');
    const bad = labelerScore(p, ' Bob, you are lazy!!!');
    expect(good).toBeGreaterThan(mediocre);
    expect(mediocre).toBeGreaterThan(bad);
    for (const s of [good, mediocre, bad]) {
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
    }
    // Every rule moves the score on its own.
    expect(labelerScore('Thank Cy:', ' Thanks Cy, nice!')).toBe(1);
    for (const worse of [
      ' Hey Cy, nice!',
      ' Thanks Jo, nice!',
      ' Thanks cy, nice!',
      ' Thanks Cy, ok!',
      ' Thanks Cy, nice',
      ' Thanks Cy, nice, very very nice!',
      ' Thanks Cy, nice zq!',
      ' Thanks Cy, dumb!',
    ])
      expect(labelerScore('Thank Cy:', worse), worse).toBeLessThan(1);
  });

  it('is deterministic and stays in [0, 1] on odd input', () => {
    for (const a of ['', '   ', '!!!!!!!!', 'ugh '.repeat(20), 'great '.repeat(20), '\u00e9\u00e9\u00e9', ' Hi Ann, great!'.repeat(5)]) {
      const s = labelerScore('Greet Ann:', a);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
      expect(labelerScore('Greet Ann:', a)).toBe(s);
    }
    // An unparseable prompt earns no opener or name credit.
    const b = labelerBreakdown('say hi to Ann', ' Hi Ann, great!');
    expect([b.opener, b.name]).toEqual([0.4, 0]);
  });

  it('describes itself in one paragraph', () => {
    const d = describeLabeler();
    expect(d).not.toContain('\n');
    for (const word of ['name', 'friendly', 'rude', 'brevity', '"!"']) expect(d).toContain(word);
  });
});

describe('makeDemoTask', () => {
  it('is deterministic per seed', () => {
    expect(makeDemoTask(1234)).toEqual(task);
    expect(makeDemoTask(99)).not.toEqual(task);
  });

  it('has the default and requested sizes, K answers per ranking, short texts', () => {
    expect([task.sft.length, task.preferences.length, task.prompts.length, task.evalPrompts.length]).toEqual([
      600,
      1200,
      200,
      DEMO_HELD_OUT_PROMPTS,
    ]);
    const small = makeDemoTask(7, { sft: 5, preferences: 3, prompts: 2, k: 3 });
    expect([small.sft.length, small.preferences.length, small.prompts.length]).toEqual([5, 3, 2]);
    expect(small.preferences.every((p) => p.completions.length === 3)).toBe(true);
    expect(() => makeDemoTask(1, { prompts: 241 })).toThrow(/at most 200/);
    expect(() => makeDemoTask(1, { sft: 0 })).toThrow(/sizes.sft/);
    expect(() => makeDemoTask(1, { k: 1 })).toThrow(/sizes.k/);

    for (const p of task.preferences) {
      expect(p.completions).toHaveLength(4);
      expect(new Set(p.completions).size).toBe(4);
    }
    const prompts = [...task.sft, ...task.preferences, ...task.prompts, ...task.evalPrompts].map((e) => e.prompt);
    const answers = [...task.sft.map((e) => e.completion), ...task.preferences.flatMap((p) => p.completions)];
    expect(Math.max(...prompts.map(bytes))).toBeLessThanOrEqual(24);
    expect(Math.max(...answers.map(bytes))).toBeLessThanOrEqual(DEMO_MAX_ANSWER_BYTES);
    expect(new Set(task.prompts.map((p) => p.prompt)).size).toBe(task.prompts.length);
  });

  it('ranks mostly (not always) as the labeler does', () => {
    let agree = 0;
    let pairs = 0;
    let firstSum = 0;
    let lastSum = 0;
    for (const p of task.preferences) {
      const s = p.completions.map((c) => labelerScore(p.prompt, c));
      for (let i = 0; i < s.length; i++)
        for (let j = i + 1; j < s.length; j++) {
          pairs++;
          if ((s[i] as number) > (s[j] as number)) agree++;
        }
      firstSum += s[0] as number;
      lastSum += s.at(-1) as number;
    }
    const rate = agree / pairs;
    expect(rate).toBeGreaterThanOrEqual(0.8);
    expect(rate).toBeLessThan(1); // label noise exists
    // Answers of varied quality: the best are clearly better than the worst.
    expect(firstSum / task.preferences.length - lastSum / task.preferences.length).toBeGreaterThan(0.4);
  });

  it('has demonstrations of mixed quality', () => {
    const s = task.sft.map((e) => labelerScore(e.prompt, e.completion));
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    const sd = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / s.length);
    expect(mean).toBeGreaterThan(0.5); // mostly decent…
    expect(mean).toBeLessThan(0.85); // …but well below the best possible, 1
    expect(sd).toBeGreaterThan(0.15);
    expect(s.filter((x) => x >= 0.95).length).toBeGreaterThan(60);
    expect(s.filter((x) => x < 0.4).length).toBeGreaterThan(30);
  });

  it('holds out the eval prompts: they appear in no training file, their names are familiar', () => {
    const training = [...task.sft, ...task.preferences, ...task.prompts].map((e) => e.prompt);
    const trainingSet = new Set(training);
    expect(new Set(task.evalPrompts.map((e) => e.prompt)).size).toBe(DEMO_HELD_OUT_PROMPTS);
    expect(task.evalPrompts.some((e) => trainingSet.has(e.prompt))).toBe(false);
    for (const e of task.evalPrompts) expect(DEMO_TRAIN_NAMES).toContain(/ (\w+):$/.exec(e.prompt)?.[1]);
  });
});

describe('committed data/demo files', () => {
  it('load through the real loaders with nothing skipped', async () => {
    const sft = await loadSFTDataset(join(dataDir, 'sft.jsonl'));
    const prefs = await loadPreferenceDataset(join(dataDir, 'preferences.jsonl'));
    const prompts = await loadPromptDataset(join(dataDir, 'prompts.jsonl'));
    const evalPrompts = await loadPromptDataset(join(dataDir, 'eval_prompts.jsonl'));
    expect([sft.skipped, prefs.skipped, prompts.skipped, evalPrompts.skipped]).toEqual([[], [], [], []]);
    expect(sft.examples.map((e) => (e.kind === 'prompt-completion' ? { prompt: e.prompt, completion: e.completion } : e))).toEqual(
      task.sft,
    );
    expect(prefs.examples).toEqual(task.preferences);
    expect(prompts.examples).toEqual(task.prompts);
    expect(evalPrompts.examples).toEqual(task.evalPrompts);
    const total = FILES.reduce((n, f) => n + statSync(join(dataDir, f)).size, 0);
    expect(total).toBeLessThan(300 * 1024);
  });

  it('equal what the generator produces now', () => {
    const files = demoTaskFiles(makeDemoTask(1234));
    for (const f of FILES) expect(readFileSync(join(dataDir, f), 'utf8'), f).toBe(files[f]);
  });

  it('equal what scripts/make-demo-data.mjs writes (twice, byte for byte)', () => {
    if (!existsSync(join(root, 'dist', 'demo', 'task.js'))) throw new Error('dist/ is missing: run npm run build:ts');
    for (const run of ['a', 'b']) {
      const out = join(tmp, run);
      const r = spawnSync(process.execPath, [join(root, 'scripts', 'make-demo-data.mjs'), out], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      for (const f of FILES) expect(readFileSync(join(out, f)).equals(readFileSync(join(dataDir, f))), `${run}/${f}`).toBe(true);
    }
  });
});
