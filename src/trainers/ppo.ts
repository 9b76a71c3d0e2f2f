// Stage 3: PPO against the reward model with a per-token KL penalty to the frozen SFT policy
// (InstructGPT; TRL's PPO trainer; "The N Implementation Details of RLHF with PPO").
// One iteration: rollout → score → advantages → several epochs of clipped updates. The run around
// the iterations (resume, checkpoints, logs, held-out evaluation) is the shared loop's (run-loop.ts,
// online-trainer.ts).
import { parsePromptRecords, parseSFTRecords, type PromptData, type SFTData } from '../data/records.js';
import { mulberry32, shuffle } from '../data/random.js';
import { ActorCritic } from '../models/actor-critic.js';
import { enableGradientCheckpointing, GPT } from '../models/gpt.js';
import type { RewardModel } from '../models/reward-model.js';
import { clipGradNormAsync } from '../nn/utils.js';
import { AdamW } from '../optim/adamw.js';
import { tensor } from '../tensor/creation.js';
import { cat } from '../tensor/join.js';
import { noGrad } from '../tensor/runtime.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { withMixedPrecision } from './config.js';
import { defaultPPOConfig, resolvePPOConfig, type PPOConfig } from './ppo-config.js';
import {
  AdaptiveKLController,
  FixedKLController,
  explainedVariance,
  gae,
  klPerToken,
  maskedMean,
  maskedWhiten,
  policyLoss,
  tokenRewards,
  valueLoss,
  type KLController,
} from './ppo-math.js';
import { HeldOutEvaluation, judges, type HeldOutPrompt } from './held-out.js';
import type { RewardSource } from '../rewards/rewards.js';
import { callReward, RewardTimeoutError } from '../rewards/reward-call.js';
import { completionText } from '../rewards/types.js';
import { promptText } from '../tokenizers/prompt.js';
import { throwIfAborted } from './abort.js';
import { userCallbacks, type TrainerCallback } from './callbacks.js';
import { checkVocabulary } from './vocab.js';
import { defaultsForStart } from './starting-point.js';
import { collateSequences, languageModelLoss } from './sft.js';
import { IGNORE_INDEX, sftSequence, type LabeledSequence } from './tokenize.js';
import { headLogprobs, tokenLogprobs } from '../models/token-logprobs.js';
import { NonFiniteLossError, pickDevice } from './run-loop.js';
import { encodePrompts, OnlineTrainer } from './online-trainer.js';
import type { LoraConfigInput } from '../lora/config.js';
import { onReference, prepareLora, trainableParameters } from '../lora/trainer-setup.js';
import { hasLora } from '../lora/adapter.js';
import type { Device } from '../tensor/types.js';
import type { TrainOptions } from './abort.js';

/**
 * PPO's programmatic reward: one finite score per (prompt, answer), sync or async. Both are texts:
 * a conversational prompt comes rendered with the chat template.
 */
export type PPORewardFn = (prompts: string[], answers: string[]) => number[] | Promise<number[]>;

export interface PPOTrainerOptions {
  /** The trained actor-critic (from the SFT checkpoint). */
  model: ActorCritic;
  /**
   * The frozen reference policy (the SFT model); with a LoRA adapter it may be left out: the policy with its adapter
   * off is the reference.
   */
  refModel?: GPT | undefined;
  /**
   * Train a LoRA adapter on the policy's trunk (TRL's peft_config), the value head in full. With a
   * separate critic, the critic gets an adapter of its own on its trunk (criticPeftConfig).
   */
  peftConfig?: LoraConfigInput | undefined;
  /**
   * The separate critic's adapter: default the policy's config (or, for a critic loaded with an adapter, that one,
   * trained on); null trains the critic in full.
   */
  criticPeftConfig?: LoraConfigInput | null | undefined;
  /** The frozen reward model (or give rewardFn). */
  rewardModel?: RewardModel;
  /**
   * A programmatic reward instead of a reward model: scores for (prompt, answer) texts, the
   * answers decoded without special tokens. Useful for tests and verifiable tasks.
   */
  rewardFn?: PPORewardFn;
  tokenizer: Tokenizer;
  config: Partial<PPOConfig> & { outputDir: string };
  /** TRL prompt rows ({prompt, ...}) or loaded prompts; a bad one fails with `index N: field …`. */
  prompts: PromptData;
  /** Demonstrations for PPO-ptx (with ptxCoef > 0). */
  ptxDataset?: SFTData | undefined;
  /** Called after each iteration, with each metrics line, each checkpoint and at the end; may stop the run early. */
  callbacks?: readonly TrainerCallback[] | undefined;
  /** Held-out prompts (TRL's eval_dataset), answered greedily and scored by the reward before training, every evalSteps and at the end. */
  evalDataset?: PromptData | undefined;
  /**
   * Other rewards that judge the held-out answers (not trained on), each logged as eval/<name>: a verifiable check
   * beside a reward model.
   */
  evalRewards?: RewardSource | RewardSource[] | undefined;
}

