// HFTokenizer: any Hugging Face tokenizer.json — Llama's SentencePiece BPE (byte fallback,
// Metaspace), Qwen2's and Llama 3's byte-level BPE, with their added and special tokens —
// with BOS, EOS, PAD and the chat template from the files beside it (hf-config.ts).
//
// The pipeline (normalizer, pre-tokenizer, model, post-processor, decoder) is
// @huggingface/tokenizers, Hugging Face's JavaScript port of their tokenizers, given the file
// as it is, so that ids are transformers' ids. Around it this class does what we need
// differently:
// - special-token text is ordinary text unless allowSpecialTokens is set. The library always
//   matches added tokens, so text that holds a special token's text is encoded by a second
//   instance that knows only the non-special added tokens (built on first need): what
//   transformers does with split_special_tokens=True;
// - BOS, EOS and PAD are special added tokens even where tokenizer.json lists them only in the
//   vocabulary (transformers adds them so too), and a PAD distinct from every stop id is added
//   when the files have none (see hf-config.ts);
// - decode skips ids without a token (as transformers does) and never cleans up tokenization
//   spaces (" ," -> ","), which would change the text, as GPT2Tokenizer.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { join } from 'node:path';
import {
  type AddedTokenJson,
  checkIdsDense,
  isObject,
  largestId,
  malformed,
  parseAddedTokens,
  parseMerges,
  parseVocabObject,
  specialAddedToken,
} from './bpe-files.js';
import {
  BYTE_TOKENIZER_JSON,
  CHAT_TEMPLATE_JINJA,
  GENERATION_CONFIG_JSON,
  TOKENIZER_CONFIG_JSON,
  TOKENIZER_JSON,
  fileExists,
  prepareSaveDir,
  readJsonFile,
  writeFileAtomic,
} from './files.js';
import { type HFConfigFiles, type SpecialToken, type SpecialTokens, readHFConfigFiles, resolveSpecialTokens } from './hf-config.js';
import { type ChatTemplate, JinjaChatTemplate } from './jinja-template.js';
import { SpecialTokenSplitter, knownTokenIds } from './special-tokens.js';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './tokenizer.js';

const MODEL_TYPES = ['BPE', 'Unigram', 'WordPiece'];

/** The vocabulary of tokenizer.json's model: token -> id (Unigram lists [piece, score] pairs, ids in order). */
function parseModelVocab(model: Record<string, unknown>, file: string): Map<string, number> {
  if (model.type !== undefined && !MODEL_TYPES.includes(model.type as string)) {
    throw new Error(`Unsupported tokenizer file ${file}: model type ${JSON.stringify(model.type)} (supported: ${MODEL_TYPES.join(', ')})`);
  }
  if (!Array.isArray(model.vocab)) return parseVocabObject(model.vocab, file, 'model.vocab');
  const vocab = new Map<string, number>();
  model.vocab.forEach((entry: unknown, id) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw malformed(file, `model.vocab[${id}] must be a [piece, score] pair`);
    if (vocab.has(entry[0])) throw malformed(file, `model.vocab[${id}]: ${JSON.stringify(entry[0])} is listed twice`);
    vocab.set(entry[0], id);
  });
  if (vocab.size === 0) throw malformed(file, 'model.vocab is empty');
  return vocab;
}

/**
 * tokenizer.json's added tokens with BOS, EOS, PAD and the config's additional special tokens
 * made special (added where the file lists them only in the vocabulary, or not at all: a new
 * PAD), and the other stop ids special where the file lists them as added tokens.
 */
function withSpecialFlags(fileTokens: readonly AddedTokenJson[], special: SpecialTokens): AddedTokenJson[] {
  const tokens = fileTokens.map((t) => ({ ...t }));
  const named: SpecialToken[] = [special.eos, { id: special.pad.id, text: special.pad.text }, ...special.additional];
  if (special.bos) named.push(special.bos);
  for (const { id, text } of named) {
    const entry = tokens.find((t) => t.id === id);
    if (entry) entry.special = true;
    else tokens.push(specialAddedToken(id, text));
  }
  for (const t of tokens) if (special.stopTokenIds.includes(t.id)) t.special = true;
  return tokens;
}

export class HFTokenizer implements Tokenizer {
  readonly kind = 'hf' as const;
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  readonly bosToken: string | undefined;
  readonly eosTokenId: number;
  readonly eosToken: string;
  readonly stopTokenIds: readonly number[];
  readonly padTokenId: number;
  readonly padToken: string;
  /**
   * True when the files give no PAD distinct from the stop ids and one was added at id
   * vocabSize - 1: the model's embedding and LM head lack that row and must grow to vocabSize.
   * save() writes the PAD into the files, so a tokenizer loaded back reports false.
   */
  readonly addedPadToken: boolean;
  readonly chatTemplate: ChatTemplate | undefined;

