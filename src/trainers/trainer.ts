// The supervised stages' step (SFT, reward model, DPO) on the shared run loop (run-loop.ts):
// data order over epochs of examples, micro-batches and gradient accumulation, AdamW with
// warmup and decay, clipping, a micro-batch split in two when the device runs out of memory,
// and held-out evaluation in eval mode. Stages supply how a batch is made and what its loss is.
import { AdamW } from '../optim/adamw.js';
import { clipGradNormAsync } from '../nn/utils.js';
import { dispose } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/types.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { writesFiles } from '../distributed/run-state.js';
import type { SavableModel } from './checkpoint.js';
import { mixedPrecisionAsync, type TrainingConfig } from './config.js';
import { throwIfAborted } from './abort.js';
import { nextInPass } from './data-order.js';
import { NonFiniteLossError, RunLoop } from './run-loop.js';
import { userCallbacks, type TrainerCallback } from './callbacks.js';

export { NonFiniteLossError, pickDevice, type TrainResult } from './run-loop.js';

/** A micro-batch's loss and what to log; `weight` sets its share in the accumulated step. */
export interface StepOutput {
  loss: Tensor;
  weight: number;
  metrics: Record<string, number>;
}

/** libtorch's out-of-memory errors (CUDA and CPU allocators). */
export const isOutOfMemory = (err: unknown): boolean =>
  err instanceof Error && /out of memory|not enough memory|can't allocate memory/i.test(err.message);

const isNoDecay = (name: string): boolean =>
  name.endsWith('.bias') || /(^|\.)(ln_\w+|ln_f|layernorm|norm)\./i.test(name) || /\.wpe\./.test(name);

/** What a supervised trainer hands its base: the model, its resolved config and encoded data, and how it introduces itself. */
export interface TrainerParts<Example> {
  model: SavableModel;
  config: TrainingConfig;
  trainData: Example[];
  evalData: Example[];
  /** The stage's name in logs and the run directory's files ('sft', 'reward', 'dpo'). */
  label: string;
  /** The trainer's class name, for errors ('SFTTrainer'). */
  who: string;
  /** What the run prints at its start about the defaults it chose (defaultsForStart's notes). */
  startNotes: readonly string[];
  /** The user's callbacks. */
  callbacks: readonly TrainerCallback[] | undefined;
  tokenizer: Tokenizer;
  /** Where the model and batches live. */
  device: Device;
}

export abstract class Trainer<Example, Batch> extends RunLoop<TrainingConfig> {
  readonly optimizer: AdamW;
  /** Micro-batches split after running out of memory (see accumulate). */
  oomRetries = 0;

  readonly model: SavableModel;
  readonly config: TrainingConfig;
  readonly trainData: Example[];
  readonly evalData: Example[];
  readonly label: string;
  readonly tokenizer: Tokenizer;
  readonly device: Device;

  constructor(p: TrainerParts<Example>) {
    super();
    const { model, config, trainData, label } = p;
    if (trainData.length === 0) throw new Error(`${label}: the training data is empty`);
    this.model = model;
    this.config = config;
    this.trainData = trainData;
    this.evalData = p.evalData;
    this.label = label;
    this.tokenizer = p.tokenizer;
    this.device = p.device;
    this.startNotes.push(...p.startNotes);
    this.callbacks.push(...userCallbacks(p.callbacks, p.who));
    const decay: Tensor[] = [];
    const noDecay: Tensor[] = [];
    for (const [name, p] of model.namedParameters()) if (p.requiresGrad) (isNoDecay(name) ? noDecay : decay).push(p);
    const groups = [
      { params: decay, weightDecay: config.weightDecay },
      { params: noDecay, weightDecay: 0 },
    ].filter((g) => g.params.length > 0);
    this.optimizer = new AdamW(groups, {
      lr: config.learningRate,
      betas: [config.adamBeta1, config.adamBeta2],
      eps: config.adamEpsilon,
      weightDecay: config.weightDecay,
    });
  }

  /** Tensors for one micro-batch of examples. */
  protected abstract collate(examples: Example[]): Batch;
  /**
   * The loss of a micro-batch (the model is in train mode), with its forward awaited on the
   * compute thread (GPT.hiddenStatesAsync, tokenLogprobsAsync) so that the event loop stays free.
   * It frees its own intermediates; the loss is the caller's. Grad mode and autocast are those in
   * effect when it is called: an implementation captures them (currentModes) before its first await.
   */
  protected abstract computeLoss(batch: Batch): Promise<StepOutput>;
  /** Held-out metrics (called in eval mode, without autograd); names get an `eval/` prefix. */
  protected abstract evaluate(): Promise<Record<string, number>> | Record<string, number>;
  /** What a micro-batch's mean loss averages over (examples by default; SFT: answer tokens). */
  protected weightOf(examples: Example[]): number {
    return examples.length;
  }
  /** Frees a batch's tensors. */
  protected disposeBatch(batch: Batch): void {
    dispose(batch);
  }
  /** Writes the final model and its companions (tokenizer) into a directory. */
  protected async saveFinal(dir: string): Promise<void> {
    await this.model.save(dir);
  }