/** One rollout batch with everything the update needs (B rollouts, P prompt + R response tokens). */
export interface Rollout {
  /** (B, P + R) prompt (left-padded) + response (right-padded) */
  sequences: Tensor;
  attentionMask: Tensor;
  /** (B, R) */
  responses: Tensor;
  responseMask: Tensor;
  /** Log-probs returned by the generation loop and recomputed by a forward pass (B, R). */
  genLogprobs: Tensor;
  logprobs: Tensor;
  refLogprobs: Tensor;
  values: Tensor;
  /** (B,) reward-model scores, after the missing-EOS penalty. */
  scores: Tensor;
  rewards: Tensor;
  kl: Tensor;
  nonScoreReward: Tensor;
  advantages: Tensor;
  returns: Tensor;
  promptLength: number;
  prompts: string[];
}

export class PPOTrainer extends OnlineTrainer<PPOConfig> {
  protected readonly label = 'ppo';
  protected readonly trendMetrics = { reward: 'objective/scores', kl: 'objective/kl' };
  readonly config: PPOConfig;
  readonly model: ActorCritic;
  /** The reference policy; null when it is the policy's base (its LoRA adapter off). */
  readonly refModel: GPT | null;
  readonly rewardModel: RewardModel | null;
  readonly rewardFn: PPORewardFn | null;
  readonly tokenizer: Tokenizer;
  readonly optimizer: AdamW;
  /** The KL coefficient over the run (config.klCoef, fixed or adapted to targetKl). */
  readonly klController: KLController;
  readonly device: Device;
  protected readonly prompts: HeldOutPrompt[];
  private readonly ptx: LabeledSequence[];
  protected readonly heldOut: HeldOutEvaluation | null;

