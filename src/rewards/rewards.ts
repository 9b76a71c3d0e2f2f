// Scoring a batch of samples with several rewards, as TRL's online trainers do: programmatic
// reward functions (sync or async, see types.ts) and reward models side by side, combined by
// `rewardWeights` into one reward per sample. A null score means "not applicable": it drops
// out of that sample's weighted sum (TRL's nansum), and a sample no reward applies to is NaN.
// A reward function's failure or bad output names the function and the sample; a call that does not
// settle within `rewardTimeout` seconds fails (reward-call.ts).
import { RewardModel } from '../models/reward-model.js';
import { noGrad } from '../tensor/runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import { callReward, DEFAULT_REWARD_TIMEOUT, RewardTimeoutError } from './reward-call.js';
import { completionText, rewardName, type AnyRewardFunction, type RewardInputs, type RewardScores } from './types.js';

export type RewardSource = AnyRewardFunction | RewardModel;

export interface ScoredBatch {
  /** The weighted sum per sample over the rewards that apply to it; NaN where none does. */
  total: number[];
  /** Each source's scores, by its name (reward models: `reward_model_<i>`). */
  perSource: { name: string; scores: RewardScores }[];
}

/** Names of the sources, in order, as metrics and errors use them. */
export function rewardSourceNames(sources: readonly RewardSource[]): string[] {
  return sources.map((s, i) => (s instanceof RewardModel ? `reward_model_${i}` : rewardName(s, i)));
}

/** Checks the weights against the sources (one finite number each; default all 1). */
export function resolveRewardWeights(
  sources: readonly RewardSource[],
  weights: readonly number[] | null | undefined,
  owner: string,
): number[] {
  if (sources.length === 0) throw new Error(`${owner}: give at least one reward function or reward model`);
  if (weights === null || weights === undefined) return sources.map(() => 1);
  if (weights.length !== sources.length || !weights.every(Number.isFinite))
    throw new Error(`${owner}: rewardWeights must be ${sources.length} finite numbers, one per reward, got ${JSON.stringify(weights)}`);
  return [...weights];
}

/**
 * Checks that every column a reward reads (its `requiredColumns`) is in some prompt row, so that a
 * misspelt column fails before any model is loaded or run, not after the first generation.
 */
export function checkRewardColumns(
  sources: readonly RewardSource[],
  rows: readonly { columns?: Record<string, unknown> }[],
  what: string,
): void {
  const present = new Set(rows.flatMap((r) => Object.keys(r.columns ?? {})));
  const names = rewardSourceNames(sources);
  sources.forEach((s, i) => {
    if (s instanceof RewardModel) return;
    for (const column of s.requiredColumns ?? [])
      if (!present.has(column))
        throw new Error(
          `reward '${names[i]}' reads the column '${column}', which no row of ${what} has ` +
            `(columns: ${present.size > 0 ? [...present].join(', ') : 'none besides prompt'})`,
        );
  });
}

async function callRewardFunction(fn: AnyRewardFunction, name: string, inputs: RewardInputs, timeout: number): Promise<RewardScores> {
  let out: unknown;
  try {
    out = await callReward(name, timeout, () => fn(inputs));
  } catch (err) {
    if (err instanceof RewardTimeoutError) throw err;
    throw new Error(`reward function '${name}' failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  const n = inputs.prompts.length;
  if (!Array.isArray(out) || out.length !== n)
    throw new Error(
      `reward function '${name}' must return an array of ${n} numbers or nulls (one per sample), got ` +
        `${Array.isArray(out) ? `${out.length} values` : typeof out}`,
    );
  out.forEach((v, i) => {
    if (v !== null && !(typeof v === 'number' && Number.isFinite(v))) {
      const prompt = JSON.stringify(completionText(inputs.prompts[i]!).slice(0, 60));
      throw new Error(`reward function '${name}': sample ${i} (prompt ${prompt}) scored ${String(v)}, expected a finite number or null`);
    }
  });
  return out as RewardScores;
}

/**
 * Scores the samples with every source. Reward models read `sequences` (prompt + completion
 * ids) under `attentionMask`; functions get `inputs`, and each call has `rewardTimeout` seconds
 * (0: no limit).
 */
export async function scoreSamples(
  sources: readonly RewardSource[],
  weights: readonly number[],
  inputs: RewardInputs,
  tokens: { sequences: Tensor; attentionMask: Tensor },
  { rewardTimeout = DEFAULT_REWARD_TIMEOUT }: { rewardTimeout?: number } = {},
): Promise<ScoredBatch> {
  const names = rewardSourceNames(sources);
  const perSource: ScoredBatch['perSource'] = [];
  for (const [i, s] of sources.entries()) {
    let scores: RewardScores;
    if (s instanceof RewardModel) {
      // Scoring is inference: the native trunk, without autograd or dropout whatever the model's mode.
      const r = noGrad(() => s.rewards(tokens.sequences, tokens.attentionMask, { path: 'native' }));
      scores = r.tolist() as number[];
      r.dispose();
    } else {
      scores = await callRewardFunction(s, names[i]!, inputs, rewardTimeout);
    }
    perSource.push({ name: names[i]!, scores });
  }
  // NaN where no reward applies: the trainers leave such samples out of their baselines.
  const total = inputs.prompts.map((_, j) =>
    perSource.every(({ scores }) => scores[j] === null)
      ? Number.NaN
      : perSource.reduce((acc, { scores }, i) => acc + (scores[j] === null ? 0 : weights[i]! * scores[j]!), 0),
  );
  return { total, perSource };
}

/** rewards/<name>/mean and /std over the samples a source applies to (TRL's metric names). */
export function perSourceMetrics(scored: ScoredBatch): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { name, scores } of scored.perSource) {
    const xs = scores.filter((v): v is number => v !== null);
    if (xs.length === 0) continue;
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
    out[`rewards/${name}/mean`] = mean;
    out[`rewards/${name}/std`] = std;
  }
  return out;
}
