// Dataset readers: JSONL streaming (blank lines, CRLF, BOM, no final newline, bad JSON, invalid
// UTF-8, missing files), the three record formats and their normalization, every
// malformed-record error with its exact file:line and field, skipInvalid reporting, the seeded
// split, and a large file.
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadPreferenceDataset,
  loadPromptDataset,
  loadSFTDataset,
  mulberry32,
  readJsonl,
  shuffle,
  splitDataset,
  type JsonlLine,
} from '../src/data/index.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('data');
let fileCount = 0;

/** A fresh file holding `lines` (objects are JSON-encoded) joined by "\n", with a final newline. */
function jsonl(lines: (string | object)[], end = '\n'): string {
  const path = join(tmp, `f${fileCount++}.jsonl`);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + end);
  return path;
}

async function readAll(path: string): Promise<JsonlLine[]> {
  const out: JsonlLine[] = [];
  for await (const l of readJsonl(path)) out.push(l);
  return out;
}

/** The exact message the promise rejects with. */
async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return (e as Error).message;
  }
  throw new Error('expected the promise to reject');
}

const good = { prompt: 'Q', completion: 'A' };
const pair = { prompt: 'Q', chosen: 'good', rejected: 'bad' };
const user = (content: string): object => ({ role: 'user', content });
const assistant = (content: string): object => ({ role: 'assistant', content });

describe('readJsonl', () => {
  it('yields each non-blank line with its 1-based physical line number', async () => {
    const path = jsonl(['{"a":1}', '', '   \t', '[1,2]', '"s"', '3', 'null']);
    expect(await readAll(path)).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 4, value: [1, 2] },
      { line: 5, value: 's' },
      { line: 6, value: 3 },
      { line: 7, value: null },
    ]);
  });

  it('accepts a UTF-8 BOM, CRLF line ends and a last line without a newline', async () => {
    const path = jsonl(['\uFEFF{"a":"é"}\r', '\r', '{"b":2}\r', '{"c":3}'], '');
    expect(await readAll(path)).toEqual([
      { line: 1, value: { a: 'é' } },
      { line: 3, value: { b: 2 } },
      { line: 4, value: { c: 3 } },
    ]);
  });

  it('rejects invalid JSON with file:line', async () => {
    const path = jsonl(['{"a":1}', '{"a":', '{"a":3}']);
    const message = await errorOf(readAll(path));
    expect(message.startsWith(`${path}:2: invalid JSON (`)).toBe(true);
    expect(message.endsWith(')')).toBe(true);
  });

  it('passes invalid lines to onInvalidLine and goes on', async () => {
    const path = jsonl(['{"a":1}', 'nope', '{"a":3}']);
    const bad: number[] = [];
    const lines: number[] = [];
    for await (const l of readJsonl(path, {
      onInvalidLine: (line, reason) => {
        bad.push(line);
        expect(reason).toMatch(/^invalid JSON \(.+\)$/);
      },
    }))
      lines.push(l.line);
    expect(bad).toEqual([2]);
    expect(lines).toEqual([1, 3]);
  });

  it('names a missing file or a directory', async () => {
    const missing = join(tmp, 'missing.jsonl');
    expect(await errorOf(readAll(missing))).toBe(`Cannot read JSONL file ${missing}: no such file`);
    expect(await errorOf(readAll(tmp))).toMatch(new RegExp(`^Cannot read JSONL file ${tmp}: .*EISDIR`));
  });

  it('can be stopped early', async () => {
    const path = jsonl(Array.from({ length: 1000 }, (_, i) => ({ i })));
    let seen = 0;
    for await (const l of readJsonl(path)) {
      seen++;
      if (l.line === 3) break;
    }
    expect(seen).toBe(3);
  });
});