  constructor(o: PPOTrainerOptions) {
    const given: unknown = o.model;
    if (!(given instanceof ActorCritic)) {
      const got =
        given instanceof GPT ? 'a GPT (load the policy with ActorCritic.fromTrunk(dir), which adds the value head)' : 'something else';
      throw new Error(`PPOTrainer: 'model' must be an ActorCritic (the policy with a value head), got ${got}`);
    }
    if (!o.rewardModel === !o.rewardFn) throw new Error('PPOTrainer: give exactly one of rewardModel and rewardFn');
    super();
    const start = defaultsForStart('ppo', o.model.origin, o.config, defaultPPOConfig);
    this.startNotes.push(...start.notes);
    this.config = resolvePPOConfig(start.config, o.model.config.blockSize);
    const c = this.config;
    this.callbacks.push(...userCallbacks(o.callbacks, 'PPOTrainer'));
    const prompts = parsePromptRecords(o.prompts, 'PPOTrainer prompts');
    if (prompts.length === 0) throw new Error('PPOTrainer: no prompts');
    if (c.ptxCoef > 0 && !(o.ptxDataset && o.ptxDataset.length > 0)) throw new Error('PPOConfig: ptxCoef > 0 needs a ptxDataset');
    checkVocabulary('PPOTrainer', o.tokenizer, o.model, 'policy');
    for (const [name, m] of [
      ['reference model', o.refModel],
      ['reward model', o.rewardModel ?? null],
    ] as const)
      if (m && m.config.vocabSize !== o.model.config.vocabSize)
        throw new Error(
          `PPOTrainer: the ${name} has a vocabulary of ${m.config.vocabSize}, the policy ${o.model.config.vocabSize}; they must ` +
            'share the tokenizer',
        );
    const lora = prepareLora(o.model, o.peftConfig, 'PPOTrainer', {
      seed: c.seed,
      modulesToSave: o.model.v_head ? ['v_head'] : [],
      exclude: ['critic'],
    });
    // A critic loaded from a reward model's adapter directory keeps training that adapter.
    const criticConfig =
      o.criticPeftConfig === undefined
        ? o.model.critic && hasLora(o.model.critic)
          ? undefined
          : o.peftConfig
        : (o.criticPeftConfig ?? undefined);
    if (o.model.critic) prepareLora(o.model.critic, criticConfig, 'PPOTrainer (critic)', { seed: c.seed, modulesToSave: ['score'] });
    // The policy's trunk and a separate critic's alike.
    if (c.gradientCheckpointing) enableGradientCheckpointing(o.model);
    if (!o.refModel && !lora)
      throw new Error(
        'PPOTrainer: give refModel (the frozen SFT policy), or train a LoRA adapter (peftConfig), whose base is then the reference',
      );
    this.model = o.model;
    this.refModel = o.refModel ?? null;
    this.rewardModel = o.rewardModel ?? null;
    this.rewardFn = o.rewardFn ?? null;
    this.tokenizer = o.tokenizer;
    this.device = pickDevice(c.device);
    const models = [o.model, ...(o.refModel ? [o.refModel] : []), ...(o.rewardModel ? [o.rewardModel] : [])];
    for (const m of models) m.to(this.device);
    // Dropout off in all four models: the policy and the value model (both in the ActorCritic, as a
    // value head or a separate critic), the reference and the reward model (where they are given).
    // PPO's ratio and KL assume deterministic forwards.
    for (const m of models) m.eval();
    o.refModel?.requiresGrad_(false);
    o.rewardModel?.requiresGrad_(false);
    this.prompts = encodePrompts(prompts, o.tokenizer, c.maxPromptLength, 'PPOTrainer prompts');
    const evalPrompts = o.evalDataset ? parsePromptRecords(o.evalDataset, 'PPOTrainer evalDataset') : null;
    this.heldOut = evalPrompts
      ? new HeldOutEvaluation(
          encodePrompts(evalPrompts, o.tokenizer, c.maxPromptLength, 'PPOTrainer evalDataset'),
          o.tokenizer,
          c.maxNewTokens,
          c.batchSize,
          async (inputs, tokens) => {
            if (this.rewardModel)
              return tidy(
                () =>
                  noGrad(() => this.rewardModel!.rewards(tokens.sequences, tokens.attentionMask, { path: 'native' })).tolist() as number[],
              );
            const prompts = inputs.prompts.map((p) => promptText(this.tokenizer, p));
            const answers = inputs.completions.map(completionText);
            const scores = await callReward(this.rewardFnName, c.rewardTimeout, () => this.rewardFn!(prompts, answers));
            return scores.map((v) => (typeof v === 'number' ? v : Number.NaN));
          },
          judges(o.evalRewards, this.device),
          c.rewardTimeout,
        )
      : null;
    this.ptx = parseSFTRecords(o.ptxDataset ?? [], 'PPOTrainer ptxDataset').map((x) =>
      sftSequence(x, o.tokenizer, o.model.config.blockSize, true),
    );
    this.optimizer = new AdamW(trainableParameters(o.model), { lr: c.learningRate, eps: c.adamEpsilon, weightDecay: c.weightDecay });
    this.klController = c.adaptiveKl ? new AdaptiveKLController(c.klCoef, c.targetKl, c.klHorizon) : new FixedKLController(c.klCoef);
  }

  /** Iterations done (the run loop's step). */
  get iteration(): number {
    return this.step;
  }

  get totalSteps(): number {
    return this.config.numIterations;
  }

  private get totalOptimizerSteps(): number {
    const c = this.config;
    return c.numIterations * c.ppoEpochs * (c.batchSize / c.miniBatchSize);
  }

