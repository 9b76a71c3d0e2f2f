// What a probe of chat templates and tokenizer files found (issue 32): a looping template must
// fail within a bound instead of hanging; an empty template, or one reading an attribute the
// messages lack, must say so rather than "no assistant turn"; and a tokenizer.json the library
// chokes on ("x.split is not a function") must name the entry or the part of the file.
import { describe, expect, it } from 'vitest';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer, renderChat, type ChatMessage } from '../src/tokenizers/index.js';
import { sftSequence } from '../src/trainers/tokenize.js';
import { tempDir } from './helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures', import.meta.url));
const tmp = tempDir('chat-template-errors');
let count = 0;

/** qwen2-tiny's tokenizer files with tokenizer_config.json's chat_template and tokenizer.json edited. */
function tokenizerWith(options: {
  template?: string;
  tokenizerJson?: (json: Record<string, unknown>) => void;
}): Promise<Awaited<ReturnType<typeof loadTokenizer>>> {
  const dir = join(tmp, `t${count++}`);
  cpSync(join(fixtures, 'qwen2-tiny'), dir, { recursive: true, filter: (src) => !/\.safetensors$|golden\.json$/.test(src) });
  const edit = (file: string, f: (json: Record<string, unknown>) => void) => {
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    f(json);
    writeFileSync(join(dir, file), JSON.stringify(json));
  };
  if (options.template !== undefined) edit('tokenizer_config.json', (j) => (j.chat_template = options.template));
  if (options.tokenizerJson) edit('tokenizer.json', options.tokenizerJson);
  return loadTokenizer(dir);
}

const chat: ChatMessage[] = [
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello.' },
];

describe('chat template rendering', () => {
  it('stops a template that loops for too long with an error instead of hanging', async () => {
    const nested = await tokenizerWith({
      template: '{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}{{ messages[0].content }}',
    });
    const started = Date.now();
    expect(() => renderChat(nested, chat)).toThrow(/did not finish within 250,000 steps/);
    expect(Date.now() - started).toBeLessThan(60_000); // a generous bound: it takes a second or two
    const huge = await tokenizerWith({ template: '{% for i in range(1000000000) %}x{% endfor %}' });
    expect(() => renderChat(huge, chat)).toThrow(/range\(\) of 1000000000 items is more than the 100000/);
  });

  it('still renders real templates, loops and all', async () => {
    const tok = await tokenizerWith({
      template:
        "{% for m in messages %}{% for i in range(2) %}<|im_start|>{{ m['role'] }}{% endfor %}{{ m.content }}<|im_end|>{% endfor %}",
    });
    expect(renderChat(tok, chat)).toBe(
      '<|im_start|>user<|im_start|>userHi<|im_end|><|im_start|>assistant<|im_start|>assistantHello.<|im_end|>',
    );
  });

  it('says an empty template is empty, instead of "no assistant turn"', async () => {
    const tok = await tokenizerWith({ template: '' });
    expect(() => renderChat(tok, chat)).toThrow(/chat template of .*tokenizer_config\.json is empty, so it renders nothing/);
    expect(() => sftSequence({ kind: 'messages', messages: chat }, tok, 64, true)).toThrow(/is empty/);
  });

  it('names an attribute the messages do not have, instead of "no assistant turn"', async () => {
    const tok = await tokenizerWith({ template: '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.text }}<|im_end|>\n{% endfor %}' });
    expect(() => renderChat(tok, chat)).toThrow(
      /rendered none of the messages' contents .*it reads 'text', which the messages do not have/,
    );
    expect(() => sftSequence({ kind: 'messages', messages: chat }, tok, 64, true)).not.toThrow(/no assistant turn/);
  });
});

describe('tokenizer errors a user can act on', () => {
  it('names the merge entry that is not a "left right" string or pair', async () => {
    await expect(tokenizerWith({ tokenizerJson: (j) => ((j.model as Record<string, unknown>).merges = [5, 6]) })).rejects.toThrow(
      /tokenizer\.json: model\.merges\[0\] is 5, expected a string "left right" or a pair \["left", "right"\]/,
    );
    await expect(tokenizerWith({ tokenizerJson: (j) => ((j.model as Record<string, unknown>).merges = 'a b') })).rejects.toThrow(
      /model\.merges must be an array, got string/,
    );
  });

  it('names the part of tokenizer.json that the tokenizers library fails on', async () => {
    const err = await tokenizerWith({
      tokenizerJson: (j) => (j.pre_tokenizer = { type: 'Split', pattern: { Regex: 5 }, behavior: 'Isolated', invert: false }),
    }).catch((e: Error) => e);
    expect(String(err)).toMatch(/tokenizer\.json: its "pre_tokenizer" \(Split\) holds a value of the wrong type or shape/);
  });

  it('says which field of a message is wrong, and what type was expected', async () => {
    const tok = await tokenizerWith({});
    const parts = [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] as unknown as ChatMessage[];
    expect(() => renderChat(tok, parts)).toThrow(
      /messages\[0\]\.content must be a string, got an array \(content parts .* join their text\)/,
    );
    expect(() => renderChat(tok, [{ content: 'Hi' }] as unknown as ChatMessage[])).toThrow(
      /messages\[0\]\.role must be a string, got undefined/,
    );
    expect(() => renderChat(tok, [null] as unknown as ChatMessage[])).toThrow(
      /messages\[0\] must be an object \{role: string, content: string\}, got null/,
    );
  });

  it('says which argument is wrong when messages are not an array', async () => {
    const tok = await tokenizerWith({});
    expect(() => renderChat(tok, 'Hi' as unknown as ChatMessage[])).toThrow(
      'renderChat: messages must be an array of {role, content}, got string',
    );
  });
});
