// Reward-model scores of texts: each (prompt, completion) is encoded as the reward model was
// trained on it (prompt with BOS, completion ended by EOS, the prompt cut from the left to fit)
// and scored at its last real token, in batches without autograd. rewardScores is the id-level
// step that RewardTrainer (its normalization) and `rlhf score` share.
import type { RewardModel } from '../models/reward-model.js';
import { noGrad } from '../tensor/runtime.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { collateRankings } from '../trainers/reward.js';
import { encodePromptAnswer, truncateKeepingAnswer } from '../trainers/tokenize.js';

/** Raw scores of token sequences (right-padded with `padTokenId`), `batchSize` at a time, without autograd. */
export function rewardScores(model: RewardModel, seqs: readonly number[][], padTokenId: number, batchSize = 16): number[] {
  const out: number[] = [];
  noGrad(() => {
    for (let i = 0; i < seqs.length; i += batchSize) {
      const batch = collateRankings([{ sequences: seqs.slice(i, i + batchSize) }], padTokenId, model.device);
      try {
        out.push(...(tidy(() => model.rewards(batch.inputIds, batch.attentionMask).tolist()) as number[]));
      } finally {
        dispose(batch);
      }
    }
  });
  return out;
}

/** A prompt and its completion as one sequence that fits `maxLength`, as the reward and DPO trainers encode them. */
export function promptCompletionIds(
  tokenizer: Tokenizer,
  prompt: string,
  completion: string,
  maxLength: number,
  templated = false,
): number[] {
  const t = truncateKeepingAnswer(encodePromptAnswer(prompt, completion, tokenizer, templated), maxLength);
  return [...t.prompt, ...t.answer];
}

/** Checks that prompts and completions are two string arrays of one length. */
export function checkPairs(prompts: readonly string[], completions: readonly string[], who: string): void {
  if (!Array.isArray(prompts) || !Array.isArray(completions))
    throw new TypeError(`${who}: prompts and completions must be arrays of strings`);
  if (prompts.length !== completions.length)
    throw new RangeError(`${who}: ${prompts.length} prompts but ${completions.length} completions`);
  prompts.forEach((p, i) => {
    if (typeof p !== 'string' || p === '') throw new TypeError(`${who}: prompt ${i} must be a non-empty string`);
    if (typeof completions[i] !== 'string') throw new TypeError(`${who}: completion ${i} must be a string (empty is fine)`);
  });
}

export interface ScoreTextsOptions {
  /** Sequences per forward pass (default 16). */
  batchSize?: number | undefined;
}

/** The reward model's score of each completion to its prompt (empty completions included). */
export function scoreTexts(
  model: RewardModel,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  completions: readonly string[],
  options: ScoreTextsOptions = {},
): number[] {
  checkPairs(prompts, completions, 'scoreTexts');
  const seqs = prompts.map((p, i) => promptCompletionIds(tokenizer, p, completions[i]!, model.config.blockSize));
  return rewardScores(model, seqs, tokenizer.padTokenId, options.batchSize ?? 16);
}
