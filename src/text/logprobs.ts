// Log-probabilities of completions given their prompts, from texts: log p(completion + EOS |
// prompt) under the model, summed over the completion's tokens (the quantity DPO compares), and
// per token. Encoded as the trainers encode a prompt and its answer, without autograd.
import type { GPT } from '../models/gpt.js';
import { tokenLogprobs } from '../models/token-logprobs.js';
import { noGrad } from '../tensor/runtime.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { collateSequences } from '../trainers/sft.js';
import { encodePromptAnswer, IGNORE_INDEX, truncateKeepingAnswer, type LabeledSequence } from '../trainers/tokenize.js';
import { checkPairs } from './score.js';

export interface TextLogprobs {
  /** log p(completion tokens and EOS | prompt), the sum of `tokens`. */
  logprob: number;
  /** Per completion token (EOS last). */
  tokens: number[];
}

/** The model's log-probabilities of each completion after its prompt (batchSize pairs per forward pass, default 16). */
export function textLogprobs(
  model: GPT,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  completions: readonly string[],
  options: { batchSize?: number | undefined } = {},
): TextLogprobs[] {
  checkPairs(prompts, completions, 'textLogprobs');
  const batchSize = options.batchSize ?? 16;
  const seqs: LabeledSequence[] = prompts.map((p, i) => {
    const t = truncateKeepingAnswer(encodePromptAnswer(p, completions[i]!, tokenizer), model.config.blockSize);
    return { ids: [...t.prompt, ...t.answer], labels: [...t.prompt.map(() => IGNORE_INDEX), ...t.answer] };
  });
  const out: TextLogprobs[] = [];
  noGrad(() => {
    for (let i = 0; i < seqs.length; i += batchSize) {
      const batch = collateSequences(seqs.slice(i, i + batchSize), tokenizer.padTokenId, model.device);
      try {
        const [perToken, keep] = tidy(() => {
          const lp = tokenLogprobs(model, batch.inputIds, batch.labels, { attentionMask: batch.attentionMask }).logprobs;
          return [lp.tolist() as number[][], batch.labels.ne(IGNORE_INDEX).tolist() as boolean[][]];
        });
        perToken.forEach((row, b) => {
          const tokens = row.filter((_, j) => keep[b]![j]);
          out.push({ logprob: tokens.reduce((a, x) => a + x, 0), tokens });
        });
      } finally {
        dispose(batch);
      }
    }
  });
  return out;
}