  /** Steps 1–3: generate, score, and compute advantages. */
  async rollout(): Promise<Rollout> {
    const c = this.config;
    const batch = this.nextPrompts(c.batchSize);
    const gen = await this.sample(
      batch.map((b) => b.ids),
      c.maxNewTokens,
    );
    try {
      // A programmatic reward may be async: it is awaited before the tensor work below.
      const programmatic = this.rewardFn
        ? await this.programmaticScores(
            batch.map((b) => b.text),
            gen.tokens,
            gen.responseMask,
          )
        : null;
      return noGrad(() =>
        tidy(() => {
          const P = gen.promptIds.shape[1]!;
          const sequences = cat([gen.promptIds, gen.tokens.where(gen.responseMask, this.fillId())], 1);
          const attentionMask = cat([gen.promptMask, gen.responseMask], 1);
          const parts = { logprobs: [] as Tensor[], values: [] as Tensor[], ref: [] as Tensor[], scores: [] as Tensor[] };
          for (let i = 0; i < batch.length; i += c.microBatchSize) {
            const n = Math.min(c.microBatchSize, batch.length - i);
            const ids = sequences.narrow(0, i, n);
            const mask = attentionMask.narrow(0, i, n);
            // The response tokens, scored at positions P-1 … P+R-2; after EOS nothing is scored.
            const targets = gen.tokens.narrow(0, i, n).where(gen.responseMask.narrow(0, i, n), IGNORE_INDEX);
            const R = targets.shape[1]!;
            const temperature = c.temperature;
            const hv = this.model.hiddenAndValues(ids, mask, { path: 'native' });
            parts.logprobs.push(headLogprobs(this.model, hv.hidden.narrow(1, P - 1, R), targets, { temperature }).logprobs);
            parts.values.push(hv.values.narrow(1, P - 1, R));
            parts.ref.push(
              onReference(this.model, this.refModel, (m) =>
                tokenLogprobs(m, ids, targets, { attentionMask: mask, path: 'native', start: P - 1, temperature }),
              ).logprobs,
            );
            if (this.rewardModel) parts.scores.push(noGrad(() => this.rewardModel!.rewards(ids, mask, { path: 'native' })));
          }
          const responseMask = gen.responseMask.clone(); // gen is disposed after this scope
          const m = responseMask.float();
          const logprobs = cat(parts.logprobs).mul(m);
          const refLogprobs = cat(parts.ref).mul(m);
          const values = cat(parts.values).mul(m);
          let scores = this.rewardModel ? cat(parts.scores) : tensor(programmatic!, { dtype: 'float32', device: this.device });
          if (c.missingEosPenalty !== 0) {
            const hasEos = this.isStopToken(gen.tokens).logicalAnd(responseMask).any(1);
            scores = scores.sub(hasEos.logicalNot().float().mul(c.missingEosPenalty));
          }
          const kl = klPerToken(logprobs, refLogprobs, c.klEstimator).mul(m);
          const { rewards: raw, nonScoreReward } = tokenRewards(scores, kl, responseMask, this.klController.klCoef);
          const rewards = c.whitenRewards ? maskedWhiten(raw, responseMask, false).mul(m) : raw;
          const { advantages: adv, returns } = gae(rewards, values, responseMask, c.gamma, c.lam);
          const advantages = maskedWhiten(adv, responseMask).mul(m);
          return {
            sequences,
            attentionMask,
            responses: gen.tokens.where(responseMask, this.fillId()),
            responseMask,
            genLogprobs: gen.logprobs.clone(),
            logprobs,
            refLogprobs,
            values,
            scores,
            rewards,
            kl,
            nonScoreReward,
            advantages,
            returns,
            promptLength: P,
            prompts: batch.map((b) => b.text),
          };
        }),
      );
    } finally {
      dispose(gen);
    }
  }

  /** The programmatic reward's name in errors. */
  private get rewardFnName(): string {
    return this.rewardFn?.name || 'rewardFn';
  }

