// The online loop GRPO and RLOO share (TRL's GRPOTrainer and RLOOTrainer): each step takes
// batchSize / numGenerations prompts, samples numGenerations completions of each with the
// native generation loop, scores them with reward functions and reward models (rewards.ts),
// turns the rewards into advantages (the method's part: group-normalised for GRPO,
// leave-one-out for RLOO), and runs numIterations clipped policy-gradient updates on that
// batch, with checkpoints, exact resume, metrics.jsonl and samples.jsonl as the other trainers.
// No critic: the group is the baseline. A reference model is kept only when beta > 0.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parsePromptRecords, type PromptData } from '../data/records.js';
import type { PromptExample } from '../data/formats.js';
import { HeldOutEvaluation, judges, logHeldOut } from './held-out.js';
import { mulberry32, shuffle } from '../data/random.js';
import { announceStart } from './starting-point.js';
import { reportFinding, rewardTrendFinding } from './learning-check.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { frozenCopy } from '../models/frozen-copy.js';
import { GPT } from '../models/gpt.js';
import { clipGradNorm } from '../nn/utils.js';
import { AdamW } from '../optim/adamw.js';
import { resolveRewardWeights, perSourceMetrics, scoreSamples, type RewardSource } from '../rewards/rewards.js';
import { tensor } from '../tensor/creation.js';
import { cat } from '../tensor/join.js';
import { manualSeed, noGrad } from '../tensor/runtime.js';
import { dispose, keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/types.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { captureRng, loadCheckpoint, resumeDir, saveCheckpoint } from './checkpoint.js';
import { withMixedPrecision } from './config.js';
import type { GroupPolicyConfig } from './group-policy-config.js';
import { maskedTokenMean, nanMeanStd } from './grpo-math.js';
import { entropyFromLogits } from './ppo-math.js';
import { createProgress } from './progress.js';
import { recoverRunDir } from './run-dir.js';
import { prepareRunLogs } from './run-logs.js';
import { lrFactor } from './schedule.js';
import { CallbackList, checkCallback, runCallbacks, userCallbacks, type CallbackState, type TrainerCallback } from './callbacks.js';
import { checkVocabulary } from './vocab.js';
import { NonFiniteLossError, pickDevice } from './trainer.js';
import { DataParallel } from '../distributed/ddp.js';
import type { LoraConfigInput } from '../lora/config.js';
import { onReference, prepareLora, trainableParameters } from '../lora/trainer-setup.js';
import { distributedCheckpointState, rankSeed, restoreDistributedRng, writesFiles } from '../distributed/run-state.js';

export interface GroupPolicyOptions<C extends GroupPolicyConfig> {
  /** The policy being trained (GPT-2 or the Llama family). */
  model: GPT;
  /** The frozen reference (beta > 0); by default a copy of the starting policy. */
  refModel?: GPT;
  /** Reward functions and reward models, weighted by rewardWeights. */
  rewards: RewardSource | RewardSource[];
  tokenizer: Tokenizer;
  /** TRL prompt rows ({prompt, ...columns}) or loaded prompts; a bad one fails with `index N: field …`. */
  prompts: PromptData;
  config: Partial<C> & { outputDir: string };
  /** Called after each step, with each metrics line, each checkpoint and at the end; may stop the run early. */
  callbacks?: readonly TrainerCallback[] | undefined;
  /** Held-out prompts (TRL's eval_dataset), answered greedily and scored by the rewards before training, every evalSteps and at the end. */
  evalDataset?: PromptData | undefined;
  /** Other rewards that judge the held-out answers (not trained on), each logged as eval/<name>: a verifiable check beside a reward model. */
  evalRewards?: RewardSource | RewardSource[] | undefined;
  /** Train a LoRA adapter (TRL's peft_config); the KL reference (beta > 0) is then the policy with its adapter off, not a copy. */
  peftConfig?: LoraConfigInput | undefined;
}

/** One generated batch with what the updates need: G completions per prompt, in groups. */
export interface GroupBatch {
  /** (B, P + R) prompts (left-padded) and completions (right-padded). */
  sequences: Tensor;
  attentionMask: Tensor;
  /** (B, R) the completion tokens and the tokens that train (masked after the stop token). */
  completions: Tensor;
  completionMask: Tensor;
  /** (B, R) per-token log-probs at sampling (the old policy; null when no update reads them) and under the reference (beta > 0). */
  oldLogprobs: Tensor | null;
  refLogprobs: Tensor | null;
  /** (B,) */
  advantages: Tensor;
  promptLength: number;
  prompts: string[];
  texts: string[];
  rewards: number[];
}

/** Per-token log-probs of `tokens` (B, R) under logits (B, P + R, V) at `temperature`. */
export function completionLogprobs(logits: Tensor, tokens: Tensor, promptLength: number, temperature: number): Tensor {
  return tidy(() => logits.narrow(1, promptLength - 1, tokens.shape[1]!).float().div(temperature).logSoftmax(-1).gather(2, tokens.unsqueeze(-1)).squeeze(-1));
}

export abstract class GroupPolicyTrainer<C extends GroupPolicyConfig> {
  readonly config: C;
  readonly model: GPT;
  readonly refModel: GPT | null;
  readonly tokenizer: Tokenizer;
  readonly optimizer: AdamW;
  readonly device: Device;
  readonly history: Record<string, number>[] = [];
  /** What the run chose and why (defaults by starting point), printed when it starts. */
  protected readonly startNotes: string[] = [];
  /** The trainer's callbacks (the `callbacks` option and addCallback); a run adds those of `reportTo`. */
  private readonly callbacks: TrainerCallback[];
  private events = new CallbackList();
  private readonly heldOut: HeldOutEvaluation | null;
  private readonly sources: RewardSource[];
  private readonly weights: number[];
  private readonly prompts: { text: string; ids: number[]; columns: Record<string, unknown> }[];
  private readonly ownsRef: boolean;
  /** The reference is the policy's base (its LoRA adapter off): beta > 0 and no refModel given. */
  private readonly refIsBase: boolean;
  /** Generation rounds done (each numIterations optimizer steps). */
  step = 0;
  private optimizerSteps = 0;
  private promptEpoch = 0;
  private promptOffset = 0;
  private lastCheckpoint: string | null = null;
  /** The data-parallel run this trainer is part of (set by train()), or null for one process. */
  protected dp: DataParallel | null = null;

  /** The config name (errors, the config file) and the metric prefix of the run. */
  protected abstract readonly label: 'grpo' | 'rloo';

  constructor(o: GroupPolicyOptions<C>, config: C) {
    this.config = config;
    const name = this.constructor.name;
    this.callbacks = userCallbacks(o.callbacks, name);
    const prompts = parsePromptRecords(o.prompts, `${name} prompts`);
    if (prompts.length === 0) throw new Error(`${name}: no prompts`);
    checkVocabulary(name, o.tokenizer, o.model, 'policy');
    this.sources = Array.isArray(o.rewards) ? [...o.rewards] : [o.rewards];
    this.weights = resolveRewardWeights(this.sources, config.rewardWeights, name);
    this.model = o.model;
    this.tokenizer = o.tokenizer;
    this.device = pickDevice(config.device);
    const lora = prepareLora(o.model, o.peftConfig, name);
    o.model.to(this.device);
    // Dropout off: the ratio and the KL assume deterministic forwards.
    o.model.eval();
    this.refIsBase = config.beta > 0 && !o.refModel && lora;
    this.ownsRef = config.beta > 0 && !o.refModel && !lora;
    this.refModel = config.beta > 0 && !this.refIsBase ? (o.refModel ?? frozenCopy(o.model)) : null;
    this.refModel?.to(this.device);
    this.refModel?.requiresGrad_(false);
    for (const s of this.sources) if (s instanceof GPT) s.to(this.device).eval();
    const held = (ps: PromptExample[]) => ps.map((p) => ({ text: p.prompt, ids: o.tokenizer.encode(p.prompt, { addSpecialTokens: true }).slice(-config.maxPromptLength), columns: p.columns ?? {} }));
    this.prompts = held(prompts);
    this.heldOut = o.evalDataset
      ? new HeldOutEvaluation(held(parsePromptRecords(o.evalDataset, `${name} evalDataset`)), o.tokenizer, config.maxCompletionLength, config.batchSize, async (inputs, tokens) => (await scoreSamples(this.sources, this.weights, inputs, tokens)).total, judges(o.evalRewards, this.device))
      : null;
    this.optimizer = new AdamW(trainableParameters(o.model), { lr: config.learningRate, betas: [config.adamBeta1, config.adamBeta2], eps: config.adamEpsilon, weightDecay: config.weightDecay });
  }

  /** Whether the method reads the sampling-time log-probs (off-policy updates, or a KL of them). */
  protected needsOldLogprobs(): boolean {
    return this.config.numIterations > 1;
  }

  /** The method's advantages (B,) from the rewards (B,) of the groups, and its own metrics. */
  protected abstract advantages(rewards: Tensor, b: { oldLogprobs: Tensor | null; refLogprobs: Tensor | null; completionMask: Tensor }): { advantages: Tensor; metrics: Record<string, number> };

  /** The method's loss for one micro-batch, normalised for its share of the optimizer step. */
  protected abstract microBatchLoss(
    logprobs: Tensor,
    mb: { oldLogprobs: Tensor | null; refLogprobs: Tensor | null; advantages: Tensor; mask: Tensor },
    step: { tokens: number; sequences: number; microBatches: number },
  ): { loss: Tensor; metrics: Record<string, Tensor> };

  get totalSteps(): number {
    const c = this.config;
    if (c.maxSteps > 0) return c.maxSteps;
    return Math.max(1, Math.ceil((this.prompts.length * c.numTrainEpochs) / ((c.batchSize / c.numGenerations) * (this.dp?.worldSize ?? 1))));
  }

  /** This rank's prompts of the step: its share of a global batch of batchSize / numGenerations prompts per rank. */
  private nextPrompts(): { text: string; ids: number[]; columns: Record<string, unknown> }[] {
    const out: { text: string; ids: number[]; columns: Record<string, unknown> }[] = [];
    const n = (this.config.batchSize / this.config.numGenerations) * (this.dp?.worldSize ?? 1);
    while (out.length < n) {
      if (this.promptOffset >= this.prompts.length) {
        this.promptEpoch++;
        this.promptOffset = 0;
      }
      const order = shuffle([...this.prompts.keys()], mulberry32(this.config.seed * 7919 + this.promptEpoch));
      out.push(this.prompts[order[this.promptOffset++]!]!);
    }
    return this.dp ? this.dp.shard(out) : out;
  }

  private isStopToken(tokens: Tensor): Tensor {
    return tidy(() => this.tokenizer.stopTokenIds.map((id) => tokens.eq(id)).reduce((a, b) => a.logicalOr(b)));
  }

  /** A token id the models can embed, for masked completion positions. */
  private fillId(): number {
    return this.tokenizer.padTokenId < this.model.config.vocabSize ? this.tokenizer.padTokenId : this.tokenizer.eosTokenId;
  }

  /** Generation, scoring and advantages for one step; returns the batch and the step's sampling metrics. */
  async generate(): Promise<{ batch: GroupBatch; metrics: Record<string, number> }> {
    const c = this.config;
    const G = c.numGenerations;
    const rows = this.nextPrompts().flatMap((p) => Array.from({ length: G }, () => p));
    const gen = await this.model.generate(rows.map((r) => r.ids), {
      maxNewTokens: c.maxCompletionLength, temperature: c.temperature, topK: c.topK, topP: c.topP,
      eosTokenId: this.tokenizer.stopTokenIds, padTokenId: this.tokenizer.padTokenId, seed: rankSeed(c.seed * 100003 + this.step, this.dp),
    });
    const made: Tensor[] = []; // freed if scoring fails
    const own = <T extends Tensor>(t: T): T => (made.push(keep(t)), t);
    try {
      const P = gen.promptIds.shape[1]!;
      const completions = own(tidy(() => gen.tokens.where(gen.responseMask, this.fillId())));
      const sequences = own(cat([gen.promptIds, completions], 1));
      const attentionMask = own(cat([gen.promptMask, gen.responseMask], 1));
      const ended = noGrad(() => tidy(() => this.isStopToken(gen.tokens).logicalAnd(gen.responseMask).any(1)));
      const endedList = ended.tolist() as boolean[];
      const completionMask = own(tidy(() => (c.maskTruncatedCompletions ? gen.responseMask.logicalAnd(ended.unsqueeze(1)) : gen.responseMask.clone())));
      ended.dispose();
      const texts = gen.sequences.map((ids) => this.tokenizer.decode(ids, { skipSpecialTokens: true }));
      const columns: Record<string, unknown[]> = {};
      for (const key of new Set(rows.flatMap((r) => Object.keys(r.columns)))) columns[key] = rows.map((r) => r.columns[key] ?? null);
      const scored = await scoreSamples(this.sources, this.weights, { ...columns, prompts: rows.map((r) => r.text), completions: texts, completionIds: gen.sequences }, { sequences, attentionMask });
      const logprobsOf = (m: GPT) => noGrad(() => tidy(() => completionLogprobs(m.forwardNative(sequences, { attentionMask }).logits, completions, P, c.temperature)));
      // With one update per batch the old policy is the current one: no forward needed for it.
      const oldLogprobs = this.needsOldLogprobs() ? own(logprobsOf(this.model)) : null;
      const refLogprobs = this.refModel || this.refIsBase ? own(onReference(this.model, this.refModel, logprobsOf)) : null;
      const rewards = tensor(scored.total, { dtype: 'float32', device: this.device });
      const adv = noGrad(() => this.advantages(rewards, { oldLogprobs, refLogprobs, completionMask }));
      rewards.dispose();
      const advantages = own(adv.advantages);
      const lengths = gen.sequences.map((s) => s.length);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
      const spread = nanMeanStd(scored.total);
      const metrics: Record<string, number> = {
        reward: spread.mean,
        reward_std: spread.std,
        ...perSourceMetrics(scored),
        'completions/mean_length': mean(lengths),
        'completions/min_length': Math.min(...lengths),
        'completions/max_length': Math.max(...lengths),
        'completions/clipped_ratio': endedList.filter((e) => !e).length / endedList.length,
        ...adv.metrics,
      };
      const batch: GroupBatch = { sequences, attentionMask, completions, completionMask, oldLogprobs, refLogprobs, advantages, promptLength: P, prompts: rows.map((r) => r.text), texts, rewards: scored.total };
      return { batch, metrics };
    } catch (err) {
      dispose(made);
      throw err;
    } finally {
      dispose(gen);
    }
  }

  /**
   * numIterations optimizer steps over the batch; returns the mean of each metric. With several
   * ranks the gradients are averaged before clipping, and the step's token count is the global
   * one over the world size (TRL's num_items_in_batch / num_processes), so that a token-normalised
   * loss ('dapo') averages to the loss of the combined batch.
   */
  async update(b: GroupBatch): Promise<Record<string, number>> {
    const c = this.config;
    const B = b.sequences.shape[0]!;
    const stats: Record<string, number[]> = {};
    const add = (k: string, v: number) => (stats[k] ??= []).push(v);
    const local = noGrad(() => tidy(() => b.completionMask.float().sum().item()));
    const tokens = this.dp ? (await this.dp.sum([local]))[0]! / this.dp.worldSize : local;
    for (let it = 0; it < c.numIterations; it++) {
      const lr = c.learningRate * lrFactor(c.lrSchedulerType, this.optimizerSteps, c.warmupSteps, this.totalSteps * c.numIterations);
      for (const g of this.optimizer.paramGroups) g.options.lr = lr;
      this.optimizer.zeroGrad();
      const microBatches = B / c.microBatchSize;
      let lossValue = 0;
      for (let start = 0; start < B; start += c.microBatchSize) {
        tidy(() => {
          const pick = (t: Tensor) => t.narrow(0, start, c.microBatchSize);
          const mask = pick(b.completionMask);
          const logits = withMixedPrecision(c.mixedPrecision, this.device, () => this.model.forward(pick(b.sequences), { attentionMask: pick(b.attentionMask) }).logits);
          const logprobs = completionLogprobs(logits, pick(b.completions), b.promptLength, c.temperature);
          const { loss, metrics } = this.microBatchLoss(
            logprobs,
            { oldLogprobs: b.oldLogprobs ? pick(b.oldLogprobs) : null, refLogprobs: b.refLogprobs ? pick(b.refLogprobs) : null, advantages: pick(b.advantages), mask },
            { tokens, sequences: B, microBatches },
          );
          const v = loss.item();
          if (!Number.isFinite(v)) throw new NonFiniteLossError(this.step + 1, v, this.lastCheckpoint);
          loss.backward();
          lossValue += v;
          noGrad(() => {
            const completionLogits = logits.narrow(1, b.promptLength - 1, b.completions.shape[1]!).float().div(c.temperature);
            add('entropy', maskedTokenMean(entropyFromLogits(completionLogits), mask.float()).item());
            for (const [k, t] of Object.entries(metrics)) add(k, t.item());
          });
        });
      }
      add('loss', lossValue);
      await this.dp?.allReduceGradients(this.model.parameters());
      if (c.maxGradNorm > 0) add('grad_norm', clipGradNorm(this.model.parameters(), c.maxGradNorm));
      this.optimizer.step();
      this.optimizerSteps++;
      add('lr', lr);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, mean(v)]));
  }

  /** Sample completions in PPO's samples.jsonl format ({iteration, prompt, answer, score}), which `rlhf report` shows. */
  private writeSamples(b: GroupBatch): void {
    const n = Math.min(this.config.numSamples, b.prompts.length);
    for (let i = 0; i < n; i++)
      appendFileSync(join(this.config.outputDir, 'samples.jsonl'), `${JSON.stringify({ iteration: this.step, prompt: b.prompts[i], answer: b.texts[i], score: b.rewards[i] })}\n`);
  }

  private async checkpoint(): Promise<void> {
    const dir = join(this.config.outputDir, `checkpoint-${this.step}`);
    const extra = { optimizerSteps: this.optimizerSteps, heldOutBaseline: this.heldOut?.baseline ?? null, ...(await distributedCheckpointState(this.dp)) };
    const state = { globalStep: this.step, epoch: this.promptEpoch, epochOffset: this.promptOffset, rngState: captureRng(), extra, logHistory: this.history };
    if (writesFiles(this.dp)) await saveCheckpoint(dir, this.model, this.optimizer, state, this.config.saveTotalLimit);
    this.lastCheckpoint = dir;
    await this.events.fire('onSave', this.callbackState, dir);
  }

  /** One held-out evaluation: a metrics.jsonl line (eval/*), the answers in eval_samples.jsonl, onEvaluate and onLog. */
  private async evaluateHeldOut(): Promise<Record<string, number>> {
    return this.heldOut && writesFiles(this.dp) ? logHeldOut(this.heldOut, this.model, this.config.outputDir, this.events, this.callbackState) : {};
  }

  /** Adds a callback for the next train() (HF's add_callback). */
  addCallback(callback: TrainerCallback): this {
    this.callbacks.push(checkCallback(callback, `${this.constructor.name}.addCallback`));
    return this;
  }

  private get callbackState(): CallbackState {
    return { trainer: this.label, step: this.step, maxSteps: this.totalSteps, outputDir: this.config.outputDir };
  }

  private async resume(): Promise<void> {
    const dir = resumeDir(this.config.outputDir, this.config.resumeFromCheckpoint);
    if (dir === null) return;
    const state = await loadCheckpoint(dir, this.model, this.optimizer);
    this.step = state.globalStep;
    this.promptEpoch = state.epoch;
    this.promptOffset = state.epochOffset;
    this.optimizerSteps = state.extra.optimizerSteps as number;
    if (this.heldOut && Array.isArray(state.extra.heldOutBaseline)) this.heldOut.baseline = state.extra.heldOutBaseline as number[];
    this.history.push(...state.logHistory);
    restoreDistributedRng(dir, state.extra, state.rngState, this.dp);
    this.lastCheckpoint = dir;
  }

  /** Runs the steps; the final policy and tokenizer are written to outputDir. */
  async train(): Promise<{ steps: number; metrics: Record<string, number>; outputDir: string; warnings: string[] }> {
    const c = this.config;
    this.dp = await DataParallel.fromEnvironment(this.device);
    const main = writesFiles(this.dp);
    if (main) announceStart(this.label, this.startNotes);
    if (main) {
      mkdirSync(c.outputDir, { recursive: true });
      recoverRunDir(c.outputDir);
      await writeJsonAtomic(join(c.outputDir, `${this.label}_config.json`), c);
    }
    manualSeed(rankSeed(c.seed, this.dp));
    await this.resume();
    if (main) prepareRunLogs(c.outputDir, this.lastCheckpoint !== null ? this.step : null, [{ file: 'metrics.jsonl', stepKey: 'step' }, { file: 'samples.jsonl', stepKey: 'iteration' }, { file: 'eval_samples.jsonl', stepKey: 'iteration' }]);
    this.events = runCallbacks(this.callbacks, c, main);
    // The starting policy's held-out answers: the baseline of the win rate (a resumed run has it from its checkpoint).
    if (this.heldOut?.baseline === null) await this.evaluateHeldOut();
    await this.dp?.broadcastParameters(this.model.parameters());
    const total = this.totalSteps;
    const progress = createProgress(this.label, total, c.progressBar && main);
    progress.update(this.step, {});
    let last: Record<string, number> = {};
    try {
      while (this.step < total) {
        const { batch, metrics } = await this.generate();
        try {
          const own = { ...metrics, ...(await this.update(batch)) };
          // Rewards and metrics over every rank's groups (equal shares).
          const stats = this.dp ? await this.dp.reduceMetrics(own) : own;
          this.step++;
          last = { step: this.step, ...stats };
          this.history.push(last);
          progress.update(this.step, { reward: stats.reward! });
          const stop = await this.events.fire('onStep', this.callbackState, stats);
          if (this.step % c.loggingSteps === 0 || this.step === total || stop) {
            const line = { step: this.step, ...stats, time: Date.now() / 1000 };
            if (main) appendFileSync(join(c.outputDir, 'metrics.jsonl'), `${JSON.stringify(line)}\n`);
            await this.events.fire('onLog', this.callbackState, line);
          }
          if (main && c.sampleEvery > 0 && (this.step % c.sampleEvery === 0 || this.step === 1)) this.writeSamples(batch);
        } finally {
          dispose(batch);
        }
        if (c.saveSteps > 0 && this.step % c.saveSteps === 0 && this.step < total) await this.checkpoint();
        if (this.heldOut && c.evalSteps > 0 && this.step % c.evalSteps === 0 && this.step < total) await this.evaluateHeldOut();
        if (this.events.control.shouldTrainingStop) break;
      }
    } finally {
      progress.stop();
    }
    if (this.heldOut) last = { ...last, ...(await this.evaluateHeldOut()) };
    await this.checkpoint();
    if (main) {
      await this.model.save(c.outputDir);
      await this.tokenizer.save(c.outputDir);
    }
    const warnings = main ? await reportFinding(this.label, rewardTrendFinding(this.history, 'reward', 'kl'), c.outputDir) : [];
    await this.events.fire('onTrainEnd', this.callbackState);
    return { steps: this.step, metrics: last, outputDir: c.outputDir, warnings };
  }

  dispose(): void {
    this.optimizer.dispose();
    if (this.ownsRef) this.refModel?.dispose();
  }
}
