// HFTokenizer against transformers: the Llama-style (SentencePiece BPE, byte fallback,
// Metaspace) and Qwen2-style (byte-level BPE) tokenizers of test/fixtures/llama-tiny and
// qwen2-tiny, whose golden.json holds transformers' encodings, decodings, special tokens and
// rendered chat templates (scripts/fixtures/make_llama_fixtures.py). Also: BOS/EOS/PAD from the
// config files, a PAD distinct from every stop id, save → load, the assistant mask of
// multi-turn conversations, and errors that name the file.
import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GPT2Tokenizer,
  HFTokenizer,
  encodeChat,
  encodeConversation,
  loadTokenizer,
  renderChat,
  splitConversation,
  type ChatMessage,
  type Tokenizer,
} from '../src/tokenizers/index.js';
import { IGNORE_INDEX, encodePromptAnswer, promptAndAnswer, sftSequence } from '../src/trainers/tokenize.js';
import { tempDir } from './helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures', import.meta.url));

interface Golden {
  specialTokens: Record<'bos' | 'eos' | 'pad', { token: string; id: number } | null>;
  generationConfig: { bosTokenId: number; eosTokenId: number[]; padTokenId: number };
  tokenizer: {
    vocabSize: number;
    encodings: { text: string; addSpecialTokens: boolean; ids: number[]; decoded: string }[];
    chat: { name: string; messages: ChatMessage[]; addGenerationPrompt: boolean; text: string; ids: number[] }[];
  };
}
const golden = (name: string): Golden => JSON.parse(readFileSync(join(fixtures, name, 'golden.json'), 'utf8')) as Golden;

const tmp = tempDir('hf-tokenizer');
let dirCount = 0;

/** A tokenizer file's parsed JSON as the edits see it: any field, and the two of tokenizer.json that they reach into. */
interface TokenizerFileJson {
  [field: string]: unknown;
  model: { type: string };
  added_tokens: { id: number }[];
}
/** Per file name, an edit of its parsed JSON, the text that replaces it, or undefined: the file removed. */
type FileEdits = Record<string, ((json: TokenizerFileJson) => void) | string | undefined>;

/** A copy of a fixture's tokenizer files, with JSON files edited or replaced (undefined: removed). */
function fixtureCopy(name: string, edits: FileEdits = {}): string {
  const dir = join(tmp, `d${dirCount++}`);
  cpSync(join(fixtures, name), dir, { recursive: true, filter: (src) => !/\.safetensors$|golden\.json$/.test(src) });
  for (const [file, edit] of Object.entries(edits)) {
    const path = join(dir, file);
    if (edit === undefined) rmSync(path, { force: true });
    else if (typeof edit === 'string') writeFileSync(path, edit);
    else {
      const json = JSON.parse(readFileSync(path, 'utf8')) as TokenizerFileJson;
      edit(json);
      writeFileSync(path, JSON.stringify(json));
    }
  }
  return dir;
}

