// The interface every tokenizer of the decoders implements, and loadTokenizer, which picks
// the implementation from the files in a model directory.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EOS_TEXT, isObject } from './bpe-files.js';
import { ByteTokenizer } from './byte-tokenizer.js';
import {
  BYTE_TOKENIZER_JSON,
  EXPECTED_FILES,
  MERGES_TXT,
  TOKENIZER_CONFIG_JSON,
  TOKENIZER_JSON,
  VOCAB_JSON,
  fileExists,
  readJsonFile,
} from './files.js';
import { GPT2Tokenizer } from './gpt2-bpe.js';
import { type HFConfigFiles, readHFConfigFiles, tokenConfigText } from './hf-config.js';
import { HFTokenizer } from './hf-tokenizer.js';
import type { ChatTemplate } from './jinja-template.js';

export interface EncodeOptions {
  /**
   * Prepend BOS when the tokenizer has one (ByteTokenizer does; GPT-2 has none and adds nothing;
   * HFTokenizer adds what tokenizer.json's post-processor adds, as transformers does: Llama's
   * BOS, nothing for Qwen2). Default false.
   */
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
  readonly kind: 'byte' | 'gpt2-bpe' | 'hf';
  /** Number of ids, i.e. the rows the model's embedding needs (specials and an added PAD included). */
  readonly vocabSize: number;
  readonly bosTokenId?: number | undefined;
  readonly eosTokenId: number;
  /** Always distinct from eosTokenId, so padding can be masked without masking real EOS tokens. */
  readonly padTokenId: number;
  /** The text of EOS ("<|endoftext|>"), which the chat template writes after assistant turns. */
  readonly eosToken: string;
  /** The ids that end an answer: EOS first, then any others the model's generation_config.json lists. */
  readonly stopTokenIds: readonly number[];
  /**
   * The model's own chat template (tokenizer_config.json's chat_template); undefined when it has
   * none, and conversations use the simple template of chat-template.ts (see conversation.ts).
   */
  readonly chatTemplate?: ChatTemplate | undefined;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** Writes the files loadTokenizer reads, each atomically (temp file + rename). */
  save(dir: string): Promise<void>;
}

/**
 * True when tokenizer.json and its config describe GPT-2's own setup, which GPT2Tokenizer reads:
 * GPT-2's byte-level pre-tokenizer at the top, no chat template, no EOS other than GPT-2's.
 * Anything else (Metaspace, Qwen2's and Llama 3's split-then-byte-level sequences, a chat model)
 * is an HFTokenizer.
 */
function isGpt2Setup(json: unknown, files: HFConfigFiles): boolean {
  const pre = isObject(json) ? json.pre_tokenizer : undefined;
  if (!isObject(pre) || pre.type !== 'ByteLevel' || files.chatTemplate !== undefined) return false;
  const eos = files.tokenizerConfig.eos_token;
  return eos === undefined || tokenConfigText(eos, join(files.dir, TOKENIZER_CONFIG_JSON), 'eos_token') === EOS_TEXT;
}

/**
 * Loads the tokenizer stored in `dir`: byte-tokenizer.json (ByteTokenizer); vocab.json +
 * merges.txt, or a tokenizer.json of GPT-2's setup (GPT2Tokenizer); any other tokenizer.json,
 * with tokenizer_config.json and generation_config.json beside it (HFTokenizer).
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
    throw new Error(
      `Cannot load a tokenizer from ${dir}: it holds both ${BYTE_TOKENIZER_JSON} and GPT-2 tokenizer files; keep only the one the ` +
        'model was trained with',
    );
  }
  if (hasByte) return ByteTokenizer.fromFile(join(dir, BYTE_TOKENIZER_JSON));
  if (hasTokenizerJson) {
    const path = join(dir, TOKENIZER_JSON);
    const json = await readJsonFile(path);
    const files = await readHFConfigFiles(dir);
    return isGpt2Setup(json, files) ? GPT2Tokenizer.fromTokenizerJson(path, json) : HFTokenizer.fromDir(dir, json, files);
  }
  if (hasVocab && hasMerges) return GPT2Tokenizer.fromDir(dir);
  if (hasVocab || hasMerges) {
    const missing = hasVocab ? MERGES_TXT : VOCAB_JSON;
    throw new Error(
      `Cannot load a tokenizer from ${dir}: found ${hasVocab ? VOCAB_JSON : MERGES_TXT} but not ${missing} (expected ${EXPECTED_FILES})`,
    );
  }
  throw new Error(`Cannot load a tokenizer from ${dir}: no tokenizer files there (expected ${EXPECTED_FILES})`);
}