  private readonly file: string;
  private readonly tokenizerJson: Record<string, unknown>;
  private readonly addedTokens: AddedTokenJson[];
  private readonly files: HFConfigFiles;
  private readonly main: HfTokenizer;
  private plain: HfTokenizer | undefined;
  private readonly splitter: SpecialTokenSplitter;
  /** True when some special token is matched after normalization, so the normalized text must be searched too. */
  private readonly normalizedSpecials: boolean;
  /** What tokenizer.json's post-processor puts around a text (Llama: BOS before it), for addSpecialTokens. */
  private readonly prefix: number[];
  private readonly suffix: number[];

  private constructor(json: unknown, file: string, files: HFConfigFiles) {
    if (!isObject(json)) throw malformed(file, 'expected a JSON object');
    if (!isObject(json.model)) throw malformed(file, '"model" must be an object');
    const vocab = parseModelVocab(json.model, file);
    if (json.model.type === 'BPE' || json.model.merges !== undefined) parseMerges(json.model.merges, file);
    const fileTokens = parseAddedTokens(json.added_tokens, vocab, file);
    checkIdsDense(file, vocab, 'model.vocab', fileTokens);
    const maxId = largestId(vocab, fileTokens);
    const byContent = new Map(fileTokens.map((t) => [t.content, t]));
    const textOfId: string[] = [];
    for (const [text, id] of vocab) textOfId[id] = text;
    for (const t of fileTokens) textOfId[t.id] = t.content;
    const idOf = (text: string): number | undefined => byContent.get(text)?.id ?? vocab.get(text);

    const special = resolveSpecialTokens(files, { idOf, textOf: (id) => textOfId[id], maxId, file });
    this.bosTokenId = special.bos?.id;
    this.bosToken = special.bos?.text;
    this.eosTokenId = special.eos.id;
    this.eosToken = special.eos.text;
    this.stopTokenIds = special.stopTokenIds;
    this.padTokenId = special.pad.id;
    this.padToken = special.pad.text;
    this.addedPadToken = special.pad.added;
    this.vocabSize = Math.max(maxId, special.pad.id) + 1;

    this.file = file;
    this.files = files;
    this.addedTokens = withSpecialFlags(fileTokens, special);
    this.tokenizerJson = { ...json, added_tokens: this.addedTokens };
    const specials = this.addedTokens.filter((t) => t.special === true);
    this.splitter = new SpecialTokenSplitter(new Map(specials.map((t) => [t.content, t.id])));
    this.main = this.library(this.addedTokens);
    this.normalizedSpecials = this.main.normalizer !== null && specials.some((t) => t.normalized === true);
    [this.prefix, this.suffix] = this.postProcessorTokens();

    const variables: Record<string, string> = { eos_token: this.eosToken, pad_token: this.padToken };
    if (this.bosToken !== undefined) variables.bos_token = this.bosToken;
    if (special.unk !== undefined) variables.unk_token = special.unk;
    this.chatTemplate =
      files.chatTemplate &&
      new JinjaChatTemplate(
        files.chatTemplate.text,
        files.chatTemplate.file,
        variables,
        specials.map((t) => t.content),
      );
  }

  /** The library's tokenizer of tokenizer.json with `addedTokens`, and `parts` replaced. */
  private construct(addedTokens: AddedTokenJson[], parts: Record<string, null> = {}): HfTokenizer {
    return new HfTokenizer(
      {
        normalizer: null,
        pre_tokenizer: null,
        post_processor: null,
        decoder: null,
        ...this.tokenizerJson,
        added_tokens: addedTokens,
        ...parts,
      },
      { clean_up_tokenization_spaces: false, eos_token: this.eosToken }, // a Unigram model reads its EOS here
    );
  }

  private library(addedTokens: AddedTokenJson[]): HfTokenizer {
    try {
      return this.construct(addedTokens);
    } catch (e) {
      throw new Error(`Unsupported tokenizer file ${this.file}: ${this.culprit(addedTokens)}${(e as Error).message}`);
    }
  }

  /**
   * Which part of tokenizer.json the library failed on ("pre_tokenizer (Split): "), found by
   * building it again without each part in turn: the library's own messages ("x.split is not a
   * function") name none. Empty when no single part is to blame.
   */
  private culprit(addedTokens: AddedTokenJson[], probe: (t: HfTokenizer) => unknown = () => {}): string {
    for (const part of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const) {
      const value = this.tokenizerJson[part];
      if (value === null || value === undefined) continue;
      try {
        probe(this.construct(addedTokens, { [part]: null }));
      } catch {
        continue;
      }
      const type = isObject(value) && typeof value.type === 'string' ? ` (${value.type})` : '';
      return `its "${part}"${type} holds a value of the wrong type or shape (compare it with what Hugging Face tokenizers writes): `;
    }
    return '';
  }

