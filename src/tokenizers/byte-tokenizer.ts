// ByteTokenizer: the tokenizer for small models trained from scratch. Ids 0-255 are the UTF-8
// bytes of the text, so any string round-trips with no vocabulary to learn; 256-258 are BOS, EOS
// and PAD. PAD is its own id so that padding can be masked out without hiding real EOS tokens.
import { join } from 'node:path';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './tokenizer.js';
import { BYTE_TOKENIZER_JSON, MERGES_TXT, TOKENIZER_JSON, VOCAB_JSON, prepareSaveDir, readJsonFile, writeFileAtomic } from './files.js';
import { SpecialTokenSplitter, knownTokenIds } from './special-tokens.js';

const FILE_TYPE = 'torch-rlhf-byte-tokenizer';
const FILE_VERSION = 1;

export class ByteTokenizer implements Tokenizer {
  readonly kind = 'byte' as const;
  readonly vocabSize = 259;
  readonly bosTokenId = 256;
  readonly eosTokenId = 257;
  readonly stopTokenIds: readonly number[] = [this.eosTokenId];
  readonly padTokenId = 258;
  readonly bosToken = '<|bos|>';
  /** Same text as GPT-2's EOS, so one chat template serves both tokenizers. */
  readonly eosToken = '<|endoftext|>';
  readonly padToken = '<|pad|>';

  private readonly specialText = new Map<number, string>([
    [this.bosTokenId, this.bosToken],
    [this.eosTokenId, this.eosToken],
    [this.padTokenId, this.padToken],
  ]);
  private readonly splitter = new SpecialTokenSplitter(new Map([...this.specialText].map(([id, text]) => [text, id])));
  private readonly encoder = new TextEncoder();
  // ignoreBOM: a leading U+FEFF is content, not a marker to drop; fatal: false turns invalid
  // UTF-8 (e.g. a model's half-finished multi-byte character) into U+FFFD instead of throwing.
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  /** Encodes `text` as its UTF-8 bytes (lone surrogates become U+FFFD's bytes, as TextEncoder does). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`ByteTokenizer.encode: text must be a string, got ${typeof text}`);
    const ids: number[] = options.addSpecialTokens ? [this.bosTokenId] : [];
    const segments = options.allowSpecialTokens ? this.splitter.split(text) : [text];
    for (const segment of segments) {
      if (typeof segment === 'number') ids.push(segment);
      else for (const byte of this.encoder.encode(segment)) ids.push(byte);
    }
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    ids = knownTokenIds(ids, (id) => id < this.vocabSize, 'ByteTokenizer');
    let text = '';
    let bytes: number[] = [];
    const flush = (): void => {
      if (bytes.length > 0) text += this.decoder.decode(Uint8Array.from(bytes));
      bytes = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (id < 256) {
        bytes.push(id);
        continue;
      }
      // A special token ends any partial character before it: that one decodes to U+FFFD.
      flush();
      if (!options.skipSpecialTokens) text += this.specialText.get(id) as string;
    }
    flush();
    return text;
  }

  async save(dir: string): Promise<void> {
    await prepareSaveDir(dir, [TOKENIZER_JSON, VOCAB_JSON, MERGES_TXT], 'byte');
    const file = {
      type: FILE_TYPE,
      version: FILE_VERSION,
      vocab_size: this.vocabSize,
      bos_token_id: this.bosTokenId,
      eos_token_id: this.eosTokenId,
      pad_token_id: this.padTokenId,
    };
    await writeFileAtomic(join(dir, BYTE_TOKENIZER_JSON), JSON.stringify(file, null, 2) + '\n');
  }

  /**
   * Reads byte-tokenizer.json. The layout is fixed, so the file only identifies the tokenizer;
   * ids that differ from ours mean the file came from something else, which is an error rather
   * than something to guess around.
   */
  static async fromFile(path: string): Promise<ByteTokenizer> {
    const json = await readJsonFile(path);
    const tok = new ByteTokenizer();
    const expected: Record<string, unknown> = {
      type: FILE_TYPE,
      version: FILE_VERSION,
      vocab_size: tok.vocabSize,
      bos_token_id: tok.bosTokenId,
      eos_token_id: tok.eosTokenId,
      pad_token_id: tok.padTokenId,
    };
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new Error(`Malformed tokenizer file ${path}: expected a JSON object like ${JSON.stringify(expected)}`);
    }
    for (const [key, value] of Object.entries(expected)) {
      const actual = (json as Record<string, unknown>)[key];
      if (actual !== value) {
        throw new Error(`Malformed tokenizer file ${path}: "${key}" is ${JSON.stringify(actual)}, expected ${JSON.stringify(value)}`);
      }
    }
    return tok;
  }
}
