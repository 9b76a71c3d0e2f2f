// What the online stages (PPO, GRPO, RLOO) add to the run loop: the policy samples its own
// training data, so a step is one iteration (generate, score, update) over prompts read across
// passes; every step's metrics are one metrics.jsonl line and one history row (the reward trend
// of learning-check.ts reads them); sampled answers go to samples.jsonl; held-out prompts are
// answered before training (the win rate's baseline, kept in checkpoints), every evalSteps and at
// the end, each time on a line of its own and in eval_samples.jsonl; the optimizer steps are
// counted apart from the iterations (their learning-rate schedule runs over optimizer steps); the
// models stay in eval mode (the ratio and the KL assume deterministic forwards); the policy is
// saved with its tokenizer.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PromptExample } from '../data/formats.js';
import { rankSeed, writesFiles } from '../distributed/run-state.js';
import type { GenerateOutput, GPT } from '../models/gpt.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/types.js';
import { encodePromptBatch } from '../tokenizers/prompt.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { nextAcrossPasses } from './data-order.js';
import { writeEvalSamples, type HeldOutEvaluation, type HeldOutPrompt } from './held-out.js';
import { rewardTrendFinding } from './learning-check.js';
import { RunLoop, type RunLoopConfig } from './run-loop.js';
import type { RunLog } from './run-logs.js';

/** What the online loop reads of a stage's config. */
export interface OnlineConfig extends RunLoopConfig {
  /** Write sampled answers to samples.jsonl every this many steps (and at the first); 0: never. */
  sampleEvery: number;
  /** How many answers each time. */
  numSamples: number;
  /** The sampling of rollouts: temperature and the top-k / nucleus filters. */
  temperature: number;
  topK: number;
  topP: number;
}

/** A sampled answer in samples.jsonl, which `rlhf report` shows. */
export interface SampleRow {
  prompt: string;
  answer: string;
  score: number;
}

/**
 * Prompts as the online trainers hold them: as given, their text, their ids (the last
 * maxPromptLength tokens; a conversation rendered with the chat template and its special tokens)
 * and other columns. `who` names the dataset in errors and in the warning about special-token text.
 */
export function encodePrompts(
  prompts: readonly PromptExample[],
  tokenizer: Tokenizer,
  maxPromptLength: number,
  who: string,
): HeldOutPrompt[] {
  const encoded = encodePromptBatch(
    tokenizer,
    prompts.map((p) => p.prompt),
    who,
  );
  return prompts.map((p, i) => ({
    prompt: p.prompt,
    text: encoded[i]!.text,
    ids: encoded[i]!.ids.slice(-maxPromptLength),
    columns: p.columns ?? {},
  }));
}

export abstract class OnlineTrainer<C extends OnlineConfig> extends RunLoop<C> {
  abstract override readonly model: GPT;
  abstract readonly tokenizer: Tokenizer;
  abstract readonly device: Device;
  /** The training prompts. */
  protected abstract readonly prompts: readonly HeldOutPrompt[];
  /** The held-out evaluation (the evalDataset option), or null. */
  protected abstract readonly heldOut: HeldOutEvaluation | null;
  /** Optimizer steps done (several per iteration). */
  protected optimizerSteps = 0;
  protected override readonly historyHolds = 'steps';
  protected override readonly evalJoinsLogLine = false;
  /** The metrics whose trend says whether the run learned: the reward, and the KL where one is measured. */
  protected abstract readonly trendMetrics: { reward: string; kl: string };

  protected override get deviceName(): string {
    return this.device;
  }

  /** Every parameter (the frozen ones too) starts from rank 0's. */
  protected override sharedParameters(): Tensor[] {
    return this.model.parameters();
  }

  /** This rank's prompts of the step: its share of a global batch of `perRank` prompts per rank. */
  protected nextPrompts(perRank: number): HeldOutPrompt[] {
    const ids = nextAcrossPasses(this.position, this.prompts.length, perRank * (this.dp?.worldSize ?? 1), this.config.seed);
    const prompts = ids.map((i) => this.prompts[i]!);
    return this.dp ? this.dp.shard(prompts) : prompts;
  }

