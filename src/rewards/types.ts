// What a reward is for the online trainers (GRPO, RLOO and PPO): a function of a batch of
// samples, sync or async, as TRL calls its reward functions. It gets the prompts, the
// completions (text and token ids) and every other column of the prompt rows (an `answer`
// for exact match, say), and returns one score per sample, or null where it does not apply
// (then that function does not count for that sample). Several functions, and reward models,
// combine with weights (rewards.ts). For conversational prompts the prompts and completions come
// as messages, as TRL passes them.
import type { ChatMessage } from '../tokenizers/chat-template.js';

/**
 * A prompt or a completion as reward functions get it: a text, or, where the prompt is a
 * conversation, TRL's conversational form: the prompt's messages, and the completion as one
 * assistant message `[{role: 'assistant', content}]`. completionText reads the text of either.
 */
export type Conversational = string | ChatMessage[];

/** The text of a prompt or completion (a conversation's last message's content, as TRL's rewards read `completion[0]['content']`). */
export function completionText(x: string | readonly ChatMessage[]): string {
  return typeof x === 'string' ? x : (x[x.length - 1]?.content ?? '');
}

/**
 * The batch a reward function scores: one entry per sample, columns of the prompt rows included.
 * `C` is how prompts and completions come: texts (`string`), conversations (`ChatMessage[]`), or
 * either (`Conversational`, the default here).
 */
export interface RewardInputs<C extends Conversational = Conversational> {
  /** The prompts: texts, or the messages of conversational prompts. */
  prompts: C[];
  /** The completions: texts, or `[{role: 'assistant', content}]` where the prompt is a conversation (TRL's contract). */
  completions: C[];
  completionIds: number[][];
  /** The prompt rows' other JSONL fields, one value per sample. */
  [column: string]: unknown[];
}

export type RewardScores = (number | null)[];

/**
 * A programmatic (verifiable) reward. `name` (or the function's own name) labels its metrics and
 * errors. `RewardFunction` is written for text prompts (its completions are strings);
 * `RewardFunction<ChatMessage[]>` for conversational ones; `RewardFunction<Conversational>` for both.
 */
export type RewardFunction<C extends Conversational = string> = ((inputs: RewardInputs<C>) => RewardScores | Promise<RewardScores>) & {
  rewardName?: string;
  requiredColumns?: readonly string[];
};

/**
 * A reward function of any kind of prompts: what the trainers accept (each gets what its data
 * holds: strings for text prompts, messages for conversations). An inline function's inputs are
 * untyped here; declare it as a RewardFunction (or RewardFunction<ChatMessage[]>) to have them checked.
 */
// biome-ignore lint/suspicious/noExplicitAny: a RewardFunction<string> and a RewardFunction<ChatMessage[]> must both fit
export type AnyRewardFunction = RewardFunction<any>;

/** The label of a reward function in metrics (`rewards/<name>/mean`) and error messages. */
export const rewardName = (fn: AnyRewardFunction, index: number): string => fn.rewardName ?? (fn.name || `reward_${index}`);
