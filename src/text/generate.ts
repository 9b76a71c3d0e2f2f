// Text in, text out: generation from prompt strings or conversations. Encodes each prompt (a
// text with the tokenizer's BOS, a conversation with its chat template), keeps its last tokens
// so that the answer fits the model's positions, stops at any of the tokenizer's stop ids with
// its pad id, decodes without special tokens and frees the native outputs, so that the caller
// never handles ids or tensors. The CLI's `rlhf generate` uses it; stream.ts streams one answer.
import type { GenerateOptions, GPT } from '../models/gpt.js';
import { dispose } from '../tensor/scope.js';
import { encodePromptBatch, type Prompt } from '../tokenizers/prompt.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { newTokensFor } from '../trainers/lengths.js';

/** generate's sampling options (the tokenizer gives the stop and pad ids); each may also be given as undefined. */
type Sampling = { [K in keyof Omit<GenerateOptions, 'eosTokenId' | 'padTokenId' | 'maxNewTokens'>]?: GenerateOptions[K] | undefined };

export interface GenerateTextOptions extends Sampling {
  /** New tokens per answer; default 64, capped at half the model's positions. */
  maxNewTokens?: number | undefined;
  /** Prompts per native generation call (default 16). */
  batchSize?: number | undefined;
}

/** The token budget of a generation: new tokens, and the prompt tokens that fit before them. */
export function generationLengths(model: GPT, maxNewTokens: number | undefined): { maxNewTokens: number; maxPromptLength: number } {
  const blockSize = model.config.blockSize;
  const n = newTokensFor(maxNewTokens, 64, blockSize);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`maxNewTokens must be a positive integer, got ${n}`);
  if (blockSize - n < 1)
    throw new RangeError(
      `maxNewTokens ${n} leaves no room for a prompt in the model's ${blockSize} positions (use at most ${blockSize - 1})`,
    );
  return { maxNewTokens: n, maxPromptLength: blockSize - n };
}

/**
 * Prompt ids as generation feeds them, the last `maxPromptLength` tokens: a text with BOS where the
 * tokenizer has one, a conversation rendered with the chat template (src/tokenizers/prompt.ts).
 */
export function encodePrompts(tokenizer: Tokenizer, prompts: readonly Prompt[], maxPromptLength: number, who: string): number[][] {
  return encodePromptBatch(tokenizer, prompts, who).map(({ ids }, i) => {
    if (ids.length === 0) throw new Error(`${who}: prompt ${i} is empty, and the tokenizer has no BOS token to start from`);
    return ids.slice(-maxPromptLength);
  });
}

/** The options that are set (an explicit `undefined` must not override generate's defaults). */
export const defined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/**
 * Answers to `prompts`, one string each (decoded without special tokens), in order. A prompt is a
 * text, or a conversation (`[{role, content}, …]`, the user's turn last) rendered with the
 * tokenizer's chat template and its generation prompt.
 */
export async function generateText(
  model: GPT,
  tokenizer: Tokenizer,
  prompts: readonly Prompt[],
  options: GenerateTextOptions = {},
): Promise<string[]> {
  if (!Array.isArray(prompts)) throw new TypeError('generateText: prompts must be an array of strings or conversations');
  const { batchSize = 16, ...sampling } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`generateText: batchSize must be a positive integer, got ${batchSize}`);
  const { maxNewTokens, maxPromptLength } = generationLengths(model, sampling.maxNewTokens);
  const ids = encodePrompts(tokenizer, prompts, maxPromptLength, 'generateText');
  const texts: string[] = [];
  for (let i = 0; i < ids.length; i += batchSize) {
    const out = await model.generate(ids.slice(i, i + batchSize), {
      ...defined(sampling),
      maxNewTokens,
      eosTokenId: tokenizer.stopTokenIds,
      padTokenId: tokenizer.padTokenId,
    });
    try {
      texts.push(...out.sequences.map((s) => tokenizer.decode(s, { skipSpecialTokens: true })));
    } finally {
      dispose(out);
    }
  }
  return texts;
}
