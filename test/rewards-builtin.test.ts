// The built-in rewards (src/rewards/builtin.ts) on hand-made batches: exact match (extraction,
// normalization, numbers as numbers, null for rows without an answer), the anchored format
// check, the soft length penalty, their option errors, and picking them by spec string
// (src/rewards/builtin-spec.ts), with errors that name the spec.
import { describe, expect, it } from 'vitest';
import { exactMatch, formatMatch, lengthPenalty } from '../src/rewards/builtin.js';
import { BUILTIN_REWARDS, builtinReward } from '../src/rewards/builtin-spec.js';
import { rewardName, type RewardInputs } from '../src/rewards/types.js';

/** A batch of completions (token ids: one per character) with extra columns. */
function batch(completions: string[], columns: Record<string, unknown[]> = {}): RewardInputs {
  return {
    prompts: completions.map(() => 'Q?'),
    completions,
    completionIds: completions.map((c) => Array.from(c, (_, i) => i)),
    ...columns,
  };
}

describe('exactMatch', () => {
  it('compares the trimmed completion with the column, numbers as numbers', () => {
    const r = exactMatch();
    expect(r(batch([' 42', '42 ', '41', ' 42.0', '042', 'forty-two'], { answer: ['42', 42, '42', '42', 42, '42'] }))).toEqual([
      1, 1, 0, 1, 1, 0,
    ]);
    // Strings compare as strings: case and inner spaces matter without a normalize.
    expect(r(batch(['Paris', 'paris', 'New  York'], { answer: ['Paris', 'Paris', 'New York'] }))).toEqual([1, 0, 0]);
    expect(rewardName(r, 0)).toBe('exact_match');
  });

  it('gives null for rows without an answer, and fails on a missing column or a bad value', () => {
    const r = exactMatch();
    expect(r(batch(['1', '2', '3', '4'], { answer: [undefined, null, '', '4'] }))).toEqual([null, null, null, 1]);
    expect(() => r(batch(['1'], { label: ['1'] }))).toThrow("exactMatch: the prompt rows have no 'answer' column (columns: label)");
    expect(() => r(batch(['1'], { answer: [{ x: 1 }] }))).toThrow(/sample 0: column 'answer' must hold a string or a finite number/);
  });

  it('reads another column, extracts with a RegExp or a function, and normalizes both sides', () => {
    const boxed = exactMatch({ column: 'solution', extract: /\\boxed\{([^}]*)\}/ });
    expect(boxed(batch(['so \\boxed{ 7 }.', 'it is 7', '\\boxed{8}'], { solution: ['7', '7', '7'] }))).toEqual([1, 0, 0]);
    // Without a capture group the whole match is the answer; a global flag keeps no state between calls.
    const lastNumber = exactMatch({ extract: /\d+(?!.*\d)/g });
    const twice = batch(['3 apples, 5 pears', '3 apples, 5 pears'], { answer: ['5', '5'] });
    expect(lastNumber(twice)).toEqual([1, 1]);
    expect(lastNumber(twice)).toEqual([1, 1]);
    const fn = exactMatch({ extract: (t) => (t.includes('=') ? t.split('=')[1]! : null), normalize: (s) => s.toLowerCase() });
    expect(fn(batch(['x = YES', 'YES', 'x = no'], { answer: ['yes', 'yes', 'yes'] }))).toEqual([1, 0, 0]);
  });

  it('names the reward and the option in option errors', () => {
    expect(() => exactMatch({ column: '' })).toThrow("exactMatch: option 'column' must be a non-empty string");
    expect(() => exactMatch({ column: 'completions' })).toThrow("exactMatch: option 'column' must name a column of the prompt rows");
    expect(() => exactMatch({ extract: 'x' as never })).toThrow("exactMatch: option 'extract' must be a RegExp or a function");
    expect(() => exactMatch({ normalize: 1 as never })).toThrow("exactMatch: option 'normalize' must be a function");
    expect(() => exactMatch({ colum: 'answer' } as never)).toThrow(
      "exactMatch: unknown option 'colum' (options: column, extract, normalize)",
    );
  });
});

describe('formatMatch', () => {
  it('matches the whole (trimmed) completion', () => {
    const r = formatMatch('\\d+');
    expect(r(batch([' 42', '42\n', '42 apples', 'x42', ''], {}))).toEqual([1, 1, 0, 0, 0]);
    expect(formatMatch('\\d+', { trim: false })(batch([' 42', '42']))).toEqual([0, 1]);
    // Its own anchors are harmless; alternatives are grouped, so '^a|b$' cannot match half a completion.
    expect(formatMatch('^\\d+$')(batch(['7', '7a']))).toEqual([1, 0]);
    expect(formatMatch('a|b')(batch(['a', 'b', 'ab', 'a b']))).toEqual([1, 1, 0, 0]);
    expect(rewardName(r, 0)).toBe('format');
  });

  it("keeps a RegExp's flags but the stateful ones", () => {
    const r = formatMatch(/<think>.*<\/think>answer/gis);
    const b = batch(['<THINK>a\nb</think>ANSWER', '<think>x</think>answer', 'answer']);
    expect(r(b)).toEqual([1, 1, 0]);
    expect(r(b)).toEqual([1, 1, 0]);
  });

  it('refuses a bad pattern or option, naming the reward', () => {
    expect(() => formatMatch('(')).toThrow(/^formatMatch: pattern "\(" is not a valid regular expression/);
    expect(() => formatMatch('')).toThrow('formatMatch: pattern must be a RegExp or a non-empty string');
    expect(() => formatMatch('x', { trim: 'yes' as never })).toThrow("formatMatch: option 'trim' must be true or false");
  });
});

