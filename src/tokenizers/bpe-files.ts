// Reading and checking GPT-2 BPE files (vocab.json + merges.txt, or a Hugging Face
// tokenizer.json) into one validated form, and writing them back. All checks happen here, with
// errors that name the file and the entry, so a wrong or truncated file fails at load time
// instead of producing silently wrong token ids later.

/** An entry of tokenizer.json's "added_tokens" (Hugging Face tokenizers format). */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
  special?: boolean;
}

export interface BpeData {
  vocab: Map<string, number>;
  merges: [string, string][];
  addedTokens: AddedTokenJson[];
  addPrefixSpace: boolean;
  ignoreMerges: boolean;
  /** The tokenizer.json object, kept (with unknown fields) so that save writes it back. */
  tokenizerJson: Record<string, unknown>;
}

export const EOS_TEXT = '<|endoftext|>';

/**
 * GPT-2's byte -> printable character table (encoder.py bytes_to_unicode): bytes that are
 * printable Latin-1 map to themselves, the rest to U+0100 onwards, so that BPE tokens never
 * contain whitespace or control characters.
 */
export function bytesToUnicode(): string[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) table.push(String.fromCodePoint(printable(b) ? b : next++));
  return table;
}

export function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function isId(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export function malformed(file: string, what: string): Error {
  return new Error(`Malformed tokenizer file ${file}: ${what}`);
}

/** A vocabulary object (token -> id) with distinct non-negative integer ids. */
export function parseVocabObject(json: unknown, file: string, where: string): Map<string, number> {
  if (!isObject(json)) throw malformed(file, `${where} must be an object mapping token strings to ids`);
  const vocab = new Map<string, number>();
  const tokenOfId = new Map<number, string>();
  for (const [token, id] of Object.entries(json)) {
    if (!isId(id)) throw malformed(file, `${where}[${JSON.stringify(token)}] = ${JSON.stringify(id)} is not a non-negative integer id`);
    const other = tokenOfId.get(id);
    if (other !== undefined)
      throw malformed(file, `${where}: id ${id} is used by both ${JSON.stringify(other)} and ${JSON.stringify(token)}`);
    vocab.set(token, id);
    tokenOfId.set(id, token);
  }
  if (vocab.size === 0) throw malformed(file, `${where} is empty`);
  return vocab;
}

function parseVocab(json: unknown, file: string, where: string): Map<string, number> {
  const vocab = parseVocabObject(json, file, where);
  // Every byte must be a token, or some text could not be encoded at all.
  const table = bytesToUnicode();
  for (let b = 0; b < 256; b++) {
    const ch = table[b] as string;
    if (!vocab.has(ch)) {
      throw malformed(
        file,
        `${where} lacks the byte-level token ${JSON.stringify(ch)} (byte 0x${b.toString(16).padStart(2, '0')}); not a GPT-2 ` +
          'byte-level BPE vocabulary',
      );
    }
  }
  return vocab;
}

/**
 * The ids must number the file's tokens 0 … n-1. The model's embedding gets a row for every id
 * up to the largest, so one stray id (2^40) would otherwise be accepted here and fail much
 * later as an allocation of terabytes, far from the file that caused it.
 */
export function checkIdsDense(file: string, vocab: Map<string, number>, where: string, addedTokens: AddedTokenJson[] = []): void {
  const count = vocab.size + addedTokens.filter((t) => vocab.get(t.content) !== t.id).length;
  const outOfRange = (token: string, id: number): Error =>
    malformed(file, `${token} has id ${id}, but the file defines ${count} tokens, so the ids must run from 0 to ${count - 1}`);
  for (const [token, id] of vocab) if (id >= count) throw outOfRange(`${where}[${JSON.stringify(token)}]`, id);
  addedTokens.forEach((t, i) => {
    if (t.id >= count) throw outOfRange(`added_tokens[${i}] (${JSON.stringify(t.content)})`, t.id);
  });
}

/** Hugging Face's rule (MergeTokenOutOfVocabulary): both halves and their concatenation are tokens. */
function checkMerge(vocab: Map<string, number>, a: string, b: string, file: string, where: string): void {
  for (const token of [a, b, a + b]) {
    if (!vocab.has(token))
      throw malformed(
        file,
        `${where} merges ${JSON.stringify(a)} + ${JSON.stringify(b)}, but ${JSON.stringify(token)} is not in the vocabulary`,
      );
  }
}

/** tokenizer.json's model.merges: each entry "left right" or ["left", "right"], checked before the tokenizers library reads it. */
export function parseMerges(merges: unknown, file: string): [string, string][] {
  if (!Array.isArray(merges)) throw malformed(file, `model.merges must be an array, got ${merges === null ? 'null' : typeof merges}`);
  return merges.map((m: unknown, i): [string, string] => {
    let pair: unknown[] | undefined;
    if (typeof m === 'string') pair = m.split(' ');
    else if (Array.isArray(m)) pair = m;
    const ok = pair?.length === 2 && pair.every((p) => typeof p === 'string' && p !== '' && !p.includes(' '));
    if (!ok)
      throw malformed(file, `model.merges[${i}] is ${JSON.stringify(m)}, expected a string "left right" or a pair ["left", "right"]`);
    return pair as [string, string];
  });
}

/** Parses merges.txt: an optional "#version" line, then one "left right" pair per line. */
export function parseMergesTxt(text: string, vocab: Map<string, number>, file: string): [string, string][] {
  const merges: [string, string][] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.startsWith('#version') || line === '') return;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw malformed(file, `line ${i + 1} is ${JSON.stringify(line)}, expected two tokens separated by one space`);
    }
    const pair = parts as [string, string];
    checkMerge(vocab, pair[0], pair[1], file, `line ${i + 1}`);
    merges.push(pair);
  });
  return merges;
}