  private async programmaticScores(prompts: string[], tokens: Tensor, mask: Tensor): Promise<number[]> {
    const rows = tokens.tolist() as number[][];
    const masks = mask.tolist() as boolean[][];
    const answers = rows.map((row, i) =>
      this.tokenizer.decode(
        row.filter((_, j) => masks[i]![j]),
        { skipSpecialTokens: true },
      ),
    );
    const name = this.rewardFnName;
    let scores: unknown;
    try {
      scores = await callReward(name, this.config.rewardTimeout, () => this.rewardFn!(prompts, answers));
    } catch (err) {
      if (err instanceof RewardTimeoutError) throw err;
      throw new Error(`PPOTrainer: reward function '${name}' failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    if (!Array.isArray(scores) || scores.length !== prompts.length)
      throw new Error(
        `PPOTrainer: reward function '${name}' must return ${prompts.length} numbers (one per answer), got ` +
          `${Array.isArray(scores) ? `${scores.length} values` : typeof scores}`,
      );
    scores.forEach((v, i) => {
      if (!(typeof v === 'number' && Number.isFinite(v)))
        throw new Error(
          `PPOTrainer: reward function '${name}': answer ${i} (prompt ${JSON.stringify(prompts[i]!.slice(0, 60))}) scored ` +
            `${String(v)}, expected a finite number`,
        );
    });
    return scores as number[];
  }

  /**
   * Step 4: ppoEpochs passes of clipped policy and value updates over shuffled minibatches. With
   * several ranks the gradients are averaged before clipping and the early stop reads the
   * ranks' mean approximate KL, so that every rank takes the same optimizer steps.
   */
  private async update(r: Rollout): Promise<Record<string, number>> {
    const c = this.config;
    const stats: Record<string, number[]> = {};
    const add = (k: string, v: number) => (stats[k] ??= []).push(v);
    const B = r.sequences.shape[0]!;
    const P = r.promptLength;
    const rng = mulberry32(c.seed * 31 + this.step);
    let stop = false;
    let ptxCursor = 0;
    for (let epoch = 0; epoch < c.ppoEpochs && !stop; epoch++) {
      const order = shuffle([...Array(B).keys()], rng);
      for (let start = 0; start < B && !stop; start += c.miniBatchSize) {
        const mb = order.slice(start, start + c.miniBatchSize);
        const lr = this.setLearningRate(this.optimizerSteps, c.warmupSteps, this.totalOptimizerSteps);
        this.optimizer.zeroGrad();
        const micro = mb.length / c.microBatchSize;
        let approxKl = 0;
        for (let k = 0; k < mb.length; k += c.microBatchSize) {
          throwIfAborted(this.signal); // within one micro-batch, as the other stages
          tidy(() => {
            const idx = tensor(mb.slice(k, k + c.microBatchSize), { dtype: 'int64', device: this.device });
            const pick = (t: Tensor) => t.indexSelect(0, idx);
            const mask = pick(r.responseMask);
            const R = r.responses.shape[1]!;
            const targets = pick(r.responses).where(mask, IGNORE_INDEX);
            // The LM head on the response positions only, chunked over the vocabulary; its
            // log-probs and entropy come in float32 whatever the forward's precision (log-probs
            // and ratios are sensitive).
            const { values, head } = withMixedPrecision(c.mixedPrecision, this.device, () => {
              const out = this.model.hiddenAndValues(pick(r.sequences), pick(r.attentionMask));
              const hidden = out.hidden.narrow(1, P - 1, R);
              return { values: out.values, head: headLogprobs(this.model, hidden, targets, { temperature: c.temperature, entropy: true }) };
            });
            const vpred = values.narrow(1, P - 1, R).float();
            const pl = policyLoss(head.logprobs, pick(r.logprobs), pick(r.advantages), mask, c.cliprange);
            const vl = valueLoss(vpred, pick(r.values), pick(r.returns), mask, c.cliprangeValue);
            const entropy = maskedMean(head.entropy!, mask);
            let loss = pl.loss.add(vl.loss.mul(c.vfCoef));
            if (c.entCoef > 0) loss = loss.sub(entropy.mul(c.entCoef));
            if (c.ptxCoef > 0) {
              const seqs = Array.from({ length: c.microBatchSize }, () => this.ptx[ptxCursor++ % this.ptx.length]!);
              const pb = collateSequences(seqs, this.tokenizer.padTokenId, this.device);
              const ptxLoss = languageModelLoss(this.model, pb);
              add('loss/ptx_avg', ptxLoss.item());
              loss = loss.add(ptxLoss.mul(c.ptxCoef));
            }
            const value = loss.item();
            if (!Number.isFinite(value)) throw new NonFiniteLossError(this.step + 1, value, this.lastCheckpoint);
            loss.div(micro).backward();
            const ak = pl.approxKl.item();
            approxKl += ak / micro;
            add('policy/approxkl_avg', ak);
            add('policy/clipfrac_avg', pl.clipfrac.item());
            add('loss/policy_avg', pl.loss.item());
            add('loss/value_avg', vl.loss.item());
            add('val/clipfrac_avg', vl.clipfrac.item());
            add('policy/entropy_avg', entropy.item());
            add('val/ratio', pl.ratio.item());
          });
        }
        if (this.dp) {
          await this.dp.allReduceGradients(this.model.parameters());
          approxKl = (await this.dp.sum([approxKl]))[0]! / this.dp.worldSize;
        }
        // On the compute thread, as the other stages: a generation queued there (a server's) never
        // reads the weights while AdamW writes them.
        if (c.maxGradNorm > 0) add('grad_norm', await clipGradNormAsync(this.model.parameters(), c.maxGradNorm));
        await this.optimizer.stepAsync();
        this.optimizerSteps++;
        add('lr', lr);
        if (c.earlyStopKl > 0 && approxKl > c.earlyStopKl) {
          stop = true;
          add('policy/early_stop_epoch', epoch);
        }
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const out = Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, mean(v)]));
    out['val/ratio_var'] = stats['val/ratio'] ? mean(stats['val/ratio'].map((x) => (x - out['val/ratio']!) ** 2)) : 0;
    return out;
  }

  /** Rollout statistics under TRL's names. */
  private rolloutStats(r: Rollout): Record<string, number> {
    return noGrad(() =>
      tidy(() => {
        const m = r.responseMask.float();
        const meanKl = r.kl.sum(1).mean().item();
        const nonScore = r.nonScoreReward.sum(1).mean().item();
        const scores = r.scores.mean().item();
        return {
          'objective/kl': meanKl,
          'objective/entropy': r.logprobs.neg().mul(m).sum(1).mean().item(),
          'objective/non_score_reward': nonScore,
          'objective/rlhf_reward': scores + nonScore,
          'objective/scores': scores,
          'objective/kl_coef': this.klController.klCoef,
          'val/num_eos_tokens': this.isStopToken(r.responses).logicalAnd(r.responseMask).sum().item(),
          'val/response_length': m.sum(1).mean().item(),
          'val/explained_variance': explainedVariance(r.values, r.returns, r.responseMask),
        };
      }),
    );
  }

  /** The first answers of a rollout for samples.jsonl. */
  private writeRolloutSamples(r: Rollout): void {
    const n = Math.min(this.config.numSamples, r.prompts.length);
    const rows = (r.responses.tolist() as number[][]).slice(0, n);
    const masks = (r.responseMask.tolist() as boolean[][]).slice(0, n);
    const scores = (r.scores.tolist() as number[]).slice(0, n);
    this.writeSamples(
      rows.map((row, i) => ({
        prompt: r.prompts[i]!,
        answer: this.tokenizer.decode(
          row.filter((_, j) => masks[i]![j]),
          { skipSpecialTokens: true },
        ),
        score: scores[i]!,
      })),
    );
  }

  /** One iteration: a rollout, its PPO epochs, and the KL coefficient's update from the measured KL. */
  protected async trainStep(): Promise<Record<string, number>> {
    const r = await this.rollout();
    try {
      const own = { ...this.rolloutStats(r), ...(await this.update(r)) };
      // Scores, KL and the other metrics over every rank's rollouts (equal shares).
      const stats = this.dp ? await this.dp.reduceMetrics(own) : own;
      this.klController.update(stats['objective/kl']!, this.config.batchSize);
      if (this.samplesDue()) this.writeRolloutSamples(r);
      return stats;
    } finally {
      dispose(r);
    }
  }

  protected override progressMetrics(stats: Record<string, number>): Record<string, number> {
    return { score: stats['objective/scores']!, kl: stats['objective/kl']! };
  }

  /** A history row: the iteration, the episodes (rollouts) so far, and the iteration's metrics, as TRL logs them. */
  protected override stepRow(stats: Record<string, number>): Record<string, number> {
    return { iteration: this.step, episode: this.step * this.config.batchSize, ...stats };
  }

  protected override checkpointExtra(): Record<string, unknown> {
    return { klCoef: this.klController.klCoef, ...super.checkpointExtra() };
  }

  protected override onResume(extra: Record<string, unknown>): void {
    this.klController.klCoef = extra.klCoef as number;
    super.onResume(extra);
  }
}
