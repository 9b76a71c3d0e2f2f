// The files beside a Hugging Face tokenizer.json that say which tokens are BOS, EOS and PAD and
// how conversations are written: tokenizer_config.json (bos_token, eos_token, pad_token,
// chat_template), chat_template.jinja (the template in a file of its own, which recent
// transformers versions write and which then wins) and generation_config.json (bos_token_id,
// eos_token_id — one id or a list of stop ids —, pad_token_id). Every file is optional; what a
// file holds is checked here, with errors naming the file and the key.
//
// The rules follow transformers: a key of tokenizer_config.json decides when present (null
// meaning "none", as Qwen2's bos_token), generation_config.json's id otherwise; the tokenizer's
// EOS is the one tokenizer_config.json names (Llama 3.1 Instruct: <|eot_id|>, the end of a turn)
// or else the first of generation_config.json's list, and every id of that list stops
// generation. The PAD must differ from all of those, so that padding can be masked without
// masking a real end of answer; when the files give none that qualifies, one is chosen or added
// as GPT2Tokenizer does (special-tokens.ts).
import { join } from 'node:path';
import { isObject, malformed } from './bpe-files.js';
import { CHAT_TEMPLATE_JINJA, GENERATION_CONFIG_JSON, TOKENIZER_CONFIG_JSON, fileExists, readJsonFile, readTextFile } from './files.js';
import { type PadChoice, choosePad } from './special-tokens.js';

export interface ChatTemplateSource {
  text: string;
  /** The file it came from, for errors. */
  file: string;
  /** True when it came from chat_template.jinja (save writes it back there). */
  ownFile: boolean;
}

export interface HFConfigFiles {
  dir: string;
  /** tokenizer_config.json as read (its other fields are written back by save), or {} when absent. */
  tokenizerConfig: Record<string, unknown>;
  /** generation_config.json as read, or undefined when absent. */
  generationConfig: Record<string, unknown> | undefined;
  chatTemplate: ChatTemplateSource | undefined;
}

async function readObjectIfPresent(path: string): Promise<Record<string, unknown> | undefined> {
  if (!(await fileExists(path))) return undefined;
  const json = await readJsonFile(path);
  if (!isObject(json)) throw malformed(path, 'expected a JSON object');
  return json;
}

/**
 * tokenizer_config.json's chat_template: a string, or transformers' list of named templates
 * [{name, template}] (or an object name -> template), of which the one named "default" is used.
 */
function chatTemplateText(value: unknown, file: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  const named = Array.isArray(value)
    ? value.map((t: unknown, i) => {
        if (!isObject(t) || typeof t.name !== 'string' || typeof t.template !== 'string') {
          throw malformed(file, `chat_template[${i}] must be an object {"name": string, "template": string}`);
        }
        return [t.name, t.template] as const;
      })
    : isObject(value)
      ? Object.entries(value)
      : undefined;
  if (named === undefined) throw malformed(file, 'chat_template must be a string, or a list of {"name", "template"}');
  const found = named.find(([name]) => name === 'default');
  if (found === undefined || typeof found[1] !== 'string') {
    throw malformed(file, `chat_template lists templates ${named.map(([n]) => JSON.stringify(n)).join(', ')} but none named "default"`);
  }
  return found[1];
}

/** Reads whichever of tokenizer_config.json, chat_template.jinja and generation_config.json `dir` holds. */
export async function readHFConfigFiles(dir: string): Promise<HFConfigFiles> {
  const configPath = join(dir, TOKENIZER_CONFIG_JSON);
  const jinjaPath = join(dir, CHAT_TEMPLATE_JINJA);
  const [tokenizerConfig, generationConfig] = await Promise.all([
    readObjectIfPresent(configPath),
    readObjectIfPresent(join(dir, GENERATION_CONFIG_JSON)),
  ]);
  let chatTemplate: ChatTemplateSource | undefined;
  if (await fileExists(jinjaPath)) {
    chatTemplate = { text: await readTextFile(jinjaPath), file: jinjaPath, ownFile: true };
  } else {
    const text = chatTemplateText(tokenizerConfig?.chat_template, configPath);
    if (text !== undefined) chatTemplate = { text, file: configPath, ownFile: false };
  }
  return { dir, tokenizerConfig: tokenizerConfig ?? {}, generationConfig, chatTemplate };
}

