// Held-out evaluation for the online trainers (PPO, GRPO, RLOO): the same evaluation prompts
// (TRL's eval_dataset), answered greedily by the policy before training and every `evalSteps`
// steps, scored by the run's own reward, with the win rate against the starting policy's answers
// and the share of empty answers; other rewards (`evalRewards`: a verifiable check, say) judge
// the same answers. A reward model can learn to like what the task does not (empty answers,
// say): its scores then rise while the check falls and the empty share grows, and the report
// shows all of them. The answers go to eval_samples.jsonl, one fixed set of prompts each time.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GPT } from '../models/gpt.js';
import { RewardModel } from '../models/reward-model.js';
import { scoreSamples, type RewardSource } from '../rewards/rewards.js';
import type { Device } from '../tensor/types.js';
import type { RewardInputs } from '../rewards/types.js';
import { cat } from '../tensor/join.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Prompt } from '../tokenizers/prompt.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

/**
 * A prompt as the online trainers hold them: as given (a text or a conversation), its text (the
 * conversation rendered, for samples), its ids and its other columns.
 */
export interface HeldOutPrompt {
  prompt: Prompt;
  text: string;
  ids: number[];
  columns: Record<string, unknown>;
}

/**
 * What reward functions get for `rows` answered by `texts`: the prompts as given and the
 * completions, in TRL's conversational form where a prompt is a conversation (the completion as
 * one assistant message), with the prompt rows' other columns.
 */
export function rewardInputs(rows: readonly HeldOutPrompt[], texts: readonly string[], completionIds: number[][]): RewardInputs {
  const columns: Record<string, unknown[]> = {};
  for (const key of new Set(rows.flatMap((r) => Object.keys(r.columns)))) columns[key] = rows.map((r) => r.columns[key] ?? null);
  return {
    ...columns,
    prompts: rows.map((r) => (typeof r.prompt === 'string' ? r.prompt : r.prompt.map((m) => ({ ...m })))),
    completions: texts.map((t, i) => (typeof rows[i]!.prompt === 'string' ? t : [{ role: 'assistant' as const, content: t }])),
    completionIds,
  };
}

/** Scores of one batch of answers (NaN where no reward applies), from the run's rewards. */
export type HeldOutScorer = (inputs: RewardInputs, tokens: { sequences: Tensor; attentionMask: Tensor }) => Promise<number[]>;

export interface HeldOutResult {
  /** eval/reward, eval/win_rate, eval/empty_fraction, eval/mean_length. */
  metrics: Record<string, number>;
  samples: { prompt: string; answer: string; score: number | null }[];
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

export class HeldOutEvaluation {
  /** The starting policy's scores, per prompt (the first evaluation's), kept in checkpoints. */
  baseline: number[] | null = null;

  constructor(
    private readonly prompts: readonly HeldOutPrompt[],
    private readonly tokenizer: Tokenizer,
    private readonly maxNewTokens: number,
    private readonly batchSize: number,
    private readonly score: HeldOutScorer,
    /** Other rewards to judge the answers by, each reported as eval/<name> (a verifiable check beside the reward model, say). */
    private readonly judges: readonly RewardSource[] = [],
    /** Seconds each judge may take per batch (the config's rewardTimeout). */
    private readonly rewardTimeout?: number,
  ) {
    if (prompts.length === 0) throw new Error('evalDataset: no prompts');
  }

  /** Greedy answers of `model` (no random state drawn, so training stays reproducible), scored. */
  async run(model: GPT): Promise<HeldOutResult> {
    const scores: number[] = [];
    const answers: string[] = [];
    const lengths: number[] = [];
    const judged = new Map<string, number[]>();
    for (let i = 0; i < this.prompts.length; i += this.batchSize) {
      const rows = this.prompts.slice(i, i + this.batchSize);
      const gen = await model.generate(
        rows.map((r) => r.ids),
        { maxNewTokens: this.maxNewTokens, greedy: true, eosTokenId: this.tokenizer.stopTokenIds, padTokenId: this.tokenizer.padTokenId },
      );
      const made: Tensor[] = [];
      try {
        const fill = this.tokenizer.padTokenId < model.config.vocabSize ? this.tokenizer.padTokenId : (this.tokenizer.stopTokenIds[0] ?? 0);
        const sequences = tidy(() => cat([gen.promptIds, gen.tokens.where(gen.responseMask, fill)], 1));
        made.push(sequences);
        const attentionMask = cat([gen.promptMask, gen.responseMask], 1);
        made.push(attentionMask);
        const texts = gen.sequences.map((ids) => this.tokenizer.decode(ids, { skipSpecialTokens: true }));
        scores.push(...(await this.score(rewardInputs(rows, texts, gen.sequences), { sequences, attentionMask })));
        if (this.judges.length) {
          const inputs = rewardInputs(rows, texts, gen.sequences);
          for (const { name, scores: js } of (
            await scoreSamples(
              this.judges,
              this.judges.map(() => 1),
              inputs,
              { sequences, attentionMask },
              { rewardTimeout: this.rewardTimeout },
            )
          ).perSource)
            judged.set(name, [...(judged.get(name) ?? []), ...js.map((v) => (typeof v === 'number' ? v : Number.NaN))]);
        }
        answers.push(...texts);
        lengths.push(...gen.sequences.map((s) => s.length));
      } finally {
        dispose(made);
        dispose(gen);
      }
    }
    this.baseline ??= [...scores];
    const base = this.baseline;
    // Win rate against the starting policy, prompt by prompt (a tie counts half), as the demo's.
    const wins = scores.flatMap((s, i) =>
      Number.isFinite(s) && Number.isFinite(base[i]!) ? [s > base[i]! ? 1 : s === base[i]! ? 0.5 : 0] : [],
    );
    const metrics: Record<string, number> = {
      'eval/reward': mean(scores.filter(Number.isFinite)),
      'eval/win_rate': mean(wins),
      'eval/empty_fraction': answers.filter((a) => a.trim() === '').length / answers.length,
      'eval/mean_length': mean(lengths),
    };
    for (const [name, js] of judged) metrics[`eval/${name}`] = mean(js.filter(Number.isFinite));
    const samples = this.prompts.map((p, i) => ({
      prompt: p.text,
      answer: answers[i]!,
      score: Number.isFinite(scores[i]!) ? scores[i]! : null,
    }));
    return { metrics, samples };
  }
}

/** Appends one evaluation's answers to eval_samples.jsonl in the format of samples.jsonl. */
export function writeEvalSamples(outputDir: string, step: number, samples: HeldOutResult['samples']): void {
  appendFileSync(join(outputDir, 'eval_samples.jsonl'), samples.map((s) => `${JSON.stringify({ iteration: step, ...s })}\n`).join(''));
}

/** The `evalRewards` option as a list, its reward models moved to `device` in eval mode. */
export function judges(evalRewards: RewardSource | readonly RewardSource[] | undefined, device: Device): RewardSource[] {
  const list: RewardSource[] =
    evalRewards === undefined ? [] : Array.isArray(evalRewards) ? [...evalRewards] : [evalRewards as RewardSource];
  for (const s of list) if (s instanceof RewardModel) s.to(device).eval();
  return list;
}
