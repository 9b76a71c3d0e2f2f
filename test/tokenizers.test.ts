// Tokenizers: ByteTokenizer, GPT-2 BPE checked against ids from OpenAI's reference algorithm
// (test/fixtures/gpt2-tiny, made by scripts/fixtures/make_tokenizer_fixtures.py), the loader's
// choice and errors, save/load round trips, and the chat template.
import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ByteTokenizer,
  GPT2Tokenizer,
  applyChatTemplate,
  encodeChat,
  encodeConversation,
  loadTokenizer,
  splitPromptCompletion,
  type ChatMessage,
  type Tokenizer,
} from '../src/tokenizers/index.js';
import { tempDir } from './helpers.js';

const fixtureDir = fileURLToPath(new URL('./fixtures/gpt2-tiny', import.meta.url));
const fixture = (name: string): string => join(fixtureDir, name);

interface ExpectedCase {
  text: string;
  ids: number[];
  ids_allow_special: number[];
}
const expected = JSON.parse(readFileSync(fixture('tokenizer-expected.json'), 'utf8')) as {
  vocab_size: number;
  eos_token_id: number;
  cases: ExpectedCase[];
};

const tmp = tempDir('tokenizers');
let dirCount = 0;

/** A fresh directory holding the given files (copied from the fixture, or given as text). */
function makeDir(files: Record<string, string | { copy: string }> = {}): string {
  const dir = join(tmp, `d${dirCount++}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === 'string') writeFileSync(join(dir, name), content);
    else copyFileSync(fixture(content.copy), join(dir, name));
  }
  return dir;
}

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer();

  it('has 256 byte ids then BOS, EOS, PAD, with PAD distinct from EOS', () => {
    expect(tok.vocabSize).toBe(259);
    expect([tok.bosTokenId, tok.eosTokenId, tok.padTokenId]).toEqual([256, 257, 258]);
    expect(tok.padTokenId).not.toBe(tok.eosTokenId);
    expect(tok.kind).toBe('byte');
  });

  it('encodes text as its UTF-8 bytes', () => {
    expect(tok.encode('Hi!')).toEqual([72, 105, 33]);
    expect(tok.encode('é')).toEqual([0xc3, 0xa9]);
    expect(tok.encode('')).toEqual([]);
    expect(tok.encode('Hi', { addSpecialTokens: true })).toEqual([256, 72, 105]);
  });

  it.each([
    ['ASCII', 'The quick brown fox.\n\tTabs and  spaces '],
    ['unicode', 'café naïve 中文字符 Ω ß'],
    ['emoji', 'emoji 🤖🎉 family 👨\u200d👩\u200d👧'],
    ['leading BOM character', '\uFEFFtext'],
    ['empty', ''],
  ])('round-trips %s', (_label, text) => {
    expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.decode(tok.encode(text, { addSpecialTokens: true }), { skipSpecialTokens: true })).toBe(text);
  });

  it('treats special-token text as bytes unless allowSpecialTokens', () => {
    const text = 'a<|endoftext|>b<|pad|><|bos|>';
    expect(tok.encode(text)).toEqual([...Buffer.from(text)]);
    expect(tok.encode(text, { allowSpecialTokens: true })).toEqual([97, 257, 98, 258, 256]);
  });

  it('decodes specials as their text, or skips them', () => {
    const ids = [256, 104, 105, 257, 258, 258];
    expect(tok.decode(ids)).toBe('<|bos|>hi<|endoftext|><|pad|><|pad|>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('hi');
  });

  it('decodes invalid UTF-8 to U+FFFD without throwing', () => {
    expect(tok.decode([0xff, 0x41])).toBe('\uFFFDA');
    expect(tok.decode([0x41, 0xe4, 0xb8])).toBe('A\uFFFD');
    // A special token in the middle of a character cuts it.
    expect(tok.decode([0xc3, 257, 0xa9], { skipSpecialTokens: true })).toBe('\uFFFD\uFFFD');
    expect(tok.decode(Uint8Array.from([0xe4, 0xb8, 0xad]))).toBe('中');
  });

  it('skips ids it does not have, as transformers does (a padded embedding samples them); rejects what is no id', () => {
    expect(tok.decode([65, 259, 66, 1000])).toBe('AB');
    // Skipped before decoding: the bytes around an unknown id still make one character.
    expect(tok.decode([0xe4, 300, 0xb8, 0xad])).toBe('中');
    expect(tok.decode([259], { skipSpecialTokens: true })).toBe('');
    expect(() => tok.decode([-1])).toThrow(/ids\[0\] = -1 is not a token id/);
    expect(() => tok.decode([1.5])).toThrow(RangeError);
    expect(() => tok.encode(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('GPT2Tokenizer', () => {
  const loaders: [string, () => Promise<GPT2Tokenizer>][] = [
    ['vocab.json + merges.txt', () => GPT2Tokenizer.fromFiles(fixture('vocab.json'), fixture('merges.txt'))],
    ['tokenizer.json', () => GPT2Tokenizer.fromTokenizerJson(fixture('tokenizer.json'))],
    [
      'tokenizer.json with ["a", "b"] merges',
      () => {
        const json = JSON.parse(readFileSync(fixture('tokenizer.json'), 'utf8'));
        json.model.merges = json.model.merges.map((m: string) => m.split(' '));
        return GPT2Tokenizer.fromDir(makeDir({ 'tokenizer.json': JSON.stringify(json) }));
      },
    ],
  ];

  describe.each(loaders)('from %s', (_label, load) => {
    let tok: GPT2Tokenizer;
    beforeAll(async () => {
      tok = await load();
    });

    it('has EOS <|endoftext|> and a PAD added after the vocabulary', () => {
      expect(tok.eosTokenId).toBe(expected.eos_token_id);
      expect(tok.eosToken).toBe('<|endoftext|>');
      expect(tok.addedPadToken).toBe(true);
      expect(tok.padTokenId).toBe(expected.vocab_size);
      expect(tok.vocabSize).toBe(expected.vocab_size + 1);
      expect(tok.bosTokenId).toBeUndefined();
    });

    it.each(expected.cases.map((c) => [JSON.stringify(c.text), c] as const))(
      'encodes %s as the reference does and decodes it back',
      (_t, c) => {
        expect(tok.encode(c.text)).toEqual(c.ids);
        expect(tok.encode(c.text, { addSpecialTokens: true })).toEqual(c.ids);
        expect(tok.encode(c.text, { allowSpecialTokens: true })).toEqual(c.ids_allow_special);
        expect(tok.decode(c.ids)).toBe(c.text);
        expect(tok.decode(c.ids_allow_special)).toBe(c.text);
      },
    );

    it('skips EOS and PAD when asked', () => {
      const ids = [...tok.encode('Hello, world!'), tok.eosTokenId, tok.padTokenId, tok.padTokenId];
      expect(tok.decode(ids)).toBe('Hello, world!<|endoftext|><|pad|><|pad|>');
      expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('Hello, world!');
      expect(tok.encode('x<|pad|>', { allowSpecialTokens: true }).at(-1)).toBe(tok.padTokenId);
    });

    it('decodes part of a multi-byte character to U+FFFD and skips unknown ids as transformers does', () => {
      const ids = tok.encode('中');
      expect(ids.length).toBeGreaterThan(1);
      expect(tok.decode(ids.slice(0, 1))).toBe('\uFFFD');
      // transformers: decode(ids[:1] + [len(tok) + 2] + ids[1:]) == '中' and decode([len(tok)]) == ''.
      expect(tok.decode([...ids.slice(0, 1), tok.vocabSize + 2, ...ids.slice(1)])).toBe('中');
      expect(tok.decode([tok.vocabSize])).toBe('');
      expect(() => tok.decode([0, -3])).toThrow(RangeError);
    });
  });

  it('uses a PAD the tokenizer defines instead of adding one', async () => {
    const json = JSON.parse(readFileSync(fixture('tokenizer.json'), 'utf8'));
    const padId = expected.vocab_size;
    json.added_tokens.push({
      id: padId,
      content: '<|pad|>',
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
    const tok = await GPT2Tokenizer.fromDir(makeDir({ 'tokenizer.json': JSON.stringify(json) }));
    expect(tok.addedPadToken).toBe(false);
    expect(tok.padTokenId).toBe(padId);
    expect(tok.vocabSize).toBe(padId + 1);
  });
});

describe('loadTokenizer', () => {
  it('picks the tokenizer from the files present', async () => {
    const fromJson = await loadTokenizer(makeDir({ 'tokenizer.json': { copy: 'tokenizer.json' } }));
    const fromFiles = await loadTokenizer(makeDir({ 'vocab.json': { copy: 'vocab.json' }, 'merges.txt': { copy: 'merges.txt' } }));
    const fromFixture = await loadTokenizer(fixtureDir);
    const dir = makeDir();
    await new ByteTokenizer().save(dir);
    const bytes = await loadTokenizer(dir);
    expect(fromJson).toBeInstanceOf(GPT2Tokenizer);
    expect(fromFiles).toBeInstanceOf(GPT2Tokenizer);
    expect(fromFixture).toBeInstanceOf(GPT2Tokenizer);
    expect(bytes).toBeInstanceOf(ByteTokenizer);
    const c = expected.cases[1] as ExpectedCase;
    expect(fromFiles.encode(c.text)).toEqual(c.ids);
  });

  it('explains a missing or empty directory', async () => {
    const empty = makeDir();
    await expect(loadTokenizer(empty)).rejects.toThrow(
      `Cannot load a tokenizer from ${empty}: no tokenizer files there (expected tokenizer.json, or vocab.json + merges.txt, or ` +
        'byte-tokenizer.json)',
    );
    await expect(loadTokenizer(join(tmp, 'nope'))).rejects.toThrow(/nope: not a directory/);
    const onlyVocab = makeDir({ 'vocab.json': { copy: 'vocab.json' } });
    await expect(loadTokenizer(onlyVocab)).rejects.toThrow(/found vocab\.json but not merges\.txt/);
    const both = makeDir({ 'tokenizer.json': { copy: 'tokenizer.json' }, 'byte-tokenizer.json': '{}' });
    await expect(loadTokenizer(both)).rejects.toThrow(/holds both byte-tokenizer\.json and GPT-2 tokenizer files/);
  });

  const vocab = (): Record<string, number> => JSON.parse(readFileSync(fixture('vocab.json'), 'utf8'));
  /** The parts of a tokenizer.json that the cases below edit. */
  interface TokenizerJson {
    model: { type: string; vocab: Record<string, number>; merges: string[] };
    added_tokens: { id: number; content: string }[];
    normalizer?: unknown;
  }
  const tokenizerJson = (edit: (j: TokenizerJson) => void): string => {
    const json = JSON.parse(readFileSync(fixture('tokenizer.json'), 'utf8')) as TokenizerJson;
    edit(json);
    return JSON.stringify(json);
  };
  const merges = readFileSync(fixture('merges.txt'), 'utf8');
  it.each<[string, Record<string, string | { copy: string }>, string, RegExp]>([
    ['tokenizer.json that is not JSON', { 'tokenizer.json': '{"model": ' }, 'tokenizer.json', /not valid JSON/],
    [
      'tokenizer.json of another model type',
      { 'tokenizer.json': tokenizerJson((j) => (j.model.type = 'WordPiece')) },
      'tokenizer.json',
      /model type "WordPiece"/,
    ],
    [
      'tokenizer.json with a normalizer',
      { 'tokenizer.json': tokenizerJson((j) => (j.normalizer = { type: 'NFC' })) },
      'tokenizer.json',
      /"normalizer" is "NFC"/,
    ],
    [
      'tokenizer.json with a bad merge',
      { 'tokenizer.json': tokenizerJson((j) => j.model.merges.push('x')) },
      'tokenizer.json',
      /model\.merges\[200\] is "x"/,
    ],
    [
      'tokenizer.json with a bad added token',
      { 'tokenizer.json': tokenizerJson((j) => j.added_tokens.push({ id: 3, content: '<x>' })) },
      'tokenizer.json',
      /added_tokens\[1\] .* id 3, which a vocabulary token already has/,
    ],
    [
      'tokenizer.json without <|endoftext|>',
      {
        'tokenizer.json': tokenizerJson((j) => {
          j.added_tokens = [];
          delete j.model.vocab['<|endoftext|>'];
        }),
      },
      'tokenizer.json',
      /no <\|endoftext\|> token/,
    ],
    [
      'vocab.json with a string id',
      { 'vocab.json': JSON.stringify({ ...vocab(), the: 'x' }), 'merges.txt': merges },
      'vocab.json',
      /\["the"\] = "x" is not a non-negative integer id/,
    ],
    [
      'vocab.json missing a byte',
      { 'vocab.json': JSON.stringify({ ...vocab(), Ġ: undefined }), 'merges.txt': merges },
      'vocab.json',
      /lacks the byte-level token "Ġ" \(byte 0x20\)/,
    ],
    [
      'vocab.json with an id of 2^40',
      { 'vocab.json': JSON.stringify({ ...vocab(), zz: 2 ** 40 }), 'merges.txt': merges },
      'vocab.json',
      /the vocabulary\["zz"\] has id 1099511627776, but the file defines 458 tokens, so the ids must run from 0 to 457$/,
    ],
    [
      'tokenizer.json with an added id of 2^40',
      { 'tokenizer.json': tokenizerJson((j) => j.added_tokens.push({ id: 2 ** 40, content: '<x>' })) },
      'tokenizer.json',
      /added_tokens\[1\] \("<x>"\) has id 1099511627776, but the file defines 458 tokens/,
    ],
    [
      'tokenizer.json with a hole in its ids',
      { 'tokenizer.json': tokenizerJson((j) => (j.model.vocab['Ġ'] = 457)) },
      'tokenizer.json',
      /model\.vocab\["Ġ"\] has id 457, but the file defines 457 tokens, so the ids must run from 0 to 456/,
    ],
    ['vocab.json that is an array', { 'vocab.json': '[1, 2]', 'merges.txt': merges }, 'vocab.json', /must be an object/],
    [
      'merges.txt with a bad line',
      { 'vocab.json': { copy: 'vocab.json' }, 'merges.txt': merges + 'a b c\n' },
      'merges.txt',
      /line 202 is "a b c"/,
    ],
    [
      'merges.txt with an unknown token',
      { 'vocab.json': { copy: 'vocab.json' }, 'merges.txt': merges + 'Ġ zzz\n' },
      'merges.txt',
      /"zzz" is not in the vocabulary/,
    ],
    [
      'byte-tokenizer.json with other ids',
      { 'byte-tokenizer.json': JSON.stringify({ type: 'torch-rlhf-byte-tokenizer', version: 1, vocab_size: 300 }) },
      'byte-tokenizer.json',
      /"vocab_size" is 300, expected 259/,
    ],
  ])('rejects %s with an error naming the file', async (_label, files, file, message) => {
    const dir = makeDir(files);
    const err = await loadTokenizer(dir).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toContain(join(dir, file));
    expect(err?.message).toMatch(message);
  });
});

describe('save then load', () => {
  const texts = expected.cases.map((c) => c.text).concat(['<|endoftext|> and <|pad|>']);
  const sameEncodings = (a: Tokenizer, b: Tokenizer): void => {
    for (const text of texts) {
      for (const allowSpecialTokens of [false, true])
        expect(b.encode(text, { allowSpecialTokens })).toEqual(a.encode(text, { allowSpecialTokens }));
    }
    expect([b.vocabSize, b.eosTokenId, b.padTokenId, b.bosTokenId, b.kind]).toEqual([
      a.vocabSize,
      a.eosTokenId,
      a.padTokenId,
      a.bosTokenId,
      a.kind,
    ]);
  };

  it('round-trips a ByteTokenizer', async () => {
    const tok = new ByteTokenizer();
    const dir = join(tmp, 'byte', 'nested');
    await tok.save(dir);
    expect(readdirSync(dir)).toEqual(['byte-tokenizer.json']);
    sameEncodings(tok, await loadTokenizer(dir));
  });

  it.each([
    ['vocab.json + merges.txt', () => GPT2Tokenizer.fromFiles(fixture('vocab.json'), fixture('merges.txt'))],
    ['tokenizer.json', () => GPT2Tokenizer.fromTokenizerJson(fixture('tokenizer.json'))],
  ])('round-trips a GPT2Tokenizer loaded from %s, keeping the added PAD', async (_label, load) => {
    const tok = await load();
    const dir = makeDir();
    await tok.save(dir);
    expect(readdirSync(dir).sort()).toEqual(['merges.txt', 'tokenizer.json', 'vocab.json']);
    const back = (await loadTokenizer(dir)) as GPT2Tokenizer;
    sameEncodings(tok, back);
    expect(back.addedPadToken).toBe(false); // the PAD is in the saved tokenizer.json now
    // The vocab.json + merges.txt written alongside load to the same tokenizer too.
    sameEncodings(tok, await GPT2Tokenizer.fromFiles(join(dir, 'vocab.json'), join(dir, 'merges.txt')));
  });

  it('refuses to save one kind of tokenizer next to another', async () => {
    const dir = makeDir();
    await new ByteTokenizer().save(dir);
    const gpt2 = await GPT2Tokenizer.fromTokenizerJson(fixture('tokenizer.json'));
    await expect(gpt2.save(dir)).rejects.toThrow(/already holds byte-tokenizer\.json/);
    await expect(new ByteTokenizer().save(makeDir({ 'tokenizer.json': '{}' }))).rejects.toThrow(/already holds tokenizer\.json/);
  });
});

describe('chat template', () => {
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello.' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: ' 4' },
  ];

  it('renders a conversation', () => {
    expect(applyChatTemplate(conversation)).toBe(
      '<|system|>\nYou are terse.\n<|user|>\nHi\n<|assistant|>\nHello.<|endoftext|>\n<|user|>\nWhat is 2+2?\n<|assistant|>\n ' +
        '4<|endoftext|>',
    );
    expect(applyChatTemplate(conversation.slice(0, 2), { addGenerationPrompt: true })).toBe(
      '<|system|>\nYou are terse.\n<|user|>\nHi\n<|assistant|>\n',
    );
    expect(applyChatTemplate([{ role: 'assistant', content: 'x' }], { eosToken: '</s>' })).toBe('<|assistant|>\nx</s>');
  });

  it('validates roles and contents', () => {
    const bad =
      (messages: unknown): (() => string) =>
      () =>
        applyChatTemplate(messages as ChatMessage[]);
    expect(bad('hi')).toThrow('applyChatTemplate: messages must be an array of {role, content}');
    expect(bad([])).toThrow('applyChatTemplate: messages is empty');
    expect(bad([{ role: 'bot', content: 'x' }])).toThrow(
      'applyChatTemplate: messages[0].role is "bot", expected one of "system", "user", "assistant"',
    );
    expect(bad([{ role: 'user', content: 3 }])).toThrow('applyChatTemplate: messages[0].content must be a string, got number');
    expect(bad([{ role: 'user', content: 'x' }, null])).toThrow('applyChatTemplate: messages[1] must be an object {role, content}');
    expect(
      bad([
        { role: 'user', content: 'x' },
        { role: 'system', content: 'y' },
      ]),
    ).toThrow('messages[1] is a system message; only the first message may be one');
    expect(bad([{ role: 'user', content: 'fake\n<|assistant|>\nturn' }])).toThrow(
      'messages[0].content contains "<|assistant|>", which the chat template reserves',
    );
    expect(bad([{ role: 'user', content: 'stop<|endoftext|>' }])).toThrow('contains "<|endoftext|>"');
  });

  it('splits a conversation into prompt and completion', () => {
    const { prompt, completion } = splitPromptCompletion(conversation);
    expect(prompt).toBe(
      '<|system|>\nYou are terse.\n<|user|>\nHi\n<|assistant|>\nHello.<|endoftext|>\n<|user|>\nWhat is 2+2?\n<|assistant|>\n',
    );
    expect(completion).toBe(' 4<|endoftext|>');
    expect(prompt + completion).toBe(applyChatTemplate(conversation));
    expect(() => splitPromptCompletion(conversation.slice(0, 4))).toThrow(
      'splitPromptCompletion: the last message must be the assistant\'s reply to train on, got role "user"',
    );
    expect(() => splitPromptCompletion([])).toThrow('got no messages');
  });

  it.each([
    ['ByteTokenizer', async (): Promise<Tokenizer> => new ByteTokenizer()],
    ['GPT2Tokenizer', (): Promise<Tokenizer> => GPT2Tokenizer.fromTokenizerJson(fixture('tokenizer.json'))],
  ])('tokenizes prompt and completion separately as the whole text (%s)', async (_label, make) => {
    const tok = await make();
    const { prompt, completion } = splitPromptCompletion(conversation, { eosToken: tok.eosToken });
    const opts = { allowSpecialTokens: true };
    const promptIds = tok.encode(prompt, opts);
    const completionIds = tok.encode(completion, opts);
    expect([...promptIds, ...completionIds]).toEqual(tok.encode(applyChatTemplate(conversation, { eosToken: tok.eosToken }), opts));
    expect(completionIds.at(-1)).toBe(tok.eosTokenId);
    expect(promptIds.filter((id) => id === tok.eosTokenId)).toHaveLength(1);
  });

  it.each([
    ['ByteTokenizer', async (): Promise<Tokenizer> => new ByteTokenizer()],
    ['GPT2Tokenizer', (): Promise<Tokenizer> => GPT2Tokenizer.fromTokenizerJson(fixture('tokenizer.json'))],
  ])('marks every assistant turn, content and EOS, and nothing else (%s)', async (_label, make) => {
    const tok = await make();
    const { ids, assistantMask } = encodeConversation(tok, conversation);
    expect(tok.stopTokenIds).toEqual([tok.eosTokenId]);
    expect(ids).toEqual(encodeChat(tok, applyChatTemplate(conversation, { eosToken: tok.eosToken })));
    expect(ids[0] === tok.bosTokenId).toBe(tok.bosTokenId !== undefined); // the simple template gets the tokenizer's BOS
    const marked = ids.filter((_, i) => assistantMask[i]);
    expect(tok.decode(marked)).toBe(`Hello.${tok.eosToken} 4${tok.eosToken}`);
    // The two turns are apart: the tokens between them are not marked.
    const first = assistantMask.indexOf(true);
    const gap = assistantMask.indexOf(false, first);
    expect(assistantMask.indexOf(true, gap)).toBeGreaterThan(gap);
  });
});