/** A special token of tokenizer_config.json: "text" or an AddedToken object {"content": "text", …}; null: none. */
export function tokenConfigText(value: unknown, file: string, key: string): string | null {
  if (value === null || typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  throw malformed(file, `"${key}" must be a string, null or an object with a string "content" (got ${JSON.stringify(value)})`);
}

/** A token id of generation_config.json: an id, a list of ids (eos_token_id), or null. */
function generationIds(config: Record<string, unknown>, key: string, file: string, vocabSize: number): number[] | null {
  const value = config[key];
  if (value === null) return null;
  const ids = Array.isArray(value) ? value : [value];
  for (const id of ids) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= vocabSize) {
      throw malformed(
        file,
        `"${key}" is ${JSON.stringify(value)}; expected ${key === 'eos_token_id' ? 'an id or a list of ids' : 'an id'} of the ` +
          `tokenizer, below ${vocabSize}`,
      );
    }
  }
  if (ids.length === 0) throw malformed(file, `"${key}" is an empty list`);
  return ids as number[];
}

/** How the tokenizer's ids and texts are looked up; maxId is the largest id of tokenizer.json. */
export interface VocabLookup {
  idOf(text: string): number | undefined;
  textOf(id: number): string | undefined;
  maxId: number;
  /** tokenizer.json's path, for errors about a token it lacks. */
  file: string;
}

export interface SpecialToken {
  id: number;
  text: string;
}

export interface SpecialTokens {
  bos: SpecialToken | undefined;
  eos: SpecialToken;
  /** EOS first, then the other ids of generation_config.json's eos_token_id. */
  stopTokenIds: number[];
  pad: PadChoice;
  /** The text of tokenizer_config.json's unk_token, when it names one. */
  unk: string | undefined;
  /** tokenizer_config.json's additional_special_tokens. */
  additional: SpecialToken[];
}

/** BOS, EOS, the stop ids and PAD, by the rules at the top of this file. */
export function resolveSpecialTokens(files: HFConfigFiles, vocab: VocabLookup): SpecialTokens {
  const configPath = join(files.dir, TOKENIZER_CONFIG_JSON);
  const generationPath = join(files.dir, GENERATION_CONFIG_JSON);
  const config = files.tokenizerConfig;
  const generation = files.generationConfig ?? {};

  /** The text of a token tokenizer_config.json names: null when the key says none, undefined when absent. */
  const namedText = (key: string): string | null | undefined =>
    Object.hasOwn(config, key) ? tokenConfigText(config[key], configPath, key) : undefined;
  const named = (key: string): SpecialToken | null | undefined => {
    const text = namedText(key);
    if (text === null || text === undefined) return text;
    const id = vocab.idOf(text);
    if (id === undefined) throw malformed(configPath, `"${key}" is ${JSON.stringify(text)}, which is not a token of ${vocab.file}`);
    return { id, text };
  };
  const fromGeneration = (key: string): number[] | null | undefined =>
    Object.hasOwn(generation, key) ? generationIds(generation, key, generationPath, vocab.maxId + 1) : undefined;
  const token = (id: number): SpecialToken => ({ id, text: vocab.textOf(id) as string });

  const bosNamed = named('bos_token');
  const bosIds = bosNamed === undefined ? fromGeneration('bos_token_id') : undefined;
  const bos = bosNamed ?? (bosIds ? token(bosIds[0] as number) : undefined);

  const eosIds = fromGeneration('eos_token_id') ?? [];
  const eos = named('eos_token') ?? (eosIds.length > 0 ? token(eosIds[0] as number) : undefined);
  if (eos === undefined) {
    throw new Error(
      `Cannot find the EOS token of ${vocab.file}: neither ${configPath}'s "eos_token" nor ${generationPath}'s "eos_token_id" names one`,
    );
  }
  const stopTokenIds = [...new Set([eos.id, ...eosIds])];

  const padText = namedText('pad_token');
  const padIds = padText === undefined ? fromGeneration('pad_token_id') : undefined;
  const preferred = padText ?? (padIds ? vocab.textOf(padIds[0] as number) : undefined);
  const pad = choosePad(vocab.idOf, vocab.maxId, new Set(stopTokenIds), preferred);

  const list = config.additional_special_tokens ?? [];
  if (!Array.isArray(list)) throw malformed(configPath, '"additional_special_tokens" must be a list');
  const additional = list.map((value: unknown, i): SpecialToken => {
    const key = `additional_special_tokens[${i}]`;
    const text = tokenConfigText(value, configPath, key);
    const id = text === null ? undefined : vocab.idOf(text);
    if (id === undefined) throw malformed(configPath, `${key} is ${JSON.stringify(text)}, which is not a token of ${vocab.file}`);
    return { id, text: text as string };
  });
  return { bos: bos ?? undefined, eos, stopTokenIds, pad, unk: namedText('unk_token') ?? undefined, additional };
}
