// The one training loop every stage uses: data order, micro-batches and gradient
// accumulation, AdamW with warmup and decay, clipping, held-out evaluation, metrics.jsonl,
// a progress bar, checkpoints and exact resume. Stages (SFT, reward model) supply how a
// batch is made and what its loss is.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../nn/utils.js';
import { cuda, manualSeed } from '../tensor/runtime.js';
import { tidy, dispose } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/types.js';
import { mulberry32, shuffle } from '../data/random.js';
import { captureRng, loadCheckpoint, resumeDir, saveCheckpoint, type SavableModel, type TrainerState } from './checkpoint.js';
import { withMixedPrecision, type TrainingConfig } from './config.js';
import { createProgress } from './progress.js';
import { recoverRunDir } from './run-dir.js';
import { prepareRunLogs } from './run-logs.js';
import { lrFactor } from './schedule.js';
import { announceStart } from './starting-point.js';
import { reportFinding } from './learning-check.js';
import { CallbackList, checkCallback, runCallbacks, type CallbackState, type TrainerCallback } from './callbacks.js';
import { DataParallel } from '../distributed/ddp.js';
import { launchEnv } from '../distributed/process-group.js';
import { distributedCheckpointState, rankSeed, restoreDistributedRng, writesFiles } from '../distributed/run-state.js';

/** A micro-batch's loss and what to log; `weight` sets its share in the accumulated step. */

/**
 * One turn of the event loop between optimizer steps (tens of microseconds): timers, I/O and a
 * server's requests run while a model trains in the same process, instead of only when it
 * evaluates or saves.
 */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
export interface StepOutput {
  loss: Tensor;
  weight: number;
  metrics: Record<string, number>;
}

