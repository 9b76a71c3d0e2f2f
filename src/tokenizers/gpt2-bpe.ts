// GPT2Tokenizer: GPT-2's byte-level BPE, loaded from vocab.json + merges.txt or tokenizer.json.
//
// The BPE itself (the GPT-2 pre-tokenizer regex, byte -> unicode mapping, rank-ordered merges
// with a cache, byte-level decoding) is @huggingface/tokenizers, Hugging Face's pure-JS port of
// their tokenizers: no native code, no network (it takes the parsed JSON; we read the files), and
// it gives exactly the ids of OpenAI's reference encoder.py on test/fixtures/gpt2-tiny. Around
// it this class does what that library does differently from what we need:
// - special-token text ("<|endoftext|>") is ordinary text unless allowSpecialTokens is set
//   (the library always turns added tokens into their ids, so we give it only the non-special
//   ones and split specials out ourselves);
// - a PAD distinct from EOS (GPT-2 has none, see below);
// - decode skips ids without a token (as transformers does), and never applies "clean up
//   tokenization spaces", which would change the text (" ," -> ",") and break round trips.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { join } from 'node:path';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './tokenizer.js';
import {
  type AddedTokenJson,
  type BpeData,
  largestId,
  specialAddedToken,
  EOS_TEXT,
  assembleTokenizerJson,
  formatMergesTxt,
  formatVocabJson,
  parseMergesTxt,
  parseTokenizerJson,
  parseVocabJson,
} from './bpe-files.js';
import {
  BYTE_TOKENIZER_JSON,
  MERGES_TXT,
  TOKENIZER_JSON,
  VOCAB_JSON,
  fileExists,
  prepareSaveDir,
  readJsonFile,
  readTextFile,
  writeFileAtomic,
} from './files.js';
import { SpecialTokenSplitter, choosePad, knownTokenIds } from './special-tokens.js';