export function parseVocabJson(json: unknown, file: string): Map<string, number> {
  const vocab = parseVocab(json, file, 'the vocabulary');
  checkIdsDense(file, vocab, 'the vocabulary');
  return vocab;
}

export function parseAddedTokens(json: unknown, vocab: Map<string, number>, file: string): AddedTokenJson[] {
  if (json === undefined || json === null) return [];
  if (!Array.isArray(json)) throw malformed(file, '"added_tokens" must be an array');
  const byId = new Map<number, string>();
  const vocabIds = new Set(vocab.values());
  return json.map((entry: unknown, i) => {
    const where = `added_tokens[${i}]`;
    if (!isObject(entry) || !isId(entry.id) || typeof entry.content !== 'string' || entry.content === '') {
      throw malformed(file, `${where} must be an object with an integer "id" and a non-empty string "content"`);
    }
    const { id, content } = entry;
    const vocabId = vocab.get(content);
    if (vocabId !== undefined && vocabId !== id)
      throw malformed(file, `${where} gives ${JSON.stringify(content)} id ${id}, but the vocabulary gives it ${vocabId}`);
    if (vocabId === undefined && vocabIds.has(id))
      throw malformed(file, `${where} gives ${JSON.stringify(content)} id ${id}, which a vocabulary token already has`);
    if (byId.has(id)) throw malformed(file, `${where}: id ${id} is used by two added tokens`);
    byId.set(id, content);
    return { ...entry, id, content } as AddedTokenJson;
  });
}

/** The largest id of a vocabulary and its added tokens. */
export function largestId(vocab: Map<string, number>, addedTokens: readonly AddedTokenJson[]): number {
  let maxId = 0; // a loop: spreading a 150k-entry vocabulary into Math.max can overflow the stack
  for (const id of vocab.values()) maxId = Math.max(maxId, id);
  for (const t of addedTokens) maxId = Math.max(maxId, t.id);
  return maxId;
}

/** An added_tokens entry for a special token matched as written (e.g. an added PAD). */
export function specialAddedToken(id: number, content: string): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** The tokenizer.json Hugging Face writes for GPT-2, built from vocab.json + merges.txt. */
export function assembleTokenizerJson(vocab: Map<string, number>, merges: [string, string][]): Record<string, unknown> {
  const eosId = vocab.get(EOS_TEXT);
  const addedTokens: AddedTokenJson[] = eosId === undefined ? [] : [{ ...specialAddedToken(eosId, EOS_TEXT), normalized: true }];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

function checkComponent(
  json: Record<string, unknown>,
  key: string,
  allowed: readonly (string | null)[],
  file: string,
): Record<string, unknown> | null {
  const value = json[key] ?? null;
  const type = isObject(value) ? value.type : null;
  if (value !== null && !isObject(value)) throw malformed(file, `"${key}" must be an object or null`);
  if (!allowed.includes(type as string | null)) {
    throw new Error(
      `Unsupported tokenizer file ${file}: "${key}" is ${JSON.stringify(type)}, but a GPT-2 byte-level BPE needs ` +
        `${allowed.map((a) => JSON.stringify(a)).join(' or ')}`,
    );
  }
  return value as Record<string, unknown> | null;
}

/** Validates a parsed tokenizer.json as a GPT-2-style byte-level BPE. */
export function parseTokenizerJson(json: unknown, file: string): BpeData {
  if (!isObject(json)) throw malformed(file, 'expected a JSON object');
  const model = json.model;
  if (!isObject(model)) throw malformed(file, '"model" must be an object');
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new Error(`Unsupported tokenizer file ${file}: model type ${JSON.stringify(model.type)}, but GPT2Tokenizer needs "BPE"`);
  }
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    const v = model[key];
    if (v !== undefined && v !== null && v !== '')
      throw new Error(`Unsupported tokenizer file ${file}: model.${key} ${JSON.stringify(v)} is not used by GPT-2 byte-level BPE`);
  }
  checkComponent(json, 'normalizer', [null], file);
  const pre = checkComponent(json, 'pre_tokenizer', ['ByteLevel'], file);
  if (pre?.use_regex === false)
    throw new Error(`Unsupported tokenizer file ${file}: pre_tokenizer.use_regex false (GPT-2 splits text with its regex)`);
  checkComponent(json, 'decoder', [null, 'ByteLevel'], file);
  checkComponent(json, 'post_processor', [null, 'ByteLevel'], file);

  const vocab = parseVocab(model.vocab, file, 'model.vocab');
  const merges = parseMerges(model.merges, file).map(([a, b], i): [string, string] => {
    checkMerge(vocab, a, b, file, `model.merges[${i}]`);
    return [a, b];
  });
  const addedTokens = parseAddedTokens(json.added_tokens, vocab, file);
  checkIdsDense(file, vocab, 'model.vocab', addedTokens);
  return {
    vocab,
    merges,
    addedTokens,
    addPrefixSpace: pre?.add_prefix_space === true,
    ignoreMerges: model.ignore_merges === true,
    tokenizerJson: json,
  };
}

/** vocab.json text, ids in order. */
export function formatVocabJson(vocab: Map<string, number>): string {
  const entries = [...vocab].sort((x, y) => x[1] - y[1]);
  return JSON.stringify(Object.fromEntries(entries)) + '\n';
}

export function formatMergesTxt(merges: [string, string][]): string {
  return '#version: 0.2\n' + merges.map(([a, b]) => `${a} ${b}\n`).join('');
}
