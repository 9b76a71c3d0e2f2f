// The arithmetic task (src/demo/arithmetic.ts): the seeded generator (determinism, sizes, right
// answers in the requested formats, a little noise in the demonstrations and most of them in the
// plain format, preference pairs that differ in the format only, held-out prompts in no training
// file), the accuracy, format and score helpers on hand-made cases, and the
// committed data/arith files (valid through the real loaders, byte-identical to what the
// generator and scripts/make-arith-data.mjs produce now).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPreferenceDataset, loadPromptDataset, loadSFTDataset } from '../src/data/index.js';
import { mulberry32 } from '../src/data/random.js';
import { ByteTokenizer } from '../src/tokenizers/byte-tokenizer.js';
import { resolveSFTConfig } from '../src/trainers/sft-config.js';
import {
  arithmeticAccuracy,
  arithmeticFormatReward,
  arithmeticScores,
  formatAnswer,
  arithmeticPrompt,
  arithmeticReward,
  arithmeticTaskFiles,
  ARITHMETIC_SFT_PLAN,
  makeArithmeticTask,
  solveArithmetic,
  wrongAnswer,
  type ArithmeticTask,
} from '../src/demo/arithmetic.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dataDir = join(root, 'data', 'arith');
const FILES = ['sft.jsonl', 'prompts.jsonl', 'eval.jsonl', 'prefs.jsonl'] as const;

/** The answer of a prompt, worked out here from its text. */
function solve(prompt: string): number {
  const m = /^What is (\d{1,2})([+-])(\d{1,2})\? Answer as (n|n!|n\?)$/.exec(prompt);
  if (!m) throw new Error(`not an arithmetic prompt: ${prompt}`);
  return m[2] === '+' ? Number(m[1]) + Number(m[3]) : Number(m[1]) - Number(m[3]);
}

/** The answer as the prompt asks for it: "n!" → "42!". */
function requested(prompt: string): string {
  const request = prompt.slice(prompt.lastIndexOf(' ') + 1);
  return request.replace('n', String(solve(prompt)));
}
const formatName = (prompt: string): string => ({ n: 'plain', 'n!': 'bang', 'n?': 'query' })[prompt.slice(prompt.lastIndexOf(' ') + 1)]!;
const digits = (t: string): string => t.replace(/\D/g, '');