describe('readJsonl and UTF-8', () => {
  const INVALID = 'invalid UTF-8 (is the file in another encoding, such as Latin-1?)';
  const bytesFile = (...parts: (string | number[])[]): string => {
    const path = join(tmp, `b${fileCount++}.jsonl`);
    writeFileSync(path, Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))));
    return path;
  };

  it('rejects invalid UTF-8 with file:line instead of reading U+FFFD', async () => {
    // "café" in Latin-1 (é = 0xe9), a cut two-byte character, an overlong encoding of "/".
    for (const bad of [[0xe9], [0xc3], [0xc0, 0xaf]]) {
      const path = bytesFile('{"a":1}\n{"a":"caf', bad, '"}\n{"a":3}\n');
      expect(await errorOf(readAll(path))).toBe(`${path}:2: ${INVALID}`);
    }
    const latin1 = join(tmp, `latin1-${fileCount++}.jsonl`);
    writeFileSync(latin1, Buffer.from(`${JSON.stringify({ prompt: 'Grüße', completion: 'à bientôt' })}\n`, 'latin1'));
    expect(await errorOf(loadSFTDataset(latin1))).toBe(`${latin1}:1: ${INVALID}`);
  });

  it('skips such lines with skipInvalid, reporting them in line order', async () => {
    const path = bytesFile(`${JSON.stringify(good)}\n{"prompt":"caf`, [0xe9], '","completion":"x"}\n{oops\n', `${JSON.stringify(good)}\n`);
    const loaded = await loadSFTDataset(path, { skipInvalid: true });
    expect(loaded.examples).toHaveLength(2);
    expect(loaded.skipped.map((l) => [l.line, l.reason.slice(0, 12)])).toEqual([
      [2, 'invalid UTF-'],
      [3, 'invalid JSON'],
    ]);
  });

  it('decodes characters and line ends split between the 64 KiB chunks of the stream', async () => {
    // 7 + 2k: an "é" whose two bytes straddle byte 65536; then a "\r\n" whose halves do.
    const long = `{"ab":"${'é'.repeat(40_000)}"}`;
    const pad = `{"c":"${'x'.repeat(2 * 65536 - Buffer.byteLength(long) - 1 - 1 - 8)}"}`;
    const path = bytesFile(long, '\n', pad, '\r\n{"d":1}\rnull\r\r\n');
    expect(Buffer.byteLength(long) + 1 + Buffer.byteLength(pad)).toBe(2 * 65536 - 1);
    const lines = await readAll(path);
    expect(lines.map((l) => l.line)).toEqual([1, 2, 3, 4]);
    expect(lines[0]!.value).toEqual({ ab: 'é'.repeat(40_000) });
    expect(lines.slice(2)).toEqual([
      { line: 3, value: { d: 1 } },
      { line: 4, value: null },
    ]);
  });
});

