// File plumbing shared by the tokenizers: the file names each kind reads and writes, JSON
// reading with errors that name the file, and atomic writes (src/io/atomic.ts: temp file +
// rename) so a crash mid-save never leaves a half-written tokenizer next to a model checkpoint.
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic as writeBytesAtomic } from '../io/atomic.js';

export const TOKENIZER_JSON = 'tokenizer.json';
export const VOCAB_JSON = 'vocab.json';
export const MERGES_TXT = 'merges.txt';
export const BYTE_TOKENIZER_JSON = 'byte-tokenizer.json';
/** Hugging Face's companions of tokenizer.json: special tokens and the chat template, ... */
export const TOKENIZER_CONFIG_JSON = 'tokenizer_config.json';
/** ... the chat template on its own file (recent transformers versions save it there), ... */
export const CHAT_TEMPLATE_JINJA = 'chat_template.jinja';
/** ... and the model's generation settings: BOS, EOS (or several stop ids) and PAD ids. */
export const GENERATION_CONFIG_JSON = 'generation_config.json';

/** What loadTokenizer looks for, in words, for error messages. */
export const EXPECTED_FILES = `${TOKENIZER_JSON}, or ${VOCAB_JSON} + ${MERGES_TXT}, or ${BYTE_TOKENIZER_JSON}`;

export async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`Cannot read tokenizer file ${path}: ${(e as Error).message}`);
  }
}

export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readTextFile(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new Error(`Malformed tokenizer file ${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Writes `data` to `path` atomically; an error names the file. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  try {
    await writeBytesAtomic(path, Buffer.from(data, 'utf8'));
  } catch (e) {
    throw new Error(`Cannot write tokenizer file ${path}: ${(e as Error).message}`);
  }
}

/**
 * Creates `dir` and refuses to save one kind of tokenizer next to another kind's files:
 * loadTokenizer would then not know which one the model was trained with.
 */
export async function prepareSaveDir(dir: string, conflicting: readonly string[], kind: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const name of conflicting) {
    if (await fileExists(join(dir, name))) {
      throw new Error(
        `Cannot save a ${kind} tokenizer to ${dir}: it already holds ${name} from another kind of tokenizer; use an empty ` +
          'directory or remove that file',
      );
    }
  }
}