let task: ArithmeticTask;
let tmp: string;
beforeAll(() => {
  task = makeArithmeticTask(1234);
  tmp = mkdtempSync(join(tmpdir(), 'torch-rlhf-arith-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('makeArithmeticTask', () => {
  it('is deterministic per seed and has the default and requested sizes', () => {
    expect(makeArithmeticTask(1234)).toEqual(task);
    expect(makeArithmeticTask(99)).not.toEqual(task);
    expect([task.sft.length, task.prompts.length, task.eval.length, task.preferences.length]).toEqual([4000, 1000, 200, 1000]);
    const small = makeArithmeticTask(7, { sft: 5, prompts: 3, eval: 2, preferences: 4 });
    expect([small.sft.length, small.prompts.length, small.eval.length, small.preferences.length]).toEqual([5, 3, 2, 4]);
    expect(() => makeArithmeticTask(1, { sft: 0 })).toThrow('makeArithmeticTask: sizes.sft must be an integer ≥ 1, got 0');
    expect(() => makeArithmeticTask(1, { noise: 1.5 })).toThrow('sizes.noise must be in [0, 1]');
    expect(() => makeArithmeticTask(1, { eval: 5000, prompts: 5001 })).toThrow('at most 10000 distinct problems');
  });

  it('writes prompts of 1–2 digit sums and differences with the right answers in the requested formats', () => {
    const rows = [...task.prompts, ...task.eval];
    for (const r of rows) {
      expect(r.answer, r.prompt).toBe(requested(r.prompt));
      expect(r.format, r.prompt).toBe(formatName(r.prompt));
    }
    for (const f of ['plain', 'bang', 'query']) expect(rows.filter((r) => r.format === f).length / rows.length, f).toBeGreaterThan(0.25);
    for (const p of task.preferences) expect(p.chosen, p.prompt).toBe(` ${requested(p.prompt)}`);
    const all = [...rows, ...task.sft, ...task.preferences].map((r) => solve(r.prompt));
    expect(Math.min(...all)).toBeGreaterThanOrEqual(0);
    // Both operations and both operand sizes occur.
    const prompts = rows.map((r) => r.prompt);
    expect(prompts.some((p) => p.includes('+'))).toBe(true);
    expect(prompts.some((p) => p.includes('-'))).toBe(true);
    expect(prompts.some((p) => /\b\d\+\d\?/.test(p))).toBe(true);
    expect(prompts.some((p) => /\d\d[+-]\d\d\?/.test(p))).toBe(true);
    expect(arithmeticPrompt({ a: 17, b: 25, op: '+', format: 'bang' })).toBe('What is 17+25? Answer as n!');
    expect([formatAnswer(42, 'plain'), formatAnswer(42, 'bang'), formatAnswer(42, 'query')]).toEqual(['42', '42!', '42?']);
    expect(new Set(task.prompts.map((r) => r.prompt)).size).toBe(task.prompts.length);
    expect(new Set(task.eval.map((r) => r.prompt)).size).toBe(task.eval.length);
  });

  it('has mostly right demonstrations (about 10 % noise), mostly in the plain format whatever was asked', () => {
    const wrong = task.sft.filter((e) => digits(e.completion) !== String(solve(e.prompt)));
    expect(wrong.length / task.sft.length).toBeGreaterThan(0.07);
    expect(wrong.length / task.sft.length).toBeLessThan(0.13);
    for (const e of task.sft) expect(e.completion).toMatch(/^ \d+[!?]?$/);
    // Plain requests are answered plainly; about 30 % of the others in the requested format, the rest plainly.
    const asks = (e: { prompt: string }) => formatName(e.prompt);
    expect(task.sft.filter((e) => asks(e) === 'plain').every((e) => /^ \d+$/.test(e.completion))).toBe(true);
    const formatted = task.sft.filter((e) => asks(e) !== 'plain');
    const followed = formatted.filter((e) => e.completion.replace(/\d+/, 'n') === ` ${e.prompt.slice(e.prompt.lastIndexOf(' ') + 1)}`);
    expect(followed.length / formatted.length).toBeGreaterThan(0.25);
    expect(followed.length / formatted.length).toBeLessThan(0.35);
    expect(formatted.filter((e) => !followed.includes(e)).every((e) => /^ \d+$/.test(e.completion))).toBe(true);
    const exact = makeArithmeticTask(1234, { noise: 0, follow: 1 });
    expect(exact.sft.every((e) => e.completion === ` ${requested(e.prompt)}`)).toBe(true);
    expect(() => makeArithmeticTask(1, { follow: -0.1 })).toThrow('sizes.follow must be in [0, 1]');
  });

  it('prefers the right answer in the requested format over the same answer in another format', () => {
    for (const p of task.preferences) {
      expect(p.rejected).toMatch(/^ \d+[!?]?$/);
      expect(p.rejected).not.toBe(p.chosen);
      expect(digits(p.rejected)).toBe(String(solve(p.prompt)));
    }
  });

  it("makes plausible wrong answers for the demonstrations' noise", () => {
    // A dropped carry, an off-by-one or -ten, or the other operation, by hand:
    const rng = mulberry32(5);
    const seen = new Set(Array.from({ length: 200 }, () => wrongAnswer({ a: 17, b: 25, op: '+' }, rng)));
    expect([...seen].sort((a, b) => a - b)).toEqual([8, 32, 41, 43, 52]);
    const diff = new Set(Array.from({ length: 200 }, () => wrongAnswer({ a: 42, b: 17, op: '-' }, rng)));
    expect([...diff].sort((a, b) => a - b)).toEqual([15, 24, 26, 35, 59]);
    // Never negative: 0 - 0 has no "-1" answer.
    expect(Array.from({ length: 50 }, () => wrongAnswer({ a: 0, b: 0, op: '-' }, rng)).every((n) => n > 0)).toBe(true);
  });

  it('holds out the eval prompts: they appear in no training file', () => {
    const training = new Set([...task.sft, ...task.prompts, ...task.preferences].map((e) => e.prompt));
    expect(task.eval.filter((e) => training.has(e.prompt))).toEqual([]);
    const small = makeArithmeticTask(3, { sft: 3000, prompts: 2000, eval: 500, preferences: 500 });
    const smallTraining = new Set([...small.sft, ...small.prompts, ...small.preferences].map((e) => e.prompt));
    expect(small.eval.filter((e) => smallTraining.has(e.prompt))).toEqual([]);
  });
});

describe('arithmeticAccuracy', () => {
  it('scores hand-made cases by exact match of the trimmed completion', () => {
    const prompts = ['What is 17+25? Answer as n', 'What is 9-3? Answer as n', 'What is 5+5? Answer as n', 'What is 40-1? Answer as n'];
    expect(arithmeticAccuracy(prompts, [' 42', ' 6', ' 10', ' 39'], ['42', '6', '10', '39'])).toBe(1);
    expect(arithmeticAccuracy(prompts, [' 42', ' 7', ' 10 What', '3 9'], ['42', '6', '10', '39'])).toBe(0.25);
    // Numbers compare as numbers: '39.' and '039' are 39.
    expect(arithmeticAccuracy(prompts, [' 42.0', ' 6', ' 010', '39.'], ['42', '6', '10', '39'])).toBe(1);
    expect(arithmeticAccuracy(prompts, [' 42', '6 ', ' 1', ' 38'], [42, 6, 10, 39])).toBe(0.5);
    // Rows without an answer are not counted.
    expect(arithmeticAccuracy(prompts.slice(0, 2), [' 42', ' 5'], ['42', ''])).toBe(1);
    expect(() => arithmeticAccuracy(prompts, [' 42'], ['42'])).toThrow('arithmeticAccuracy: got 4 prompts, 1 completions and 1 answers');
    expect(() => arithmeticAccuracy(['What is 1+1? Answer as n'], [' 2'], [''])).toThrow('no completion has an answer');
    // A requested format is part of the answer.
    expect(arithmeticAccuracy(prompts.slice(0, 3), [' 42!', ' 6', '10? '], ['42!', '6?', '10?'])).toBeCloseTo(2 / 3, 12);
  });

  it('is exactMatch on the answer column, as GRPO and RLOO are rewarded', () => {
    const rows = task.eval.slice(0, 3);
    const scores = arithmeticReward({
      prompts: rows.map((r) => r.prompt),
      completions: [` ${rows[0]!.answer}`, ' -1', rows[2]!.answer],
      completionIds: [[], [], []],
      answer: rows.map((r) => r.answer),
    });
    expect(scores).toEqual([1, 0, 1]);
    expect(arithmeticReward.rewardName).toBe('exact_match');
    expect(arithmeticPrompt({ a: 17, b: 25, op: '+' })).toBe('What is 17+25? Answer as n');
    expect(solveArithmetic({ a: 42, b: 17, op: '-' })).toBe(25);
  });

  it('has a format reward that ignores the number, and scores that split accuracy into format and number', () => {
    const rows = [
      { prompt: 'What is 17+25? Answer as n!', answer: '42!', format: 'bang' as const },
      { prompt: 'What is 9-3? Answer as n?', answer: '6?', format: 'query' as const },
      { prompt: 'What is 5+5? Answer as n', answer: '10', format: 'plain' as const },
      { prompt: 'What is 40-1? Answer as n!', answer: '39!', format: 'bang' as const },
    ];
    const completions = [' 41!', ' 6', ' 10', ' 39!'];
    const inputs = {
      prompts: rows.map((r) => r.prompt),
      completions,
      completionIds: completions.map(() => []),
      format: rows.map((r) => r.format),
    };
    expect(arithmeticFormatReward(inputs)).toEqual([1, 0, 1, 1]);
    expect(arithmeticFormatReward({ ...inputs, format: ['bang', null, '', 'query'] })).toEqual([1, null, null, 0]);
    expect(() => arithmeticFormatReward({ ...inputs, format: ['bold', 'query', 'plain', 'bang'] })).toThrow(
      "sample 0: column 'format' must be one of plain, bang, query",
    );
    expect(() => arithmeticFormatReward({ prompts: [], completions: [], completionIds: [] })).toThrow("no 'format' column");
    expect(arithmeticFormatReward.rewardName).toBe('format');
    expect(arithmeticScores(completions, rows)).toEqual({ accuracy: 0.5, formatRate: 0.75, numberAccuracy: 0.75 });
    expect(() => arithmeticScores([], [])).toThrow('arithmeticScores: got 0 completions for 0 rows');
  });
});

describe('ARITHMETIC_SFT_PLAN', () => {
  it('is a valid SFTConfig whose model and generation budget fit every example', () => {
    const { model, sft, maxNewTokens } = ARITHMETIC_SFT_PLAN;
    expect(() => resolveSFTConfig({ ...sft, outputDir: 'x' }, model.blockSize)).not.toThrow();
    const tok = new ByteTokenizer();
    const examples = [...task.sft, ...task.preferences.map((p) => ({ prompt: p.prompt, completion: p.rejected }))];
    // The prompt (with BOS) and the answer with its EOS fit in blockSize; greedy evaluation can write the longest answer and its EOS.
    const longest = Math.max(
      ...examples.map((e) => tok.encode(e.prompt, { addSpecialTokens: true }).length + tok.encode(e.completion).length + 1),
    );
    expect(longest).toBeLessThanOrEqual(model.blockSize);
    expect(Math.max(...examples.map((e) => tok.encode(e.completion).length + 1))).toBeLessThanOrEqual(maxNewTokens);
  });
});

describe('committed data/arith files', () => {
  it('load through the real loaders with nothing skipped, the answer as a column', async () => {
    const sft = await loadSFTDataset(join(dataDir, 'sft.jsonl'));
    const prefs = await loadPreferenceDataset(join(dataDir, 'prefs.jsonl'));
    const prompts = await loadPromptDataset(join(dataDir, 'prompts.jsonl'));
    const evalPrompts = await loadPromptDataset(join(dataDir, 'eval.jsonl'));
    expect([sft.skipped, prefs.skipped, prompts.skipped, evalPrompts.skipped]).toEqual([[], [], [], []]);
    expect(sft.examples).toEqual(task.sft.map((e) => ({ kind: 'prompt-completion', ...e })));
    expect(prefs.examples).toEqual(task.preferences.map((p) => ({ prompt: p.prompt, completions: [p.chosen, p.rejected] })));
    // The answer reaches the reward functions as a column of the prompt rows.
    const withColumn = (rows: { prompt: string; answer: string; format: string }[]) =>
      rows.map(({ prompt, answer, format }) => ({ prompt, columns: { answer, format } }));
    expect(prompts.examples).toEqual(withColumn(task.prompts));
    expect(evalPrompts.examples).toEqual(withColumn(task.eval));
    const total = FILES.reduce((n, f) => n + statSync(join(dataDir, f)).size, 0);
    expect(total).toBeLessThan(400 * 1024);
  });

  it('equal what the generator produces now', () => {
    const files = arithmeticTaskFiles(makeArithmeticTask(1234));
    for (const f of FILES) expect(readFileSync(join(dataDir, f), 'utf8'), f).toBe(files[f]);
  });

  it('equal what scripts/make-arith-data.mjs writes (twice, byte for byte)', () => {
    if (!existsSync(join(root, 'dist', 'demo', 'arithmetic.js'))) throw new Error('dist/ is missing: run npm run build:ts');
    for (const run of ['a', 'b']) {
      const out = join(tmp, run);
      const r = spawnSync(process.execPath, [join(root, 'scripts', 'make-arith-data.mjs'), out], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      for (const f of FILES) expect(readFileSync(join(out, f)).equals(readFileSync(join(dataDir, f))), `${run}/${f}`).toBe(true);
    }
  });
});