describe('SFT', () => {
  it('normalizes prompt-completion and conversational records, ignoring extra fields', async () => {
    const messages = [{ role: 'system', content: 'Be terse.' }, user('Hi'), assistant('Hello.'), user('Bye'), assistant('Bye.')];
    const path = jsonl([
      { id: 7, prompt: 'Q1', completion: ' A1' },
      { messages, source: 'x' },
      // HF chat datasets (ultrachat_200k) carry 'prompt' beside 'messages': messages win.
      { prompt: 'Hi', prompt_id: 'abc', messages: [user('Hi'), assistant('Yo')] },
    ]);
    const loaded = await loadSFTDataset(path);
    expect(loaded).toEqual({
      path,
      skipped: [],
      examples: [
        { kind: 'prompt-completion', prompt: 'Q1', completion: ' A1' },
        { kind: 'messages', messages },
        { kind: 'messages', messages: [user('Hi'), assistant('Yo')] },
      ],
    });
    // Only the known fields are kept.
    expect(Object.keys(loaded.examples[1] as object)).toEqual(['kind', 'messages']);
    expect(loaded.examples[1]).not.toHaveProperty('source');
  });

  const cases: [string, (string | object)[], string][] = [
    ['a missing completion', [good, { prompt: 'Q' }], ":2: field 'completion' must be a string (missing)"],
    ['a missing prompt', [{ completion: 'A' }], ":1: field 'prompt' must be a non-empty string (missing)"],
    ['a mistyped completion', [{ prompt: 'Q', completion: 3 }], ":1: field 'completion' must be a string (got number)"],
    ['a null prompt', [{ prompt: null, completion: 'A' }], ":1: field 'prompt' must be a non-empty string (got null)"],
    [
      'a conversational prompt list',
      [{ prompt: [user('Hi')], completion: [assistant('Yo')] }],
      ":1: field 'prompt' must be a non-empty string (got an array; conversational lists are supported in SFT's 'messages', DPO's " +
        "pairs and the online trainers' 'prompt')",
    ],
    ['neither format', [{ text: 'hello' }], ":1: expected an object with 'prompt' and 'completion' or 'messages' (got neither)"],
    ['a non-object line', [good, '', '[1, 2]'], ":3: expected an object with 'prompt' and 'completion' or 'messages' (got an array)"],
    ['a string line', ['"hello"'], ":1: expected an object with 'prompt' and 'completion' or 'messages' (got string)"],
    ['null', ['null'], ":1: expected an object with 'prompt' and 'completion' or 'messages' (got null)"],
    ['messages not an array', [{ messages: 'Hi' }], ":1: field 'messages' must be a non-empty array of {role, content} (got string)"],
    ['no messages', [{ messages: [] }], ":1: field 'messages' must be a non-empty array of {role, content} (got an empty array)"],
    [
      'a message that is not an object',
      [{ messages: [user('Hi'), 'Yo'] }],
      ":1: field 'messages[1]' must be an object {role, content} (got string)",
    ],
    [
      'a bad role',
      [{ messages: [user('a'), assistant('b'), { role: 'bot', content: 'c' }, assistant('d')] }],
      ":1: field 'messages[2].role' must be 'system', 'user' or 'assistant' (got \"bot\")",
    ],
    [
      'a missing role',
      [{ messages: [{ content: 'a' }, assistant('b')] }],
      ":1: field 'messages[0].role' must be 'system', 'user' or 'assistant' (missing)",
    ],
    [
      'a late system message',
      [{ messages: [user('a'), { role: 'system', content: 's' }, assistant('b')] }],
      ":1: field 'messages[1].role' is 'system', but only the first message may be a system message",
    ],
    ['a missing content', [{ messages: [user('a'), { role: 'assistant' }] }], ":1: field 'messages[1].content' must be a string (missing)"],
    [
      'an empty user content',
      [{ messages: [user(''), assistant('b')] }],
      ":1: field 'messages[0].content' must be a non-empty string (got an empty string)",
    ],
    [
      'messages not ending with the assistant',
      [good, { messages: [user('a'), assistant('b'), user('c')] }],
      ":2: field 'messages' must end with an assistant message, the reply to train on (the last one is 'user')",
    ],
  ];
  it.each(cases)('rejects %s with file:line and field', async (_, lines, expected) => {
    const path = jsonl(lines);
    expect(await errorOf(loadSFTDataset(path))).toBe(path + expected);
  });
});