describe('lengthPenalty', () => {
  it('is 0 up to maxLength tokens, then -penalty per token beyond', () => {
    const ids = (n: number) => Array.from({ length: n }, () => 1);
    const inputs: RewardInputs = {
      prompts: ['', '', '', ''],
      completions: ['', '', '', ''],
      completionIds: [ids(0), ids(4), ids(5), ids(12)],
    };
    expect(lengthPenalty({ maxLength: 4, penalty: 0.5 })(inputs)).toEqual([0, 0, -0.5, -4]);
    // The default penalty, 1/maxLength, makes twice the budget cost 1.
    const scores = lengthPenalty({ maxLength: 4 })({ ...inputs, completionIds: [ids(8), ids(2), ids(6), ids(4)] });
    expect(scores).toEqual([-1, 0, -0.5, 0]);
    expect(Object.is(scores[1], 0)).toBe(true);
    expect(rewardName(lengthPenalty({ maxLength: 1 }), 0)).toBe('length_penalty');
  });

  it('refuses bad options, naming the reward and the option', () => {
    expect(() => lengthPenalty({ maxLength: 0 })).toThrow("lengthPenalty: option 'maxLength' must be a positive integer, got 0");
    expect(() => lengthPenalty({ maxLength: 2.5 })).toThrow("option 'maxLength' must be a positive integer");
    expect(() => lengthPenalty({} as never)).toThrow("lengthPenalty: option 'maxLength' must be a positive integer, got undefined");
    expect(() => lengthPenalty({ maxLength: 8, penalty: -1 })).toThrow(
      "lengthPenalty: option 'penalty' must be a positive finite number, got -1",
    );
    expect(() => lengthPenalty({ maxLength: 8, penalty: Number.NaN })).toThrow("option 'penalty'");
    expect(() => lengthPenalty({ maxLength: 8, target: 4 } as never)).toThrow(
      "lengthPenalty: unknown option 'target' (options: maxLength, penalty)",
    );
  });
});

describe('builtinReward', () => {
  it('builds each reward from its spec', () => {
    const b = batch([' 42', ' 7', 'x: 9'], { answer: ['42', '8', '9'], label: ['x', '7', '9'] });
    expect(builtinReward('exact-match')(b)).toEqual([1, 0, 0]);
    expect(builtinReward('exact-match:label')(b)).toEqual([0, 1, 0]);
    // The regex is the rest of the spec, colons and all.
    expect(builtinReward('exact-match:answer:x: (\\d+)')(b)).toEqual([0, 0, 1]);
    expect(builtinReward('format:^\\d+$')(b)).toEqual([1, 1, 0]);
    expect(builtinReward('format:x: \\d')(b)).toEqual([0, 0, 1]);
    const long = { prompts: [''], completions: [''], completionIds: [new Array(40).fill(0)] };
    expect(builtinReward('length:32')(long)).toEqual([-0.25]);
    expect(builtinReward('length:32:0.5')(long)).toEqual([-4]);
    expect(Object.keys(BUILTIN_REWARDS)).toEqual(['exact-match', 'format', 'length']);
  });

  it('names the spec in its errors', () => {
    expect(() => builtinReward('exact')).toThrow(
      "builtinReward('exact'): unknown reward 'exact' (built-in: exact-match[:COLUMN[:REGEX]], format:REGEX, length:MAX[:PENALTY])",
    );
    expect(() => builtinReward('constructor')).toThrow("unknown reward 'constructor'");
    expect(() => builtinReward('format')).toThrow("builtinReward('format'): expected format:REGEX");
    expect(() => builtinReward('format:(')).toThrow(/^builtinReward\('format:\('\): formatMatch: pattern "\(" is not a valid/);
    expect(() => builtinReward('length')).toThrow("builtinReward('length'): expected length:MAX[:PENALTY]");
    expect(() => builtinReward('length:ten')).toThrow("builtinReward('length:ten'): MAX must be a number, got 'ten'");
    expect(() => builtinReward('length:0')).toThrow(
      "builtinReward('length:0'): lengthPenalty: option 'maxLength' must be a positive integer, got 0",
    );
    expect(() => builtinReward('length:8:')).toThrow("builtinReward('length:8:'): PENALTY must be a number, got ''");
    expect(() => builtinReward('exact-match::x')).toThrow(
      "builtinReward('exact-match::x'): exactMatch: option 'column' must be a non-empty string",
    );
    expect(() => builtinReward('exact-match:answer:')).toThrow("builtinReward('exact-match:answer:'): REGEX is empty");
    expect(() => builtinReward('exact-match:answer:(')).toThrow(/^builtinReward\('exact-match:answer:\('\): Invalid regular expression/);
  });
});
