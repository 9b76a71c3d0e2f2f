// Streaming generation for a chat server: the answer to one prompt as an async iterator of text
// pieces, each yielded as soon as its tokens are sampled (the native loop reports every step
// through generate's onToken; the loop itself runs as fast as without it). The pieces join to
// exactly what generateText returns for the same prompt and options: the text so far is decoded
// from all the tokens so far, and a piece is held back while that text ends in an unfinished
// multi-byte character (U+FFFD) or is not an extension of what was already yielded; what remains
// at the end comes from the final output.
import { dispose } from '../tensor/scope.js';
import type { Prompt } from '../tokenizers/prompt.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { GPT } from '../models/gpt.js';
import { defined, encodePrompts, generationLengths, type GenerateTextOptions } from './generate.js';

/** generateText's options but batchSize: one prompt is answered. */
export type GenerateTextStreamOptions = Omit<GenerateTextOptions, 'batchSize'>;

/**
 * The answer to `prompt` (a text, or a conversation rendered with the chat template) as text
 * pieces: `for await (const piece of generateTextStream(model, tok, prompt)) res.write(piece)`.
 * Leaving the loop early stops the pieces; the generation itself runs to its end in the background.
 */
export async function* generateTextStream(
  model: GPT,
  tokenizer: Tokenizer,
  prompt: Prompt,
  options: GenerateTextStreamOptions = {},
): AsyncGenerator<string, void, undefined> {
  const { maxNewTokens, maxPromptLength } = generationLengths(model, options.maxNewTokens);
  const [ids] = encodePrompts(tokenizer, [prompt], maxPromptLength, 'generateTextStream');
  const stops = new Set(tokenizer.stopTokenIds);
  const tokens: number[] = [];
  const pieces: string[] = [];
  let yielded = '';
  let ended = false; // a stop token came
  let left = false; // the consumer stopped reading
  let done = false;
  let failure: { error: unknown } | null = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  // The text decoded so far, as far as it cannot change with later tokens.
  const emit = (text: string): void => {
    if (!text.startsWith(yielded) || text.length === yielded.length) return;
    pieces.push(text.slice(yielded.length));
    yielded = text;
    notify();
  };
  const onToken = ([id]: number[]): void => {
    if (ended || left || id === undefined) return;
    tokens.push(id);
    if (stops.has(id)) ended = true;
    const text = tokenizer.decode(tokens, { skipSpecialTokens: true });
    if (!text.endsWith('\uFFFD')) emit(text);
  };
  const run = model.generate([ids!], {
    ...defined(options),
    maxNewTokens,
    eosTokenId: tokenizer.stopTokenIds,
    padTokenId: tokenizer.padTokenId,
    onToken,
  });
  run.then(
    (out) => {
      try {
        if (!left) {
          const text = tokenizer.decode(out.sequences[0]!, { skipSpecialTokens: true });
          if (!text.startsWith(yielded))
            throw new Error(
              'generateTextStream: the tokenizer decoded the whole answer to a text that does not extend the pieces yielded ' +
                `(${JSON.stringify(yielded.slice(-20))} vs ${JSON.stringify(text.slice(0, yielded.length).slice(-20))})`,
            );
          emit(text);
        }
      } catch (error) {
        failure = { error };
      } finally {
        dispose(out);
        done = true;
        notify();
      }
    },
    (error: unknown) => {
      failure = { error };
      done = true;
      notify();
    },
  );
  try {
    for (;;) {
      const piece = pieces.shift();
      if (piece !== undefined) {
        yield piece;
        continue;
      }
      if (failure !== null) throw (failure as { error: unknown }).error;
      if (done) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    left = true;
  }
}