  /** Where `tokens` hold an id that ends an answer (EOS, or another of the tokenizer's stop ids). */
  /**
   * This step's completions of the prompts, sampled with the config's temperature and filters
   * until a stop token or `maxNewTokens`, numReturnSequences per prompt (rows p0, p0, …, p1, …). The
   * seed is the step's on this rank, so a resumed run
   * samples what the unbroken one did.
   */
  protected sample(prompts: number[][], maxNewTokens: number, numReturnSequences = 1): Promise<GenerateOutput> {
    const c = this.config;
    return this.model.generate(prompts, {
      maxNewTokens,
      numReturnSequences,
      temperature: c.temperature,
      topK: c.topK,
      topP: c.topP,
      eosTokenId: this.tokenizer.stopTokenIds,
      padTokenId: this.tokenizer.padTokenId,
      seed: rankSeed(c.seed * 100003 + this.step, this.dp),
    });
  }

  protected isStopToken(tokens: Tensor): Tensor {
    return tidy(() => this.tokenizer.stopTokenIds.map((id) => tokens.eq(id)).reduce((a, b) => a.logicalOr(b)));
  }

  /** A token id the models can embed, for masked answer positions. */
  protected fillId(): number {
    return this.tokenizer.padTokenId < this.model.config.vocabSize ? this.tokenizer.padTokenId : this.tokenizer.eosTokenId;
  }

  /** Whether this step writes sampled answers: on rank 0, every sampleEvery steps and at the first (the step is number step + 1). */
  protected samplesDue(): boolean {
    const iteration = this.step + 1;
    return writesFiles(this.dp) && this.config.sampleEvery > 0 && (iteration % this.config.sampleEvery === 0 || iteration === 1);
  }

  /** Appends the step's first numSamples answers to samples.jsonl (called during the step, where samplesDue). */
  protected writeSamples(rows: readonly SampleRow[]): void {
    for (const { prompt, answer, score } of rows.slice(0, this.config.numSamples))
      appendFileSync(
        join(this.config.outputDir, 'samples.jsonl'),
        `${JSON.stringify({ iteration: this.step + 1, prompt, answer, score })}\n`,
      );
  }

  protected override extraLogs(): RunLog[] {
    return [
      { file: 'samples.jsonl', stepKey: 'iteration' },
      { file: 'eval_samples.jsonl', stepKey: 'iteration' },
    ];
  }

  /** Each line is one step's metrics. */
  protected override logMetrics(window: readonly Record<string, number>[]): Record<string, number> {
    return window[window.length - 1] ?? {};
  }

  /** The starting policy's held-out answers: the baseline of the win rate (a resumed run has it from its checkpoint). */
  protected override async beforeTraining(): Promise<void> {
    if (this.heldOut?.baseline === null) await this.logEvaluation();
  }

  /** One held-out evaluation (rank 0): eval/* metrics, the answers in eval_samples.jsonl. */
  protected async evaluation(): Promise<Record<string, number>> {
    if (!this.heldOut || !writesFiles(this.dp)) return {};
    const { metrics, samples } = await this.heldOut.run(this.model);
    writeEvalSamples(this.config.outputDir, this.step, samples);
    return metrics;
  }

  protected override checkpointExtra(): Record<string, unknown> {
    return { optimizerSteps: this.optimizerSteps, heldOutBaseline: this.heldOut?.baseline ?? null };
  }

  protected override onResume(extra: Record<string, unknown>): void {
    this.optimizerSteps = extra.optimizerSteps as number;
    if (this.heldOut && Array.isArray(extra.heldOutBaseline)) this.heldOut.baseline = extra.heldOutBaseline as number[];
  }

  protected override learningFinding(): string | null {
    return rewardTrendFinding(this.history, this.trendMetrics.reward, this.trendMetrics.kl);
  }

  protected async saveFinal(dir: string): Promise<void> {
    await this.model.save(dir);
    await this.tokenizer.save(dir);
  }
}
