// The check every trainer makes before training: the tokenizer's ids must all have a row in the
// model's embedding. A tokenizer that adds a pad token (GPT-2's has none) needs one more row than
// the checkpoint has; the error says how to grow it, as transformers' resize_token_embeddings does.
import type { Tokenizer } from '../tokenizers/tokenizer.js';

/** Throws when `tokenizer` has ids beyond the embedding of `model` (`role`: "model" or "policy"). */
export function checkVocabulary(who: string, tokenizer: Tokenizer, model: { config: { vocabSize: number } }, role = 'model'): void {
  const [ids, rows] = [tokenizer.vocabSize, model.config.vocabSize];
  if (ids > rows)
    throw new Error(
      `${who}: the tokenizer has ${ids} ids but the ${role}'s embedding only ${rows} (grow it first: ` +
        `${role}.resizeTokenEmbeddings(tokenizer.vocabSize), as transformers' resize_token_embeddings)`,
    );
}
