// What a reward is for the online trainers (GRPO, RLOO and PPO): a function of a batch of
// samples, sync or async, as TRL calls its reward functions. It gets the prompts, the
// completions (text and token ids) and every other column of the prompt rows (an `answer`
// for exact match, say), and returns one score per sample, or null where it does not apply
// (then that function does not count for that sample). Several functions, and reward models,
// combine with weights (rewards.ts).

/** The batch a reward function scores: one entry per sample, columns of the prompt rows included. */
export interface RewardInputs {
  prompts: string[];
  completions: string[];
  completionIds: number[][];
  /** The prompt rows' other JSONL fields, one value per sample. */
  [column: string]: unknown[];
}

export type RewardScores = (number | null)[];

/**
 * A programmatic (verifiable) reward. `rewardName` (or the function's own name) labels its metrics and errors;
 * `requiredColumns`, the prompt-row columns it reads, are checked against the prompts before any model runs.
 */
export type RewardFunction = ((inputs: RewardInputs) => RewardScores | Promise<RewardScores>) & {
  rewardName?: string;
  requiredColumns?: readonly string[];
};

/** The label of a reward function in metrics (`rewards/<name>/mean`) and error messages. */
export const rewardName = (fn: RewardFunction, index: number): string => fn.rewardName ?? (fn.name || `reward_${index}`);