export class GPT2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2-bpe' as const;
  readonly vocabSize: number;
  /** GPT-2 has no BOS of its own (Hugging Face's GPT-2 adds nothing before the text), so none. */
  readonly bosTokenId: number | undefined = undefined;
  readonly eosTokenId: number;
  readonly stopTokenIds: readonly number[];
  readonly padTokenId: number;
  readonly eosToken = EOS_TEXT;
  readonly padToken: string;
  /**
   * True when the files define no PAD and one was added at id vocabSize - 1 (one past the
   * largest id in the files). The model's embedding and LM head were trained without that row,
   * so the caller must grow them to vocabSize. save() writes the PAD into tokenizer.json, so a
   * tokenizer loaded back from it reports false (and the same PAD id).
   */
  readonly addedPadToken: boolean;

  private readonly hf: HfTokenizer;
  private readonly idToToken: (string | undefined)[] = [];
  /** Added tokens (and EOS/PAD), decoded as their own text rather than through the byte decoder. */
  private readonly literalText = new Map<number, string>();
  private readonly specialIds = new Set<number>();
  private readonly splitter: SpecialTokenSplitter;
  private readonly data: BpeData;

  private constructor(data: BpeData, source: string) {
    const { vocab, addedTokens } = data;
    const idOf = (text: string): number | undefined => addedTokens.find((t) => t.content === text)?.id ?? vocab.get(text);

    const eos = idOf(EOS_TEXT);
    if (eos === undefined) throw new Error(`Unsupported tokenizer ${source}: it has no ${EOS_TEXT} token, which GPT2Tokenizer uses as EOS`);
    this.eosTokenId = eos;
    this.stopTokenIds = [eos];

    const maxId = largestId(vocab, addedTokens);
    const pad = choosePad(idOf, maxId, new Set([eos]));
    this.padToken = pad.text;
    this.padTokenId = pad.id;
    this.addedPadToken = pad.added;
    const tokens = pad.added ? [...addedTokens, specialAddedToken(pad.id, pad.text)] : addedTokens;
    this.vocabSize = Math.max(maxId, pad.id) + 1;
    this.data = { ...data, addedTokens: tokens, tokenizerJson: { ...data.tokenizerJson, added_tokens: tokens } };

    for (const [token, id] of vocab) this.idToToken[id] = token;
    const specialByText = new Map<string, number>();
    for (const t of tokens) {
      this.idToToken[t.id] = t.content;
      this.literalText.set(t.id, t.content);
      if (t.special === true) specialByText.set(t.content, t.id);
    }
    // EOS and PAD are special even where a file says otherwise (or lists them only in the vocab).
    for (const [text, id] of [
      [EOS_TEXT, this.eosTokenId],
      [this.padToken, this.padTokenId],
    ] as const) {
      this.literalText.set(id, text);
      specialByText.set(text, id);
    }
    for (const id of specialByText.values()) this.specialIds.add(id);
    this.splitter = new SpecialTokenSplitter(specialByText);

    // The library gets a clean GPT-2 pipeline built from the validated data, not the raw file:
    // only the non-special added tokens, which Hugging Face always matches in text.
    this.hf = new HfTokenizer(
      {
        normalizer: null,
        pre_tokenizer: { type: 'ByteLevel', add_prefix_space: data.addPrefixSpace, trim_offsets: true, use_regex: true },
        model: {
          type: 'BPE',
          vocab: Object.fromEntries(vocab),
          merges: data.merges,
          unk_token: null,
          ignore_merges: data.ignoreMerges,
        },
        post_processor: null,
        decoder: { type: 'ByteLevel' },
        added_tokens: tokens.filter((t) => !this.specialIds.has(t.id)),
      },
      { clean_up_tokenization_spaces: false },
    );
  }

  /** Loads GPT-2's original files: vocab.json (token -> id) and merges.txt (ranked pairs). */
  static async fromFiles(vocabJsonPath: string, mergesTxtPath: string): Promise<GPT2Tokenizer> {
    const vocab = parseVocabJson(await readJsonFile(vocabJsonPath), vocabJsonPath);
    const merges = parseMergesTxt(await readTextFile(mergesTxtPath), vocab, mergesTxtPath);
    const tokenizerJson = assembleTokenizerJson(vocab, merges);
    return new GPT2Tokenizer(
      {
        vocab,
        merges,
        addedTokens: tokenizerJson.added_tokens as AddedTokenJson[],
        addPrefixSpace: false,
        ignoreMerges: false,
        tokenizerJson,
      },
      `${vocabJsonPath} + ${mergesTxtPath}`,
    );
  }

  /** Loads a Hugging Face tokenizer.json describing a GPT-2 style byte-level BPE (`json`: its content, when already read). */
  static async fromTokenizerJson(path: string, json?: unknown): Promise<GPT2Tokenizer> {
    return new GPT2Tokenizer(parseTokenizerJson(json ?? (await readJsonFile(path)), path), path);
  }

  /** tokenizer.json if `dir` has one, else vocab.json + merges.txt. */
  static async fromDir(dir: string): Promise<GPT2Tokenizer> {
    if (await fileExists(join(dir, TOKENIZER_JSON))) return GPT2Tokenizer.fromTokenizerJson(join(dir, TOKENIZER_JSON));
    const [hasVocab, hasMerges] = await Promise.all([fileExists(join(dir, VOCAB_JSON)), fileExists(join(dir, MERGES_TXT))]);
    if (hasVocab && hasMerges) return GPT2Tokenizer.fromFiles(join(dir, VOCAB_JSON), join(dir, MERGES_TXT));
    throw new Error(`Cannot load a GPT-2 tokenizer from ${dir}: expected ${TOKENIZER_JSON}, or ${VOCAB_JSON} + ${MERGES_TXT}`);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`GPT2Tokenizer.encode: text must be a string, got ${typeof text}`);
    // addSpecialTokens adds nothing: GPT-2 has no BOS (see bosTokenId).
    const ids: number[] = [];
    const segments = options.allowSpecialTokens ? this.splitter.split(text) : [text];
    for (const segment of segments) {
      if (typeof segment === 'number') {
        ids.push(segment);
        continue;
      }
      if (segment === '') continue;
      for (const id of this.hf.encode(segment, { add_special_tokens: false }).ids) {
        // Cannot happen with a validated vocabulary (every byte is a token); guards the library.
        if (typeof id !== 'number')
          throw new Error(`GPT2Tokenizer.encode: no token id for part of ${JSON.stringify(segment.slice(0, 50))}`);
        ids.push(id);
      }
    }
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    ids = knownTokenIds(ids, (id) => this.literalText.has(id) || this.idToToken[id] !== undefined, 'GPT2Tokenizer');
    let text = '';
    let run: number[] = [];
    const flush = (): void => {
      // Runs go through the byte-level decoder together, so multi-byte characters split over
      // several tokens come out whole; invalid UTF-8 becomes U+FFFD.
      if (run.length > 0) text += this.hf.decode(run, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const literal = this.literalText.get(id);
      if (literal !== undefined) {
        flush();
        if (!(options.skipSpecialTokens && this.specialIds.has(id))) text += literal;
      } else {
        run.push(id);
      }
    }
    flush();
    return text;
  }

  /**
   * Writes tokenizer.json (with the PAD if one was added) and, for tools that read GPT-2's
   * original format, vocab.json + merges.txt.
   */
  async save(dir: string): Promise<void> {
    await prepareSaveDir(dir, [BYTE_TOKENIZER_JSON], 'GPT-2');
    await writeFileAtomic(join(dir, TOKENIZER_JSON), JSON.stringify(this.data.tokenizerJson) + '\n');
    await writeFileAtomic(join(dir, VOCAB_JSON), formatVocabJson(this.data.vocab));
    await writeFileAtomic(join(dir, MERGES_TXT), formatMergesTxt(this.data.merges));
  }
}
