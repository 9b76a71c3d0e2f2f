// The interface every tokenizer of the GPT decoder implements, and loadTokenizer, which picks
// the implementation from the files in a model directory.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ByteTokenizer } from './byte-tokenizer.js';
import { BYTE_TOKENIZER_JSON, EXPECTED_FILES, MERGES_TXT, TOKENIZER_JSON, VOCAB_JSON, fileExists } from './files.js';
import { GPT2Tokenizer } from './gpt2-bpe.js';

export interface EncodeOptions {
  /** Prepend BOS when the tokenizer has one (ByteTokenizer does; GPT-2 has none and adds nothing). Default false. */
  addSpecialTokens?: boolean;
  /**
   * Turn special-token text found in `text` (e.g. "<|endoftext|>") into the special ids. Default
   * false: such text is encoded as ordinary text, so untrusted content cannot forge control
   * tokens. Set it for text built by applyChatTemplate, whose turns end with the EOS text.
   */
  allowSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave BOS/EOS/PAD (and other special tokens) out of the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface Tokenizer {
  readonly kind: 'byte' | 'gpt2-bpe';
  /** Number of ids, i.e. the rows the model's embedding needs (specials and an added PAD included). */
  readonly vocabSize: number;
  readonly bosTokenId?: number;
  readonly eosTokenId: number;
  /** Always distinct from eosTokenId, so padding can be masked without masking real EOS tokens. */
  readonly padTokenId: number;
  /** The text of EOS ("<|endoftext|>"), which the chat template writes after assistant turns. */
  readonly eosToken: string;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** Writes the files loadTokenizer reads, each atomically (temp file + rename). */
  save(dir: string): Promise<void>;
}

/**
 * Loads the tokenizer stored in `dir`: tokenizer.json or vocab.json + merges.txt (GPT-2
 * byte-level BPE), or byte-tokenizer.json (ByteTokenizer).
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const info = await stat(dir).catch(() => null);
  if (info === null || !info.isDirectory()) {
    throw new Error(`Cannot load a tokenizer from ${dir}: not a directory (expected one holding ${EXPECTED_FILES})`);
  }
  const [hasTokenizerJson, hasVocab, hasMerges, hasByte] = await Promise.all(
    [TOKENIZER_JSON, VOCAB_JSON, MERGES_TXT, BYTE_TOKENIZER_JSON].map((name) => fileExists(join(dir, name))),
  );
  const hasBpe = hasTokenizerJson || hasVocab || hasMerges;
  if (hasByte && hasBpe) {
    throw new Error(`Cannot load a tokenizer from ${dir}: it holds both ${BYTE_TOKENIZER_JSON} and GPT-2 tokenizer files; keep only the one the model was trained with`);
  }
  if (hasByte) return ByteTokenizer.fromFile(join(dir, BYTE_TOKENIZER_JSON));
  if (hasTokenizerJson || (hasVocab && hasMerges)) return GPT2Tokenizer.fromDir(dir);
  if (hasVocab || hasMerges) {
    const missing = hasVocab ? MERGES_TXT : VOCAB_JSON;
    throw new Error(`Cannot load a tokenizer from ${dir}: found ${hasVocab ? VOCAB_JSON : MERGES_TXT} but not ${missing} (expected ${EXPECTED_FILES})`);
  }
  throw new Error(`Cannot load a tokenizer from ${dir}: no tokenizer files there (expected ${EXPECTED_FILES})`);
}