describe('preferences', () => {
  it('detects pairwise and ranked records per line and normalizes both best to worst', async () => {
    const path = jsonl([
      { ...pair, id: 1, score_chosen: 9 },
      { prompt: 'Q2', completions: ['best', 'mid', 'worst'] },
      { prompt: 'Q3', completions: ['x', 'y'] },
      { prompt: 'Q4', chosen: 'c', rejected: 'r' },
    ]);
    expect(await loadPreferenceDataset(path)).toEqual({
      path,
      skipped: [],
      examples: [
        { prompt: 'Q', completions: ['good', 'bad'] },
        { prompt: 'Q2', completions: ['best', 'mid', 'worst'] },
        { prompt: 'Q3', completions: ['x', 'y'] },
        { prompt: 'Q4', completions: ['c', 'r'] },
      ],
    });
  });

  const expectedShape = "expected an object with 'prompt' and either 'chosen' and 'rejected', or 'completions'";
  const cases: [string, (string | object)[], string][] = [
    ['a missing rejected', [pair, { prompt: 'Q', chosen: 'a' }], ":2: field 'rejected' must be a string (missing)"],
    ['a missing prompt', [{ chosen: 'a', rejected: 'b' }], ":1: field 'prompt' must be a non-empty string (missing)"],
    ['a mistyped chosen', [{ prompt: 'Q', chosen: { text: 'a' }, rejected: 'b' }], ":1: field 'chosen' must be a string (got object)"],
    [
      'chosen equal to rejected',
      [pair, pair, { prompt: 'Q', chosen: 'same', rejected: 'same' }],
      ":3: field 'rejected' is the same as 'chosen' (a tie says nothing)",
    ],
    [
      'a ranking of one',
      [pair, pair, { prompt: 'Q', completions: ['only'] }],
      ":3: field 'completions' must list at least 2 answers (got 1)",
    ],
    ['an empty ranking', [{ prompt: 'Q', completions: [] }], ":1: field 'completions' must list at least 2 answers (got 0)"],
    [
      'a ranking that is not an array',
      [{ prompt: 'Q', completions: 'a' }],
      ":1: field 'completions' must be an array of answers ranked best to worst (got string)",
    ],
    ['a mistyped ranked answer', [{ prompt: 'Q', completions: ['a', 2] }], ":1: field 'completions[1]' must be a string (got number)"],
    [
      'duplicate ranked answers',
      [{ prompt: 'Q', completions: ['a', 'b', 'c', 'b'] }],
      ":1: field 'completions[3]' is the same as 'completions[1]' (a tie says nothing)",
    ],
    [
      'both formats at once',
      [{ ...pair, completions: ['a', 'b'] }],
      `:1: ${expectedShape} (got both 'completions' and 'chosen'/'rejected'; which one is meant?)`,
    ],
    ['neither format', [{ prompt: 'Q' }], `:1: ${expectedShape} (got neither)`],
    ['a non-object line', ['42'], `:1: ${expectedShape} (got number)`],
  ];
  it.each(cases)('rejects %s with file:line and field', async (_, lines, expected) => {
    const path = jsonl(lines);
    expect(await errorOf(loadPreferenceDataset(path))).toBe(path + expected);
  });
});

describe('prompts', () => {
  it('normalizes {prompt}, keeping the other fields as columns for reward functions', async () => {
    const path = jsonl([{ prompt: 'Tell me a joke.', id: 3 }, { prompt: ' Hi\n' }]);
    expect(await loadPromptDataset(path)).toEqual({
      path,
      skipped: [],
      examples: [{ prompt: 'Tell me a joke.', columns: { id: 3 } }, { prompt: ' Hi\n' }],
    });
  });

  it.each([
    ['a missing prompt', [{ text: 'x' }], ":1: field 'prompt' must be a non-empty string (missing)"],
    ['an empty prompt', [{ prompt: 'a' }, { prompt: '' }], ":2: field 'prompt' must be a non-empty string (got an empty string)"],
    ['a non-object line', ['[]'], ":1: expected an object with 'prompt' (got an array)"],
  ] as [string, (string | object)[], string][])('rejects %s with file:line and field', async (_, lines, expected) => {
    const path = jsonl(lines);
    expect(await errorOf(loadPromptDataset(path))).toBe(path + expected);
  });
});