  /** Micro-batches per epoch; with several ranks, each takes its share of a global micro-batch of batchSize × worldSize. */
  get microBatchesPerEpoch(): number {
    return Math.ceil(this.trainData.length / (this.config.batchSize * (this.dp?.worldSize ?? 1)));
  }
  get totalSteps(): number {
    const c = this.config;
    if (c.maxSteps > 0) return c.maxSteps;
    return Math.max(1, Math.ceil((this.microBatchesPerEpoch * c.numTrainEpochs) / c.gradientAccumulationSteps));
  }
  get warmupSteps(): number {
    return this.config.warmupSteps > 0 ? this.config.warmupSteps : Math.ceil(this.config.warmupRatio * this.totalSteps);
  }
  currentLr(): number {
    return this.learningRateAt(this.step, this.warmupSteps, this.totalSteps);
  }

  /** The examples of the next micro-batch, in a seeded order reshuffled every epoch. */
  private nextExamples(): Example[] {
    const ids = nextInPass(this.position, this.trainData.length, this.config.batchSize * (this.dp?.worldSize ?? 1), this.config.seed);
    return (this.dp ? this.dp.shard(ids) : ids).map((i) => this.trainData[i]!);
  }

  /** The fractional epoch, logged beside each training line's metrics. */
  protected override logPosition(): Record<string, number> {
    return { epoch: this.position.pass + this.position.offset / this.trainData.length };
  }

  protected override async beforeTraining(): Promise<void> {
    this.model.train();
  }

  /** Held-out metrics; with several ranks rank 0 evaluates alone (the others go on to the next step's all-reduce). */
  protected async evaluation(): Promise<Record<string, number>> {
    if (this.evalData.length === 0 || !writesFiles(this.dp)) return {};
    this.model.eval();
    try {
      const m = await this.evaluate();
      return Object.fromEntries(Object.entries(m).map(([k, v]) => [`eval/${k}`, v]));
    } finally {
      this.model.train();
    }
  }

  /** One optimizer step over gradientAccumulationSteps micro-batches, the gradients averaged across ranks. */
  protected async trainStep(): Promise<Record<string, number>> {
    const c = this.config;
    const micro = Array.from({ length: c.gradientAccumulationSteps }, () => this.nextExamples());
    const lr = this.setLearningRate(this.step, this.warmupSteps, this.totalSteps);
    let stepMetrics: Record<string, number> = {};
    this.optimizer.zeroGrad();
    // Losses are means within a micro-batch; each is scaled by 1/accum, and the logged
    // metrics are re-weighted by the micro-batches' weights (e.g. their token counts).
    const outs: { weight: number; metrics: Record<string, number> }[] = [];
    for (const examples of micro) {
      outs.push(...(await this.accumulate(examples, 1 / c.gradientAccumulationSteps)));
      throwIfAborted(this.signal);
    }
    const totalWeight = outs.reduce((a, o) => a + o.weight, 0);
    for (const o of outs)
      for (const [k, v] of Object.entries(o.metrics))
        stepMetrics[k] = (stepMetrics[k] ?? 0) + (v * o.weight) / Math.max(totalWeight, 1e-12);
    if (this.dp) {
      await this.dp.allReduceGradients(this.sharedParameters());
      stepMetrics = await this.dp.reduceMetrics(stepMetrics, totalWeight);
    }
    if (c.maxGradNorm > 0) stepMetrics.grad_norm = await clipGradNormAsync(this.model.parameters(), c.maxGradNorm);
    await this.optimizer.stepAsync();
    return { ...stepMetrics, lr };
  }

  /**
   * Forward and backward of one micro-batch, its loss scaled by `scale`. When the device runs
   * out of memory, the micro-batch is split in two and each half's loss weighted by its share,
   * which gives the same gradient (as smaller micro-batches with more accumulation would).
   */
  private async accumulate(examples: Example[], scale: number): Promise<{ weight: number; metrics: Record<string, number> }[]> {
    const c = this.config;
    const batch = this.collate(examples);
    try {
      const o = await mixedPrecisionAsync(c.mixedPrecision, this.deviceName, () => this.computeLoss(batch));
      try {
        const value = o.loss.item();
        if (!Number.isFinite(value)) throw new NonFiniteLossError(this.step + 1, value, this.lastCheckpoint);
        const scaled = o.loss.mul(scale);
        try {
          await scaled.backwardAsync();
        } finally {
          scaled.dispose();
        }
        return [{ weight: o.weight, metrics: { loss: value, ...o.metrics } }];
      } finally {
        o.loss.dispose();
      }
    } catch (err) {
      if (!isOutOfMemory(err) || examples.length < 2) throw err;
      const half = Math.ceil(examples.length / 2);
      const [a, b] = [examples.slice(0, half), examples.slice(half)];
      const [wa, wb] = [this.weightOf(a), this.weightOf(b)];
      this.oomRetries++;
      if (this.oomRetries === 1)
        console.error(
          `${this.label}: out of memory on a micro-batch of ${examples.length}; retrying in halves ` +
            `(${String((err as Error).message).split('\n')[0]})`,
        );
      return [...(await this.accumulate(a, (scale * wa) / (wa + wb))), ...(await this.accumulate(b, (scale * wb) / (wa + wb)))];
    } finally {
      this.disposeBatch(batch);
    }
  }
}