async function loadError(dir: string): Promise<Error> {
  const err = await loadTokenizer(dir).then(
    () => null,
    (e: unknown) => e as Error,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

/** The decoded runs of masked tokens. */
function spans(tok: Tokenizer, ids: number[], mask: boolean[]): string[] {
  const out: string[] = [];
  let run: number[] = [];
  ids.forEach((id, i) => {
    if (mask[i]) run.push(id);
    if ((!mask[i] || i === ids.length - 1) && run.length > 0) {
      out.push(tok.decode(run));
      run = [];
    }
  });
  return out;
}

describe.each([
  ['llama-tiny', '<|eot_id|>'],
  ['qwen2-tiny', '<|im_end|>'],
])('%s', (name, endOfTurn) => {
  const g = golden(name);
  let tok: HFTokenizer;
  beforeAll(async () => {
    tok = (await loadTokenizer(join(fixtures, name))) as HFTokenizer;
  });

  it("loads as an HFTokenizer with transformers' special tokens and a PAD distinct from every stop id", () => {
    expect(tok).toBeInstanceOf(HFTokenizer);
    expect(tok.kind).toBe('hf');
    expect(tok.vocabSize).toBe(g.tokenizer.vocabSize);
    expect(tok.bosTokenId).toBe(g.specialTokens.bos?.id);
    expect(tok.bosToken).toBe(g.specialTokens.bos?.token);
    expect([tok.eosTokenId, tok.eosToken]).toEqual([g.specialTokens.eos!.id, g.specialTokens.eos!.token]);
    expect([tok.padTokenId, tok.padToken]).toEqual([g.specialTokens.pad!.id, g.specialTokens.pad!.token]);
    expect(tok.addedPadToken).toBe(false);
    expect(tok.stopTokenIds[0]).toBe(tok.eosTokenId);
    expect([...tok.stopTokenIds].sort()).toEqual([...g.generationConfig.eosTokenId].sort());
    expect(tok.stopTokenIds).not.toContain(tok.padTokenId);
    expect(tok.chatTemplate?.file).toBe(join(fixtures, name, 'tokenizer_config.json'));
  });

  it('encodes and decodes as transformers does', () => {
    expect(g.tokenizer.encodings.length).toBeGreaterThan(10);
    for (const e of g.tokenizer.encodings) {
      expect(tok.encode(e.text, { addSpecialTokens: e.addSpecialTokens, allowSpecialTokens: true }), JSON.stringify(e.text)).toEqual(e.ids);
      expect(tok.decode(e.ids), JSON.stringify(e.ids)).toBe(e.decoded);
    }
  });

  it('encodes special-token text as ordinary text unless allowSpecialTokens', () => {
    const e = g.tokenizer.encodings.find((x) => x.text.includes(endOfTurn) && !x.addSpecialTokens)!;
    const plain = tok.encode(e.text);
    expect(plain).not.toEqual(e.ids);
    for (const id of plain) expect(tok.stopTokenIds.includes(id) || id === tok.padTokenId || id === tok.bosTokenId, `id ${id}`).toBe(false);
    expect(tok.decode(plain)).toBe(e.text);
    expect(tok.encode(endOfTurn, { allowSpecialTokens: true })).toEqual([tok.eosTokenId]);
    // Text without special tokens takes the same path either way.
    expect(tok.encode('Hello world')).toEqual(tok.encode('Hello world', { allowSpecialTokens: true }));
  });

  it('skips special tokens when decoding if asked, and ids it does not have (as transformers does)', () => {
    const ids = [...tok.encode('Hello world', { addSpecialTokens: true }), tok.eosTokenId, tok.padTokenId, tok.padTokenId];
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('Hello world');
    expect(tok.decode(ids)).toContain(`${tok.eosToken}${tok.padToken}${tok.padToken}`);
    expect(tok.decode([])).toBe('');
    // transformers: decode(ids[:1] + [len(tok) + 2] + ids[1:]) == '中' (checked on qwen2-tiny and gpt2-tiny).
    const zh = tok.encode('中');
    expect(tok.decode([...zh.slice(0, 1), tok.vocabSize + 2, ...zh.slice(1)])).toBe(tok.decode(zh));
    expect(tok.decode([tok.vocabSize, tok.vocabSize + 100])).toBe('');
    expect(() => tok.decode([0, -1])).toThrow(RangeError);
    expect(() => tok.decode([0.5])).toThrow(RangeError);
  });

  it('renders the chat template as transformers does, text and ids', () => {
    expect(g.tokenizer.chat.length).toBeGreaterThan(2);
    for (const c of g.tokenizer.chat) {
      const text = renderChat(tok, c.messages, c.addGenerationPrompt);
      expect(text, c.name).toBe(c.text);
      expect(encodeChat(tok, text), c.name).toEqual(c.ids);
    }
  });

  it('masks everything but the assistant turns of a multi-turn conversation', () => {
    const c = g.tokenizer.chat.find((x) => x.name === 'conversationWithReply')!;
    const replies = c.messages.filter((m) => m.role === 'assistant').map((m) => m.content);
    expect(replies.length).toBe(2);
    const { ids, assistantMask } = encodeConversation(tok, c.messages);
    expect(ids).toEqual(c.ids);
    expect(spans(tok, ids, assistantMask)).toEqual(replies.map((r) => r + endOfTurn));

    const seq = sftSequence({ kind: 'messages', messages: c.messages }, tok, 1024, true);
    expect(seq.ids).toEqual(c.ids);
    expect(seq.labels).toEqual(ids.map((id, i) => (assistantMask[i] ? id : IGNORE_INDEX)));
    expect(sftSequence({ kind: 'messages', messages: c.messages }, tok, 1024, false).labels).toEqual(c.ids);

    // Truncated from the left, the last turn is kept and the labels stay on the same tokens.
    const short = sftSequence({ kind: 'messages', messages: c.messages }, tok, 24, true);
    expect(short.ids).toEqual(c.ids.slice(-24));
    expect(short.labels).toEqual(seq.labels.slice(-24));
  });

  it('splits a conversation into the prompt and the reply for the reward model and the CLI', () => {
    const c = g.tokenizer.chat.find((x) => x.name === 'conversationWithReply')!;
    const { prompt, completion } = splitConversation(tok, c.messages);
    expect(prompt + completion).toBe(c.text);
    expect(prompt).toBe(renderChat(tok, c.messages.slice(0, -1), true));
    const p = promptAndAnswer({ kind: 'messages', messages: c.messages }, tok);
    const ids = encodePromptAnswer(p.prompt, p.answer, tok, p.templated);
    expect([...ids.prompt, ...ids.answer]).toEqual(c.ids); // no second BOS, no EOS after the end of turn
  });

  it("refuses message contents that hold a special token's text", () => {
    const forged: ChatMessage[] = [
      { role: 'user', content: `hi${endOfTurn}` },
      { role: 'assistant', content: 'ok' },
    ];
    expect(() => renderChat(tok, forged)).toThrow(
      `messages[0].content contains ${JSON.stringify(endOfTurn)}, a special token of the tokenizer`,
    );
  });

  it('saves and loads back the same tokenizer', async () => {
    const dir = join(tmp, `saved-${name}`);
    await tok.save(dir);
    expect(readdirSync(dir).sort()).toEqual(['generation_config.json', 'tokenizer.json', 'tokenizer_config.json']);
    const back = (await loadTokenizer(dir)) as HFTokenizer;
    expect(back).toBeInstanceOf(HFTokenizer);
    const fields = (t: HFTokenizer) => [
      t.vocabSize,
      t.bosTokenId,
      t.eosTokenId,
      t.padTokenId,
      t.stopTokenIds,
      t.addedPadToken,
      t.chatTemplate?.text,
    ];
    expect(fields(back)).toEqual(fields(tok));
    for (const e of g.tokenizer.encodings) {
      for (const allowSpecialTokens of [false, true])
        expect(back.encode(e.text, { allowSpecialTokens, addSpecialTokens: e.addSpecialTokens })).toEqual(
          tok.encode(e.text, { allowSpecialTokens, addSpecialTokens: e.addSpecialTokens }),
        );
    }
    for (const c of g.tokenizer.chat) expect(renderChat(back, c.messages, c.addGenerationPrompt)).toBe(c.text);
  });
});

describe('BOS, EOS and PAD from tokenizer_config.json and generation_config.json', () => {
  it('adds a PAD when the files give only EOS as PAD, and saves it', async () => {
    const dir = fixtureCopy('qwen2-tiny', {
      'tokenizer_config.json': (j) => (j.pad_token = '<|im_end|>'),
      'generation_config.json': (j) => delete j.pad_token_id,
    });
    const tok = (await loadTokenizer(dir)) as HFTokenizer;
    expect(tok.eosTokenId).toBe(386);
    expect([tok.padTokenId, tok.padToken, tok.addedPadToken, tok.vocabSize]).toEqual([387, '<|pad|>', true, 388]);
    expect(tok.encode('x<|pad|>', { allowSpecialTokens: true }).at(-1)).toBe(387);
    expect(tok.decode([387])).toBe('<|pad|>');
    expect(tok.decode([39, 387], { skipSpecialTokens: true })).toBe('H');
    const saved = join(tmp, 'saved-added-pad');
    await tok.save(saved);
    const back = (await loadTokenizer(saved)) as HFTokenizer;
    expect([back.padTokenId, back.padToken, back.addedPadToken, back.vocabSize]).toEqual([387, '<|pad|>', false, 388]);
    expect(JSON.parse(readFileSync(join(saved, 'generation_config.json'), 'utf8')).pad_token_id).toBe(387);
  });

  it('does not use a stop id as PAD, even one that is not EOS', async () => {
    // </s> (2) ends generation by generation_config.json; the vocabulary's <pad> serves instead.
    const dir = fixtureCopy('llama-tiny', { 'tokenizer_config.json': (j) => (j.pad_token = '</s>') });
    const tok = (await loadTokenizer(dir)) as HFTokenizer;
    expect(tok.stopTokenIds).toEqual([421, 2]);
    expect([tok.padTokenId, tok.padToken, tok.addedPadToken]).toEqual([422, '<pad>', false]);
  });

  it('takes PAD from generation_config.json, EOS as an AddedToken object, and BOS none when the config says null', async () => {
    const dir = fixtureCopy('llama-tiny', {
      'tokenizer_config.json': (j) => {
        delete j.pad_token;
        j.eos_token = { content: '</s>', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
        j.bos_token = null;
      },
    });
    const tok = (await loadTokenizer(dir)) as HFTokenizer;
    expect([tok.eosTokenId, tok.eosToken, tok.stopTokenIds]).toEqual([2, '</s>', [2, 421]]);
    expect(tok.padTokenId).toBe(422);
    expect(tok.bosTokenId).toBeUndefined();
  });

  it("takes EOS from generation_config.json's first stop id when tokenizer_config.json names none", async () => {
    const dir = fixtureCopy('llama-tiny', { 'tokenizer_config.json': (j) => delete j.eos_token });
    const tok = (await loadTokenizer(dir)) as HFTokenizer;
    expect([tok.eosTokenId, tok.eosToken, tok.stopTokenIds]).toEqual([421, '<|eot_id|>', [421, 2]]);
  });

  it('takes all three from generation_config.json without tokenizer_config.json, and the simple template', async () => {
    const dir = fixtureCopy('qwen2-tiny', { 'tokenizer_config.json': undefined });
    const tok = (await loadTokenizer(dir)) as HFTokenizer;
    expect([tok.eosTokenId, tok.bosTokenId, tok.padTokenId, tok.addedPadToken, tok.chatTemplate]).toEqual([
      386,
      384,
      384,
      false,
      undefined,
    ]);
    expect(renderChat(tok, [{ role: 'user', content: 'Hi' }], true)).toBe('<|user|>\nHi\n<|assistant|>\n');
  });
});

describe('chat templates', () => {
  const conversation: ChatMessage[] = [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello.' },
    { role: 'user', content: 'Bye' },
    { role: 'assistant', content: 'Bye.' },
  ];

  it("reads chat_template.jinja, which wins over tokenizer_config.json's", async () => {
    const dir = fixtureCopy('qwen2-tiny', {
      'chat_template.jinja': '{% for m in messages %}<|im_start|>{{ m.role }}: {{ m.content }}<|im_end|>{% endfor %}',
    });
    const tok = (await loadTokenizer(dir)) as HFTokenizer;
    expect(tok.chatTemplate?.file).toBe(join(dir, 'chat_template.jinja'));
    expect(renderChat(tok, conversation.slice(0, 2))).toBe('<|im_start|>user: Hi<|im_end|><|im_start|>assistant: Hello.<|im_end|>');
    const saved = join(tmp, 'saved-jinja');
    await tok.save(saved);
    expect(readFileSync(join(saved, 'chat_template.jinja'), 'utf8')).toBe(tok.chatTemplate?.text);
  });

  it('takes the template named "default" from a list', async () => {
    const dir = fixtureCopy('qwen2-tiny', {
      'tokenizer_config.json': (j) =>
        (j.chat_template = [
          { name: 'tool_use', template: 'T' },
          { name: 'default', template: 'D{{ messages | length }}{{ messages[0].content }}' },
        ]),
    });
    expect(renderChat(await loadTokenizer(dir), conversation)).toBe('D4Hi');
  });

  it('says which file holds a template that does not parse, and why', async () => {
    const dir = fixtureCopy('llama-tiny', { 'tokenizer_config.json': (j) => (j.chat_template = '{% for m in messages %}{{ m.content }}') });
    const err = await loadError(dir);
    expect(err.message).toContain(join(dir, 'tokenizer_config.json'));
    expect(err.message).toMatch(/chat template is not a valid Jinja template \(.+\)/);
  });

  it("reports a template's raise_exception with the file", async () => {
    const dir = fixtureCopy('qwen2-tiny', {
      'tokenizer_config.json': (j) => (j.chat_template = "{{ raise_exception('Roles must alternate') }}"),
    });
    const tok = await loadTokenizer(dir);
    expect(() => renderChat(tok, conversation)).toThrow(
      `chat template of ${join(dir, 'tokenizer_config.json')} failed to render: Roles must alternate`,
    );
  });

  it('refuses a template that renders earlier turns differently once later ones follow', async () => {
    // Only the last assistant message is shown in full: earlier ones are cut to their first letter.
    const template =
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' and not loop.last %}{{ m.content[0] }}{% else %}{{ " +
      'm.content }}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';
    const tok = await loadTokenizer(fixtureCopy('qwen2-tiny', { 'tokenizer_config.json': (j) => (j.chat_template = template) }));
    expect(() => encodeConversation(tok, conversation)).toThrow(
      new RegExp(
        String.raw`is not prefix-stable: the conversation through messages\[1\] is not a prefix of the whole conversation ` +
          String.raw`\(they differ at token \d+: .*\), so the assistant turns cannot be found`,
      ),
    );
  });
});

describe('loadTokenizer', () => {
  it('picks HFTokenizer for a GPT-2 tokenizer.json that comes with a chat template, GPT2Tokenizer otherwise', async () => {
    const gpt2 = join(fixtures, 'gpt2-tiny');
    const plain = join(tmp, 'gpt2-plain');
    const chat = join(tmp, 'gpt2-chat');
    for (const dir of [plain, chat]) cpSync(join(gpt2, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(plain, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', model_max_length: 1024 }));
    writeFileSync(
      join(chat, 'tokenizer_config.json'),
      JSON.stringify({ eos_token: '<|endoftext|>', chat_template: '{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}' }),
    );
    expect(await loadTokenizer(plain)).toBeInstanceOf(GPT2Tokenizer);
    const tok = await loadTokenizer(chat);
    expect(tok).toBeInstanceOf(HFTokenizer);
    const reference = await GPT2Tokenizer.fromTokenizerJson(join(gpt2, 'tokenizer.json'));
    expect([tok.eosTokenId, tok.padTokenId, tok.vocabSize]).toEqual([reference.eosTokenId, reference.padTokenId, reference.vocabSize]);
    expect(tok.encode('Hello, world!<|endoftext|>', { allowSpecialTokens: true })).toEqual(
      reference.encode('Hello, world!<|endoftext|>', { allowSpecialTokens: true }),
    );
  });

  it.each<[string, FileEdits, string, RegExp]>([
    ['tokenizer_config.json that is not JSON', { 'tokenizer_config.json': '{"eos_token": ' }, 'tokenizer_config.json', /not valid JSON/],
    [
      'an eos_token the vocabulary lacks',
      { 'tokenizer_config.json': (j) => (j.eos_token = '<|nope|>') },
      'tokenizer_config.json',
      /"eos_token" is "<\|nope\|>", which is not a token of .*tokenizer\.json/,
    ],
    [
      'an eos_token of the wrong type',
      { 'tokenizer_config.json': (j) => (j.eos_token = 5) },
      'tokenizer_config.json',
      /"eos_token" must be a string, null or an object with a string "content" \(got 5\)/,
    ],
    [
      'a stop id outside the vocabulary',
      { 'generation_config.json': (j) => (j.eos_token_id = [421, 9999]) },
      'generation_config.json',
      /"eos_token_id" is \[421,9999\]; expected an id or a list of ids of the tokenizer, below 423/,
    ],
    [
      'no EOS anywhere',
      { 'tokenizer_config.json': (j) => delete j.eos_token, 'generation_config.json': undefined },
      'tokenizer_config.json',
      /Cannot find the EOS token of .*: neither .*'s "eos_token" nor .*generation_config\.json's "eos_token_id" names one/,
    ],
    [
      'a template list without "default"',
      { 'tokenizer_config.json': (j) => (j.chat_template = [{ name: 'rag', template: 'x' }]) },
      'tokenizer_config.json',
      /lists templates "rag" but none named "default"/,
    ],
    [
      'a tokenizer.json with an id past its tokens',
      { 'tokenizer.json': (j) => (j.added_tokens[6]!.id = 5000) },
      'tokenizer.json',
      /added_tokens\[6\] \("<pad>"\) has id 5000, but the file defines 423 tokens/,
    ],
    [
      'a tokenizer.json of an unknown model type',
      { 'tokenizer.json': (j) => (j.model.type = 'Word2Vec') },
      'tokenizer.json',
      /Unsupported tokenizer file .*: model type "Word2Vec"/,
    ],
    [
      'a tokenizer.json with an unknown decoder',
      { 'tokenizer.json': (j) => (j.decoder = { type: 'Mystery' }) },
      'tokenizer.json',
      /Unsupported tokenizer file .*: .*Mystery/,
    ],
  ])('rejects %s with an error naming the file', async (_label, edits, file, message) => {
    const dir = fixtureCopy('llama-tiny', edits);
    const err = await loadError(dir);
    expect(err.message).toContain(join(dir, file));
    expect(err.message).toMatch(message);
  });

  it("loads the sharded checkpoint's tokenizer too", async () => {
    const tok = await loadTokenizer(join(fixtures, 'llama-tiny-bf16-sharded'));
    const g = golden('llama-tiny-bf16-sharded');
    for (const e of g.tokenizer.encodings)
      expect(tok.encode(e.text, { addSpecialTokens: e.addSpecialTokens, allowSpecialTokens: true })).toEqual(e.ids);
  });
});
