// The online loop GRPO and RLOO share (TRL's GRPOTrainer and RLOOTrainer): each step takes
// batchSize / numGenerations prompts, samples numGenerations completions of each with the
// native generation loop, scores them with reward functions and reward models (rewards.ts),
// turns the rewards into advantages (the method's part: group-normalised for GRPO,
// leave-one-out for RLOO), and runs numIterations clipped policy-gradient updates on that
// batch. The run itself (checkpoints, exact resume, metrics.jsonl, samples.jsonl, held-out
// evaluation) is the shared loop's (run-loop.ts, online-trainer.ts). No critic: the group is
// the baseline. A reference model is kept only when beta > 0.
import { parsePromptRecords, type PromptData } from '../data/records.js';
import { HeldOutEvaluation, judges, rewardInputs, type HeldOutPrompt } from './held-out.js';
import { frozenCopy } from '../models/frozen-copy.js';
import { enableGradientCheckpointing, GPT, type ForwardPath } from '../models/gpt.js';
import { clipGradNormAsync } from '../nn/utils.js';
import { AdamW } from '../optim/adamw.js';
import { checkRewardColumns, resolveRewardWeights, perSourceMetrics, scoreSamples, type RewardSource } from '../rewards/rewards.js';
import { tensor } from '../tensor/creation.js';
import { cat } from '../tensor/join.js';
import { noGrad, noGradAsync } from '../tensor/runtime.js';
import { dispose, keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/types.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { mixedPrecisionAsync } from './config.js';
import { throwIfAborted, type TrainOptions } from './abort.js';
import type { GroupPolicyConfig } from './group-policy-config.js';
import { maskedTokenMean, nanMeanStd } from './grpo-math.js';
import { IGNORE_INDEX } from './tokenize.js';
import { tokenLogprobs, tokenLogprobsAsync } from '../models/token-logprobs.js';
import { userCallbacks, type TrainerCallback } from './callbacks.js';
import { defaultsForStart } from './starting-point.js';
import { checkVocabulary } from './vocab.js';
import { NonFiniteLossError, pickDevice } from './run-loop.js';
import { encodePrompts, OnlineTrainer } from './online-trainer.js';
import type { LoraConfigInput } from '../lora/config.js';
import { onReference, prepareLora, trainableParameters } from '../lora/trainer-setup.js';

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
  /**
   * Other rewards that judge the held-out answers (not trained on), each logged as eval/<name>: a verifiable check
   * beside a reward model.
   */
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

/**
 * Per-token log-probs (B, R) of the completions under `model` at `temperature`, from the
 * sequences (B, P + R): the LM head on positions P-1 … P+R-2 only, chunked over the vocabulary
 * (models/token-logprobs.ts). Tokens after a completion's end (responseMask false) are not
 * scored: log-prob 0 and, with `entropy`, entropy 0; every use of them masks them out.
 */
export function completionLogprobs(
  model: GPT,
  b: { sequences: Tensor; attentionMask: Tensor; completions: Tensor; promptLength: number },
  temperature: number,
  options: { entropy?: boolean; path?: ForwardPath } = {},
): { logprobs: Tensor; entropy: Tensor | null } {
  return tidy(() => {
    const { logprobs, entropy } = tokenLogprobs(model, b.sequences, completionTargets(b), completionOptions(b, temperature, options));
    return { logprobs, entropy };
  });
}

/** completionLogprobs with the forward on the compute thread (tokenLogprobsAsync): the updates' and the old policy's. */
export async function completionLogprobsAsync(
  model: GPT,
  b: { sequences: Tensor; attentionMask: Tensor; completions: Tensor; promptLength: number },
  temperature: number,
  options: { entropy?: boolean; path?: ForwardPath } = {},
): Promise<{ logprobs: Tensor; entropy: Tensor | null }> {
  const targets = completionTargets(b);
  try {
    const { logprobs, entropy } = await tokenLogprobsAsync(model, b.sequences, targets, completionOptions(b, temperature, options));
    return { logprobs, entropy };
  } finally {
    targets.dispose();
  }
}

/** The completion tokens as targets, ignored after a completion's end. */
const completionTargets = (b: { attentionMask: Tensor; completions: Tensor; promptLength: number }): Tensor =>
  tidy(() => b.completions.where(b.attentionMask.narrow(1, b.promptLength, b.completions.shape[1]!), IGNORE_INDEX));

/** tokenLogprobs' options for the completions: positions P-1 … P+R-2. */
const completionOptions = (
  b: { attentionMask: Tensor; promptLength: number },
  temperature: number,
  options: { entropy?: boolean; path?: ForwardPath },
) => ({ attentionMask: b.attentionMask, path: options.path, start: b.promptLength - 1, temperature, entropy: options.entropy });

/** What GRPO or RLOO tells the shared trainer: its stage, its TRL defaults and how its config resolves. */
export interface GroupStage<C> {
  kind: 'grpo' | 'rloo';
  defaults: Readonly<Record<string, unknown>>;
  resolve: (given: Partial<C> & { outputDir: string }, blockSize: number) => C;
}

export abstract class GroupPolicyTrainer<C extends GroupPolicyConfig> extends OnlineTrainer<C> {
  readonly config: C;
  readonly model: GPT;
  readonly refModel: GPT | null;
  readonly tokenizer: Tokenizer;
  readonly optimizer: AdamW;
  readonly device: Device;
  protected readonly heldOut: HeldOutEvaluation | null;
  protected readonly prompts: HeldOutPrompt[];
  protected readonly trendMetrics = { reward: 'reward', kl: 'kl' };
  private readonly sources: RewardSource[];
  private readonly weights: number[];
  private readonly ownsRef: boolean;
  /** The reference is the policy's base (its LoRA adapter off): beta > 0 and no refModel given. */
  private readonly refIsBase: boolean;

  /** The config name (errors, the config file) and the metric prefix of the run. */
  protected abstract override readonly label: 'grpo' | 'rloo';

  constructor(o: GroupPolicyOptions<C>, stage: GroupStage<C>) {
    super();
    const start = defaultsForStart(stage.kind, o.model.origin, o.config, stage.defaults);
    const config = stage.resolve(start.config, o.model.config.blockSize);
    this.config = config;
    this.startNotes.push(...start.notes);
    const name = this.constructor.name;
    this.callbacks.push(...userCallbacks(o.callbacks, name));
    const prompts = parsePromptRecords(o.prompts, `${name} prompts`);
    if (prompts.length === 0) throw new Error(`${name}: no prompts`);
    checkVocabulary(name, o.tokenizer, o.model, 'policy');
    this.sources = Array.isArray(o.rewards) ? [...o.rewards] : [o.rewards];
    this.weights = resolveRewardWeights(this.sources, config.rewardWeights, name);
    checkRewardColumns(this.sources, prompts, `${name} prompts`);
    this.model = o.model;
    this.tokenizer = o.tokenizer;
    this.device = pickDevice(config.device);
    const lora = prepareLora(o.model, o.peftConfig, name, { seed: config.seed });
    if (config.gradientCheckpointing) enableGradientCheckpointing(o.model);
    o.model.to(this.device);
    // Dropout off: the ratio and the KL assume deterministic forwards.
    o.model.eval();
    this.refIsBase = config.beta > 0 && !o.refModel && lora;
    this.ownsRef = config.beta > 0 && !o.refModel && !lora;
    this.refModel = config.beta > 0 && !this.refIsBase ? (o.refModel ?? frozenCopy(o.model)) : null;
    this.refModel?.to(this.device);
    this.refModel?.requiresGrad_(false);
    for (const s of this.sources) if (s instanceof GPT) s.to(this.device).eval();
    this.prompts = encodePrompts(prompts, o.tokenizer, config.maxPromptLength, `${name} prompts`);
    this.heldOut = o.evalDataset
      ? new HeldOutEvaluation(
          encodePrompts(
            parsePromptRecords(o.evalDataset, `${name} evalDataset`),
            o.tokenizer,
            config.maxPromptLength,
            `${name} evalDataset`,
          ),
          o.tokenizer,
          config.maxCompletionLength,
          config.batchSize,
          async (inputs, tokens) => (await scoreSamples(this.sources, this.weights, inputs, tokens, config)).total,
          judges(o.evalRewards, this.device),
          config.rewardTimeout,
        )
      : null;
    this.optimizer = new AdamW(trainableParameters(o.model), {
      lr: config.learningRate,
      betas: [config.adamBeta1, config.adamBeta2],
      eps: config.adamEpsilon,
      weightDecay: config.weightDecay,
    });
  }

  /** Whether the method reads the sampling-time log-probs (off-policy updates, or a KL of them). */
  protected needsOldLogprobs(): boolean {
    return this.config.numIterations > 1;
  }

  /** The method's advantages (B,) from the rewards (B,) of the groups, and its own metrics. */
  protected abstract advantages(
    rewards: Tensor,
    b: { oldLogprobs: Tensor | null; refLogprobs: Tensor | null; completionMask: Tensor },
  ): { advantages: Tensor; metrics: Record<string, number> };

  /** The method's loss for one micro-batch, normalised for its share of the optimizer step. */
  protected abstract microBatchLoss(
    logprobs: Tensor,
    mb: { oldLogprobs: Tensor | null; refLogprobs: Tensor | null; advantages: Tensor; mask: Tensor },
    step: { tokens: number; sequences: number; microBatches: number },
  ): { loss: Tensor; metrics: Record<string, Tensor> };

  get totalSteps(): number {
    const c = this.config;
    if (c.maxSteps > 0) return c.maxSteps;
    return Math.max(
      1,
      Math.ceil((this.prompts.length * c.numTrainEpochs) / ((c.batchSize / c.numGenerations) * (this.dp?.worldSize ?? 1))),
    );
  }

  /** Generation, scoring and advantages for one step; returns the batch and the step's sampling metrics. */
  async generate(): Promise<{ batch: GroupBatch; metrics: Record<string, number> }> {
    const c = this.config;
    const G = c.numGenerations;
    const groups = this.nextPrompts(c.batchSize / G);
    const rows = groups.flatMap((p) => Array.from({ length: G }, () => p));
    // Each prompt is prefilled once and its KV cache shared by the group's G samples; the
    // output has one row per sample, in the order of `rows`.
    const gen = await this.sample(
      groups.map((r) => r.ids),
      c.maxCompletionLength,
      G,
    );
    const made: Tensor[] = []; // freed if scoring fails
    const own = <T extends Tensor>(t: T): T => (made.push(keep(t)), t);
    try {
      const P = gen.promptIds.shape[1]!;
      const completions = own(tidy(() => gen.tokens.where(gen.responseMask, this.fillId())));
      const sequences = own(cat([gen.promptIds, completions], 1));
      const attentionMask = own(cat([gen.promptMask, gen.responseMask], 1));
      const ended = noGrad(() => tidy(() => this.isStopToken(gen.tokens).logicalAnd(gen.responseMask).any(1)));
      const endedList = ended.tolist() as boolean[];
      const completionMask = own(
        tidy(() => (c.maskTruncatedCompletions ? gen.responseMask.logicalAnd(ended.unsqueeze(1)) : gen.responseMask.clone())),
      );
      ended.dispose();
      const texts = gen.sequences.map((ids) => this.tokenizer.decode(ids, { skipSpecialTokens: true }));
      const inputs = rewardInputs(rows, texts, gen.sequences);
      const scored = await scoreSamples(
        this.sources,
        this.weights,
        inputs,
        { sequences, attentionMask },
        { rewardTimeout: c.rewardTimeout },
      );
      const logprobsOf = async (m: GPT) => {
        const b = { sequences, attentionMask, completions, promptLength: P };
        return (await noGradAsync(() => completionLogprobsAsync(m, b, c.temperature, { path: 'native' }))).logprobs;
      };
      // With one update per batch the old policy is the current one: no forward needed for it.
      const oldLogprobs = this.needsOldLogprobs() ? own(await logprobsOf(this.model)) : null;
      const refLogprobs = this.refModel || this.refIsBase ? own(await onReference(this.model, this.refModel, logprobsOf)) : null;
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
      const batch: GroupBatch = {
        sequences,
        attentionMask,
        completions,
        completionMask,
        oldLogprobs,
        refLogprobs,
        advantages,
        promptLength: P,
        prompts: rows.map((r) => r.text),
        texts,
        rewards: scored.total,
      };
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
      const lr = this.setLearningRate(this.optimizerSteps, c.warmupSteps, this.totalSteps * c.numIterations);
      this.optimizer.zeroGrad();
      const microBatches = B / c.microBatchSize;
      let lossValue = 0;
      for (let start = 0; start < B; start += c.microBatchSize) {
        const pick = (t: Tensor) => t.narrow(0, start, c.microBatchSize);
        const part = tidy(() => ({
          sequences: pick(b.sequences),
          attentionMask: pick(b.attentionMask),
          completions: pick(b.completions),
          promptLength: b.promptLength,
        }));
        // The forward and backward run on the compute thread (the event loop stays free); the loss
        // math on (micro-batch, R) tensors runs here.
        const out = await mixedPrecisionAsync(c.mixedPrecision, this.device, () =>
          completionLogprobsAsync(this.model, part, c.temperature, { entropy: true }),
        ).finally(() => dispose(part));
        let loss: Tensor;
        try {
          loss = tidy(() => {
            const { logprobs, entropy } = out;
            const mask = pick(b.completionMask);
            const { loss, metrics } = this.microBatchLoss(
              logprobs,
              {
                oldLogprobs: b.oldLogprobs ? pick(b.oldLogprobs) : null,
                refLogprobs: b.refLogprobs ? pick(b.refLogprobs) : null,
                advantages: pick(b.advantages),
                mask,
              },
              { tokens, sequences: B, microBatches },
            );
            const v = loss.item();
            if (!Number.isFinite(v)) throw new NonFiniteLossError(this.step + 1, v, this.lastCheckpoint);
            lossValue += v;
            noGrad(() => {
              add('entropy', maskedTokenMean(entropy!, mask.float()).item());
              for (const [k, t] of Object.entries(metrics)) add(k, t.item());
            });
            return loss;
          });
        } finally {
          dispose(out);
        }
        try {
          await loss.backwardAsync();
        } finally {
          loss.dispose();
        }
        throwIfAborted(this.signal);
      }
      add('loss', lossValue);
      await this.dp?.allReduceGradients(this.model.parameters());
      if (c.maxGradNorm > 0) add('grad_norm', await clipGradNormAsync(this.model.parameters(), c.maxGradNorm));
      await this.optimizer.stepAsync();
      this.optimizerSteps++;
      add('lr', lr);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, mean(v)]));
  }

  /** One step: generation and scoring of the groups, then numIterations updates on them. */
  protected async trainStep(): Promise<Record<string, number>> {
    const { batch, metrics } = await this.generate();
    try {
      const own = { ...metrics, ...(await this.update(batch)) };
      // Rewards and metrics over every rank's groups (equal shares).
      const stats = this.dp ? await this.dp.reduceMetrics(own) : own;
      if (this.samplesDue())
        this.writeSamples(batch.prompts.map((prompt, i) => ({ prompt, answer: batch.texts[i]!, score: batch.rewards[i]! })));
      return stats;
    } finally {
      dispose(batch);
    }
  }

  protected override progressMetrics(stats: Record<string, number>): Record<string, number> {
    return { reward: stats.reward! };
  }

  override dispose(): void {
    super.dispose();
    if (this.ownsRef) this.refModel?.dispose();
  }
}