export class NonFiniteLossError extends Error {
  constructor(step: number, value: number, lastCheckpoint: string | null) {
    super(
      `training stopped: the loss became ${value} at step ${step}. ` +
        (lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint}.` : 'No checkpoint had been written yet.') +
        ' Try a lower learning rate or a smaller maxGradNorm.',
    );
    this.name = 'NonFiniteLossError';
  }
}

/** libtorch's out-of-memory errors (CUDA and CPU allocators). */
export const isOutOfMemory = (err: unknown): boolean => err instanceof Error && /out of memory|not enough memory|can't allocate memory/i.test(err.message);

export interface TrainResult {
  globalStep: number;
  /** The last logged training metrics and the final evaluation (prefixed eval/). */
  metrics: Record<string, number>;
  outputDir: string;
  /** Findings that the run learned nothing (src/trainers/learning-check.ts), also printed and kept in warnings.json. */
  warnings: string[];
}

/** 'auto': CUDA when available — in a data-parallel launch the rank's own GPU, cuda:LOCAL_RANK — else the CPU. */
export function pickDevice(d: Device | 'auto'): Device {
  if (d !== 'auto') return d;
  if (!cuda.isAvailable()) return 'cpu';
  const le = launchEnv();
  return le && le.worldSize > 1 ? (`cuda:${le.localRank % Math.max(1, cuda.deviceCount())}` as Device) : 'cuda';
}

const isNoDecay = (name: string): boolean => name.endsWith('.bias') || /(^|\.)(ln_\w+|ln_f|layernorm|norm)\./i.test(name) || /\.wpe\./.test(name);

export abstract class Trainer<Example, Batch> {
  /** What the run chose and why (defaults by starting point), printed when it starts. */
  protected readonly startNotes: string[] = [];
  readonly optimizer: AdamW;
  protected globalStep = 0;
  protected epoch = 0;
  protected epochOffset = 0;
  protected logHistory: Record<string, number>[] = [];
  protected extraState: Record<string, unknown> = {};
  private lastCheckpoint: string | null = null;
  /** Micro-batches split after running out of memory (see accumulate). */
  oomRetries = 0;
  /** The data-parallel run this trainer is part of (set by train()), or null for one process. */
  protected dp: DataParallel | null = null;
  /** The trainer's callbacks (see addCallback); a run adds those of `reportTo`. */
  protected readonly callbacks: TrainerCallback[] = [];
  /** The running train()'s callbacks and their control. */
  private events = new CallbackList();

  constructor(
    readonly model: SavableModel,
    readonly config: TrainingConfig,
    readonly trainData: Example[],
    readonly evalData: Example[],
    readonly label: string,
  ) {
    if (trainData.length === 0) throw new Error(`${label}: the training data is empty`);
    const decay: Tensor[] = [];
    const noDecay: Tensor[] = [];
    for (const [name, p] of model.namedParameters()) if (p.requiresGrad) (isNoDecay(name) ? noDecay : decay).push(p);
    const groups = [
      { params: decay, weightDecay: config.weightDecay },
      { params: noDecay, weightDecay: 0 },
    ].filter((g) => g.params.length > 0);
    this.optimizer = new AdamW(groups, { lr: config.learningRate, betas: [config.adamBeta1, config.adamBeta2], eps: config.adamEpsilon, weightDecay: config.weightDecay });
  }

  /** Adds a callback for the next train() (HF's add_callback): onStep, onLog, onEvaluate, onSave, onTrainEnd, early stop. */
  addCallback(callback: TrainerCallback): this {
    this.callbacks.push(checkCallback(callback, `${this.constructor.name}.addCallback`));
    return this;
  }

  /** What the callbacks are told of the run. */
  protected get callbackState(): CallbackState {
    return { trainer: this.label, step: this.globalStep, maxSteps: this.totalSteps, outputDir: this.config.outputDir };
  }

  /** The device the model trains on. */
  protected get deviceName(): string {
    return this.model.parameters()[0]?.device ?? 'cpu';
  }

  /** Tensors for one micro-batch of examples. */
  protected abstract collate(examples: Example[]): Batch;
  /** The loss of a micro-batch (the model is in train mode). */
  protected abstract computeLoss(batch: Batch): StepOutput;
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
  /** Called after the last step, before the final save (e.g. reward normalisation). */
  protected async onTrainEnd(): Promise<void> {}
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
    return this.config.learningRate * lrFactor(this.config.lrSchedulerType, this.globalStep, this.warmupSteps, this.totalSteps);
  }

  /** The examples of the next micro-batch, in a seeded order reshuffled every epoch. */
  private nextExamples(): Example[] {
    if (this.epochOffset >= this.trainData.length) {
      this.epoch++;
      this.epochOffset = 0;
    }
    const order = shuffle([...this.trainData.keys()], mulberry32(this.config.seed * 1000003 + this.epoch));
    const ids = order.slice(this.epochOffset, this.epochOffset + this.config.batchSize * (this.dp?.worldSize ?? 1));
    this.epochOffset += ids.length;
    return (this.dp ? this.dp.shard(ids) : ids).map((i) => this.trainData[i]!);
  }

  private async resume(): Promise<void> {
    const dir = resumeDir(this.config.outputDir, this.config.resumeFromCheckpoint);
    if (dir === null) return;
    const state = await loadCheckpoint(dir, this.model, this.optimizer);
    this.globalStep = state.globalStep;
    this.epoch = state.epoch;
    this.epochOffset = state.epochOffset;
    this.logHistory = state.logHistory ?? [];
    this.extraState = state.extra ?? {};
    restoreDistributedRng(dir, state.extra, state.rngState, this.dp);
    this.lastCheckpoint = dir;
    this.onResume(this.extraState);
  }
  /** Restores trainer-specific state saved in `extraState`. */
  protected onResume(_extra: Record<string, unknown>): void {}

  private async checkpoint(): Promise<void> {
    const dir = join(this.config.outputDir, `checkpoint-${this.globalStep}`);
    const rngState = captureRng();
    const extra = { ...this.extraState, ...(await distributedCheckpointState(this.dp)) };
    const state: Omit<TrainerState, 'optimizer'> = {
      globalStep: this.globalStep, epoch: this.epoch, epochOffset: this.epochOffset, rngState, extra, logHistory: this.logHistory,
    };
    if (writesFiles(this.dp)) await saveCheckpoint(dir, this.model, this.optimizer, state, this.config.saveTotalLimit);
    this.lastCheckpoint = dir;
    await this.events.fire('onSave', this.callbackState, dir);
  }

  private async log(record: Record<string, number>): Promise<void> {
    this.logHistory.push(record);
    const line = { ...record, time: Date.now() / 1000 };
    if (writesFiles(this.dp)) appendFileSync(join(this.config.outputDir, 'metrics.jsonl'), `${JSON.stringify(line)}\n`);
    await this.events.fire('onLog', this.callbackState, line);
  }

  /** Held-out metrics; with several ranks rank 0 evaluates alone (the others go on to the next step's all-reduce). */
  private async runEval(): Promise<Record<string, number>> {
    if (this.evalData.length === 0 || !writesFiles(this.dp)) return {};
    this.model.eval();
    try {
      const m = await this.evaluate();
      const metrics = Object.fromEntries(Object.entries(m).map(([k, v]) => [`eval/${k}`, v]));
      await this.events.fire('onEvaluate', this.callbackState, metrics);
      return metrics;
    } finally {
      this.model.train();
    }
  }

  /** What says the run learned nothing, from its final metrics (each stage has its own evidence); null: nothing to report. */
  protected learningFinding(_metrics: Record<string, number>): string | null {
    return null;
  }

  /** Runs the training to totalSteps (continuing a checkpoint when asked). */
  async train(): Promise<TrainResult> {
    const c = this.config;
    this.dp = await DataParallel.fromEnvironment(this.deviceName);
    const main = writesFiles(this.dp);
    const trainable = this.model.parameters().filter((p) => p.requiresGrad);
    if (main) announceStart(this.label, this.startNotes);
    if (main) {
      mkdirSync(c.outputDir, { recursive: true });
      recoverRunDir(c.outputDir);
      await writeJsonAtomic(join(c.outputDir, `${this.label}_config.json`), c);
    }
    manualSeed(rankSeed(c.seed, this.dp));
    await this.resume();
    if (main) prepareRunLogs(c.outputDir, this.lastCheckpoint !== null ? this.globalStep : null, [{ file: 'metrics.jsonl', stepKey: 'step' }]);
    this.events = runCallbacks(this.callbacks, c, main);
    await this.dp?.broadcastParameters(trainable);
    this.model.train();
    const progress = createProgress(this.label, this.totalSteps, c.progressBar && main);
    progress.update(this.globalStep, {});
    let window: Record<string, number[]> = {};
    let last: Record<string, number> = {};
    try {
      while (this.globalStep < this.totalSteps) {
        const micro = Array.from({ length: c.gradientAccumulationSteps }, () => this.nextExamples());
        const lr = this.currentLr();
        for (const g of this.optimizer.paramGroups) g.options.lr = lr;
        let stepMetrics: Record<string, number> = {};
        this.optimizer.zeroGrad();
        // Losses are means within a micro-batch; each is scaled by 1/accum, and the logged
        // metrics are re-weighted by the micro-batches' weights (e.g. their token counts).
        const outs = micro.flatMap((examples) => this.accumulate(examples, 1 / c.gradientAccumulationSteps));
        const totalWeight = outs.reduce((a, o) => a + o.weight, 0);
        for (const o of outs)
          for (const [k, v] of Object.entries(o.metrics)) stepMetrics[k] = (stepMetrics[k] ?? 0) + (v * o.weight) / Math.max(totalWeight, 1e-12);
        if (this.dp) {
          await this.dp.allReduceGradients(trainable);
          stepMetrics = await this.dp.reduceMetrics(stepMetrics, totalWeight);
        }
        if (c.maxGradNorm > 0) stepMetrics.grad_norm = clipGradNorm(this.model.parameters(), c.maxGradNorm);
        this.optimizer.step();
        this.globalStep++;
        stepMetrics = { ...stepMetrics, lr };
        for (const [k, v] of Object.entries(stepMetrics)) (window[k] ??= []).push(v);
        progress.update(this.globalStep, stepMetrics);
        // A callback's early stop makes this the last step: it is logged, and the run ends as a finished one.
        const stop = await this.events.fire('onStep', this.callbackState, stepMetrics);
        const isLast = this.globalStep === this.totalSteps || stop;
        if (this.globalStep % c.loggingSteps === 0 || isLast) {
          last = Object.fromEntries(Object.entries(window).map(([k, vs]) => [k, vs.reduce((a, b) => a + b, 0) / vs.length]));
          window = {};
          const evalNow = c.evalSteps > 0 && this.globalStep % c.evalSteps === 0 && !isLast;
          await this.log({ step: this.globalStep, epoch: this.epoch + this.epochOffset / this.trainData.length, ...last, ...(evalNow ? await this.runEval() : {}) });
        } else if (c.evalSteps > 0 && this.globalStep % c.evalSteps === 0 && !isLast) {
          await this.log({ step: this.globalStep, ...(await this.runEval()) });
        }
        if (c.saveSteps > 0 && this.globalStep % c.saveSteps === 0 && !isLast) await this.checkpoint();
        if (this.events.control.shouldTrainingStop) break;
        await yieldToEventLoop();
      }
    } finally {
      progress.stop();
    }
    await this.onTrainEnd();
    const finalEval = await this.runEval();
    if (Object.keys(finalEval).length) await this.log({ step: this.globalStep, ...finalEval });
    await this.checkpoint();
    if (main) await this.saveFinal(c.outputDir);
    const warnings = main ? await reportFinding(this.label, this.learningFinding({ ...last, ...finalEval }), c.outputDir) : [];
    await this.events.fire('onTrainEnd', this.callbackState);
    return { globalStep: this.globalStep, metrics: { ...last, ...finalEval }, outputDir: c.outputDir, warnings };
  }

  /**
   * Forward and backward of one micro-batch, its loss scaled by `scale`. When the device runs
   * out of memory, the micro-batch is split in two and each half's loss weighted by its share,
   * which gives the same gradient (as smaller micro-batches with more accumulation would).
   */
  private accumulate(examples: Example[], scale: number): { weight: number; metrics: Record<string, number> }[] {
    const c = this.config;
    const batch = this.collate(examples);
    try {
      return [
        tidy(() => {
          const o = withMixedPrecision(c.mixedPrecision, this.deviceName, () => this.computeLoss(batch));
          const value = o.loss.item();
          if (!Number.isFinite(value)) throw new NonFiniteLossError(this.globalStep + 1, value, this.lastCheckpoint);
          o.loss.mul(scale).backward();
          return { weight: o.weight, metrics: { loss: value, ...o.metrics } };
        }),
      ];
    } catch (err) {
      if (!isOutOfMemory(err) || examples.length < 2) throw err;
      const half = Math.ceil(examples.length / 2);
      const [a, b] = [examples.slice(0, half), examples.slice(half)];
      const [wa, wb] = [this.weightOf(a), this.weightOf(b)];
      this.oomRetries++;
      if (this.oomRetries === 1)
        console.error(`${this.label}: out of memory on a micro-batch of ${examples.length}; retrying in halves (${String((err as Error).message).split('\n')[0]})`);
      return [...this.accumulate(a, (scale * wa) / (wa + wb)), ...this.accumulate(b, (scale * wb) / (wa + wb))];
    } finally {
      this.disposeBatch(batch);
    }
  }

  /** Frees the optimizer state (the model stays the caller's). */
  dispose(): void {
    this.optimizer.dispose();
  }
}