describe('loading', () => {
  it('throws for the first bad line, even bad JSON, without skipInvalid', async () => {
    const path = jsonl([good, '{oops', { prompt: 'Q' }]);
    expect(await errorOf(loadSFTDataset(path))).toMatch(new RegExp(`^${path}:2: invalid JSON \\(`));
  });

  it('with skipInvalid, keeps the good lines and reports every bad one in line order', async () => {
    const path = jsonl([
      good,
      '{oops',
      { prompt: '', completion: 'A' },
      '',
      { prompt: 'Q2', completion: 'A2' },
      '7',
      { messages: [user('a'), { role: 'bot', content: 'b' }] },
      { messages: [user('a'), assistant('b')] },
      'not json either',
    ]);
    const loaded = await loadSFTDataset(path, { skipInvalid: true });
    expect(loaded.examples).toEqual([
      { kind: 'prompt-completion', prompt: 'Q', completion: 'A' },
      { kind: 'prompt-completion', prompt: 'Q2', completion: 'A2' },
      { kind: 'messages', messages: [user('a'), assistant('b')] },
    ]);
    expect(loaded.skipped.map((s) => s.line)).toEqual([2, 3, 6, 7, 9]);
    expect(loaded.skipped[0]?.reason).toMatch(/^invalid JSON \(.+\)$/);
    expect(loaded.skipped.slice(1, 4).map((s) => s.reason)).toEqual([
      "field 'prompt' must be a non-empty string (got an empty string)",
      "expected an object with 'prompt' and 'completion' or 'messages' (got number)",
      "field 'messages[1].role' must be 'system', 'user' or 'assistant' (got \"bot\")",
    ]);
    expect(loaded.skipped[4]?.reason).toMatch(/^invalid JSON \(.+\)$/);
    // Every non-blank line is either an example or reported.
    expect(loaded.examples.length + loaded.skipped.length).toBe(8);
  });

  it('skipInvalid works for preferences and prompts too', async () => {
    const prefs = await loadPreferenceDataset(jsonl([pair, { prompt: 'Q', completions: ['a', 'a'] }]), { skipInvalid: true });
    expect(prefs.examples).toHaveLength(1);
    expect(prefs.skipped).toEqual([{ line: 2, reason: "field 'completions[1]' is the same as 'completions[0]' (a tie says nothing)" }]);
    const prompts = await loadPromptDataset(jsonl([{ prompt: 1 }, { prompt: 'ok' }]), { skipInvalid: true });
    expect(prompts.examples).toEqual([{ prompt: 'ok' }]);
    expect(prompts.skipped).toEqual([{ line: 1, reason: "field 'prompt' must be a non-empty string (got number)" }]);
  });

  it('reads blank lines, CRLF, a BOM and no final newline', async () => {
    const path = join(tmp, 'windows.jsonl');
    writeFileSync(path, '\uFEFF' + JSON.stringify(pair) + '\r\n\r\n   \r\n' + JSON.stringify({ prompt: 'Q', completions: ['a', 'b'] }));
    const loaded = await loadPreferenceDataset(path);
    expect(loaded.examples).toEqual([
      { prompt: 'Q', completions: ['good', 'bad'] },
      { prompt: 'Q', completions: ['a', 'b'] },
    ]);
    // A CRLF inside a value is data, kept as is.
    const crlfText = jsonl([{ prompt: 'line 1\r\nline 2', completion: 'A\r\n' }], '\r\n');
    expect((await loadSFTDataset(crlfText)).examples).toEqual([
      { kind: 'prompt-completion', prompt: 'line 1\r\nline 2', completion: 'A\r\n' },
    ]);
  });

  it('rejects a missing file, an empty file and a file with nothing valid, naming it', async () => {
    const missing = join(tmp, 'nowhere', 'sft.jsonl');
    expect(await errorOf(loadSFTDataset(missing))).toBe(`Cannot read JSONL file ${missing}: no such file`);
    const empty = join(tmp, 'empty.jsonl');
    writeFileSync(empty, '');
    expect(await errorOf(loadSFTDataset(empty))).toBe(`${empty}: no examples; it is empty or has only blank lines`);
    const blank = jsonl(['', '  ', '\t']);
    expect(await errorOf(loadPromptDataset(blank))).toBe(`${blank}: no examples; it is empty or has only blank lines`);
    const allBad = jsonl([{ prompt: '' }, 'x']);
    expect(await errorOf(loadPromptDataset(allBad, { skipInvalid: true }))).toBe(
      `${allBad}: no examples; all 2 non-blank lines are invalid (first, line 1: field 'prompt' must be a non-empty string (got an ` +
        'empty string))',
    );
  });

  it('streams a large file (50k lines) in reasonable time', async () => {
    const n = 50_000;
    const path = join(tmp, 'large.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      lines.push(
        i % 2 === 0
          ? JSON.stringify({ prompt: `prompt ${i} ${'x'.repeat(100)}`, chosen: `good ${i}`, rejected: `bad ${i}` })
          : JSON.stringify({ prompt: `p${i}`, completions: [`a${i}`, `b${i}`, `c${i}`] }),
      );
    }
    writeFileSync(path, lines.join('\n') + '\n');
    const start = performance.now();
    const loaded = await loadPreferenceDataset(path);
    const seconds = (performance.now() - start) / 1000;
    expect(loaded.examples).toHaveLength(n);
    expect(loaded.skipped).toEqual([]);
    expect(loaded.examples[n - 1]).toEqual({ prompt: `p${n - 1}`, completions: [`a${n - 1}`, `b${n - 1}`, `c${n - 1}`] });
    expect(seconds).toBeLessThan(10);
  });
});