  /**
   * `use(tokenizer)` on the library's tokenizer (`plain`: the one without special tokens), with a
   * failure of the library (a TypeError from a value of the wrong type in the file, met only now)
   * reported as `who`'s, naming the file and the part of it to blame.
   */
  private withLibrary<T>(who: string, use: (t: HfTokenizer) => T, plain = false): T {
    const t = plain ? this.plainLibrary() : this.main;
    try {
      return use(t);
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
      const added = plain ? this.addedTokens.filter((a) => a.special !== true) : this.addedTokens;
      throw new Error(`${who}: the tokenizers library failed on ${this.file}: ${this.culprit(added, use)}${e.message}`, { cause: e });
    }
  }

  /** The ids the post-processor adds before and after a text, found by encoding "a" with and without them. */
  private postProcessorTokens(): [number[], number[]] {
    const [bare, full] = this.withLibrary('HFTokenizer', (t) =>
      [false, true].map((add_special_tokens): number[] => t.encode('a', { add_special_tokens }).ids),
    ) as [number[], number[]];
    for (let i = 0; i + bare.length <= full.length; i++) {
      if (bare.every((id, j) => full[i + j] === id)) return [full.slice(0, i), full.slice(i + bare.length)];
    }
    throw new Error(
      `Unsupported tokenizer file ${this.file}: its post-processor changes the text's own tokens, not only adds special tokens around them`,
    );
  }

  /** Loads tokenizer.json from `dir` with the config files beside it (either given when already read). */
  static async fromDir(dir: string, tokenizerJson?: unknown, files?: HFConfigFiles): Promise<HFTokenizer> {
    const file = join(dir, TOKENIZER_JSON);
    const json = tokenizerJson ?? (await readJsonFile(file));
    return new HFTokenizer(json, file, files ?? (await readHFConfigFiles(dir)));
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`HFTokenizer.encode: text must be a string, got ${typeof text}`);
    const mayForge =
      !options.allowSpecialTokens &&
      (this.splitter.has(text) || (this.normalizedSpecials && this.splitter.has(this.main.normalizer!(text) as string)));
    const encoded: (number | undefined)[] = this.withLibrary(
      'HFTokenizer.encode',
      (t) => t.encode(text, { add_special_tokens: false }).ids,
      mayForge,
    );
    // undefined: the model has no token for some piece of the text, and no unknown token to stand for it.
    if (encoded.some((id) => typeof id !== 'number'))
      throw new Error(
        `HFTokenizer.encode: no token id for part of ${JSON.stringify(text.slice(0, 50))}, and the tokenizer has no unknown token`,
      );
    return options.addSpecialTokens ? [...this.prefix, ...(encoded as number[]), ...this.suffix] : (encoded as number[]);
  }

  /** The instance that matches only the non-special added tokens, for text that must not yield special ids. */
  private plainLibrary(): HfTokenizer {
    this.plain ??= this.library(this.addedTokens.filter((t) => t.special !== true));
    return this.plain;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const known = knownTokenIds(ids, (id) => id < this.vocabSize, 'HFTokenizer');
    if (known.length === 0) return '';
    return this.withLibrary('HFTokenizer.decode', (t) =>
      t.decode(known, { skip_special_tokens: options.skipSpecialTokens === true, clean_up_tokenization_spaces: false }),
    );
  }

  /**
   * Writes tokenizer.json (with the added PAD, if any), tokenizer_config.json (its fields as
   * read, with bos_token, eos_token and pad_token set), chat_template.jinja when the template
   * came from one, and generation_config.json: the one already in `dir` (a model's) or the one
   * read, with bos_token_id, eos_token_id (the stop ids) and pad_token_id set.
   */
  async save(dir: string): Promise<void> {
    await prepareSaveDir(dir, [BYTE_TOKENIZER_JSON], 'Hugging Face');
    const json = (path: string, value: unknown): Promise<void> => writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
    await json(join(dir, TOKENIZER_JSON), this.tokenizerJson);

    const config: Record<string, unknown> = { ...this.files.tokenizerConfig, eos_token: this.eosToken, pad_token: this.padToken };
    if (this.bosToken !== undefined) config.bos_token = this.bosToken;
    if (this.addedPadToken && isObject(config.added_tokens_decoder)) {
      const { id, ...pad } = specialAddedToken(this.padTokenId, this.padToken);
      config.added_tokens_decoder = { ...config.added_tokens_decoder, [id]: pad };
    }
    await json(join(dir, TOKENIZER_CONFIG_JSON), config);
    if (this.chatTemplate && this.files.chatTemplate?.ownFile)
      await writeFileAtomic(join(dir, CHAT_TEMPLATE_JINJA), this.chatTemplate.text);

    const generationPath = join(dir, GENERATION_CONFIG_JSON);
    const existing = (await fileExists(generationPath)) ? await readJsonFile(generationPath) : this.files.generationConfig;
    const generation: Record<string, unknown> = {
      ...(isObject(existing) ? existing : {}),
      eos_token_id: this.stopTokenIds.length === 1 ? this.eosTokenId : [...this.stopTokenIds],
      pad_token_id: this.padTokenId,
    };
    if (this.bosTokenId !== undefined) generation.bos_token_id = this.bosTokenId;
    await json(generationPath, generation);
  }
}