describe('random', () => {
  it('mulberry32 is deterministic per seed, uniform-ish in [0, 1), and rejects bad seeds', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(mulberry32(43)()).not.toBe(mulberry32(42)());
    expect(() => mulberry32(1.5)).toThrow(/safe integer/);
  });

  it('shuffle permutes in place, deterministically per seed', () => {
    const base = Array.from({ length: 100 }, (_, i) => i);
    const a = [...base];
    expect(shuffle(a, mulberry32(1))).toBe(a);
    expect([...a].sort((x, y) => x - y)).toEqual(base);
    expect(a).not.toEqual(base);
    expect(shuffle([...base], mulberry32(1))).toEqual(a);
    expect(shuffle([...base], mulberry32(2))).not.toEqual(a);
  });
});

describe('splitDataset', () => {
  const items = Array.from({ length: 100 }, (_, i) => ({ id: i }));

  it('is deterministic per seed, disjoint and complete, and leaves its input alone', () => {
    const copy = [...items];
    const s1 = splitDataset(items, 0.1, 7);
    expect(items).toEqual(copy);
    expect(s1.eval).toHaveLength(10);
    expect(s1.train).toHaveLength(90);
    expect(splitDataset(items, 0.1, 7)).toEqual(s1);
    expect(splitDataset(items, 0.1, 8).eval).not.toEqual(s1.eval);
    const ids = [...s1.train, ...s1.eval].map((x) => x.id);
    expect(new Set(ids).size).toBe(100);
    expect([...ids].sort((a, b) => a - b)).toEqual(items.map((x) => x.id));
    // Shuffled, not the first or last tenth.
    expect(s1.eval.map((x) => x.id)).not.toEqual(items.slice(0, 10).map((x) => x.id));
    expect(s1.eval.map((x) => x.id)).not.toEqual(items.slice(90).map((x) => x.id));
  });

  it('keeps at least one example in train and, when asked for eval, one in eval', () => {
    expect(splitDataset(items, 0, 1)).toEqual({ train: expect.any(Array), eval: [] });
    expect(splitDataset(items, 0, 1).train).toHaveLength(100);
    expect(splitDataset(items, 0.001, 1).eval).toHaveLength(1);
    expect(splitDataset(items, 0.999, 1).train).toHaveLength(1);
    const two = splitDataset([1, 2], 0.1, 3);
    expect([two.train.length, two.eval.length]).toEqual([1, 1]);
    expect(splitDataset([1, 2], 0.9, 3).train).toHaveLength(1);
    expect(splitDataset([1], 0.5, 3)).toEqual({ train: [1], eval: [] });
  });

  it('rejects a bad fraction, a bad seed and no examples', () => {
    expect(() => splitDataset(items, 1, 0)).toThrow('splitDataset: evalFraction must be in [0, 1), got 1');
    expect(() => splitDataset(items, -0.1, 0)).toThrow('splitDataset: evalFraction must be in [0, 1), got -0.1');
    expect(() => splitDataset(items, Number.NaN, 0)).toThrow('splitDataset: evalFraction must be in [0, 1), got NaN');
    expect(() => splitDataset(items, 0.1, 0.5)).toThrow(/seed must be a safe integer/);
    expect(() => splitDataset([], 0.1, 0)).toThrow('splitDataset: there are no examples to split');
  });
});
