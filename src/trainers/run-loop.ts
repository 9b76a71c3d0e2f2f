// The run loop every stage uses (SFT, RM, DPO, PPO, GRPO, RLOO), as Hugging Face's Trainer loop:
// it owns the run's state (steps done, the data position, the history), the run directory (the
// config dump, folders a crash left, logs cut back on resume), seeding, exact resume, checkpoints,
// metrics.jsonl, the progress bar, callbacks and early stop, the data-parallel setup (the process
// group, parameters broadcast from rank 0, rank 0 alone writes files), held-out evaluation on
// schedule, the learned-nothing check, the final save and a turn of the event loop between steps.
// A stage supplies its step (`trainStep`: the supervised stages' accumulated optimizer step in
// trainer.ts, PPO's rollout and update, GRPO/RLOO's generation and updates), its data order
// (data-order.ts), and only the hooks below that it needs.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import type { AdamW } from '../optim/adamw.js';
import { cuda, manualSeed } from '../tensor/runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/types.js';
import { DataParallel } from '../distributed/ddp.js';
import { launchEnv } from '../distributed/process-group.js';
import { distributedCheckpointState, rankSeed, restoreDistributedRng, writesFiles } from '../distributed/run-state.js';
import { throwIfAborted, trainSignal, type TrainOptions } from './abort.js';
import { CallbackList, checkCallback, runCallbacks, type CallbackState, type TrainerCallback } from './callbacks.js';
import { captureRng, loadCheckpoint, resumeDir, saveCheckpoint, type SavableModel } from './checkpoint.js';
import type { RunConfig } from './config.js';
import type { DataPosition } from './data-order.js';
import { reportFinding } from './learning-check.js';
import { createProgress } from './progress.js';
import { recoverRunDir } from './run-dir.js';
import { prepareRunLogs, type RunLog } from './run-logs.js';
import { lrFactor } from './schedule.js';
import { announceStart } from './starting-point.js';

/** What the loop reads of a stage's config. */
export interface RunLoopConfig extends RunConfig {
  /** Held-out evaluation every this many steps (0: only at the end). */
  evalSteps: number;
}

export interface TrainResult {
  /** Steps done, in the stage's unit (see RunLoop.step). */
  globalStep: number;
  /** The last logged training metrics and the final evaluation (prefixed eval/). */
  metrics: Record<string, number>;
  outputDir: string;
  /** Findings that the run learned nothing (src/trainers/learning-check.ts), also printed and kept in warnings.json. */
  warnings: string[];
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

/** 'auto': CUDA when available — in a data-parallel launch the rank's own GPU, cuda:LOCAL_RANK — else the CPU. */
export function pickDevice(d: Device | 'auto'): Device {
  if (d !== 'auto') return d;
  if (!cuda.isAvailable()) return 'cpu';
  const le = launchEnv();
  return le && le.worldSize > 1 ? (`cuda:${le.localRank % Math.max(1, cuda.deviceCount())}` as Device) : 'cuda';
}

/**
 * One turn of the event loop between steps (tens of microseconds): timers, I/O and a server's
 * requests run while a model trains in the same process, instead of only when it evaluates or saves.
 */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Per metric, its mean over the records that have it (in the order the metrics first appear). */
function meanByKey(records: readonly Record<string, number>[]): Record<string, number> {
  const sums: Record<string, number[]> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) (sums[k] ??= []).push(v);
  return Object.fromEntries(Object.entries(sums).map(([k, vs]) => [k, vs.reduce((a, b) => a + b, 0) / vs.length]));
}

export abstract class RunLoop<C extends RunLoopConfig = RunLoopConfig> {
  abstract readonly config: C;
  abstract readonly model: SavableModel;
  abstract readonly optimizer: AdamW;
  /** The stage's name: the config file (<label>_config.json), the progress bar, start notes and findings. */
  protected abstract readonly label: string;
  /** The step the run ends at. */
  abstract get totalSteps(): number;

  /**
   * Steps done. The unit is the stage's: optimizer steps (SFT, RM, DPO), iterations — a rollout
   * and its PPO epochs — (PPO), generation rounds of numIterations optimizer steps each (GRPO, RLOO).
   */
  step = 0;
  /** Where the data order stands (data-order.ts): epochs over the examples, or passes over the prompts. */
  protected position: DataPosition = { pass: 0, offset: 0 };
  /** The log lines (SFT, RM, DPO) or one row per step (PPO, GRPO, RLOO: see historyHolds); kept in checkpoints. */
  readonly history: Record<string, number>[] = [];
  /** What the history holds: each metrics.jsonl line (without its time), or a row per step (the reward trend reads them). */
  protected readonly historyHolds: 'log lines' | 'steps' = 'log lines';
  /** Whether held-out metrics due at a logged step join that step's line, or get a line of their own after it. */
  protected readonly evalJoinsLogLine: boolean = true;
  /** The checkpoint's extra state as resumed (kept, and written again with the current values over it). */
  private extraState: Record<string, unknown> = {};
  protected lastCheckpoint: string | null = null;
  /** What the run chose and why (defaults by starting point), printed when it starts. */
  protected readonly startNotes: string[] = [];
  /** The trainer's callbacks (its `callbacks` option and addCallback); a run adds those of `reportTo`. */
  protected readonly callbacks: TrainerCallback[] = [];
  /** The running train()'s callbacks and their control. */
  protected events = new CallbackList();
  /** The data-parallel run this trainer is part of (set by train()), or null for one process. */
  protected dp: DataParallel | null = null;
  /** The running train()'s AbortSignal (abort.ts): the steps check it after every micro-batch. */
  protected signal: AbortSignal | null = null;
  /** Whether a train() is under way. */
  private running = false;

  /** One step of the stage on its next data; returns the step's metrics (over every rank). */
  protected abstract trainStep(): Promise<Record<string, number>>;
  /** Held-out metrics with their eval/ prefix, or {} (nothing to evaluate, or a rank that does not evaluate). */
  protected abstract evaluation(): Promise<Record<string, number>>;
  /** Writes the final model and its companions (the tokenizer) into `dir`. */
  protected abstract saveFinal(dir: string): Promise<void>;

  /** What says the run learned nothing, from its final metrics (each stage has its own evidence); null: nothing to report. */
  protected learningFinding(_metrics: Record<string, number>): string | null {
    return null;
  }
  /** The device the model trains on (the process group's backend follows it). */
  protected get deviceName(): string {
    return this.model.parameters()[0]?.device ?? 'cpu';
  }
  /** The parameters rank 0 broadcasts to the others before the first step. */
  protected sharedParameters(): Tensor[] {
    return this.model.parameters().filter((p) => p.requiresGrad);
  }
  /** Called after that broadcast, before the first step. */
  protected async beforeTraining(): Promise<void> {}
  /** Called after the last step, before the final evaluation and save (e.g. reward normalisation). */
  protected async onTrainEnd(): Promise<void> {}
  /** State beyond the loop's that a checkpoint keeps for an exact resume (e.g. PPO's KL coefficient). */
  protected checkpointExtra(): Record<string, unknown> {
    return {};
  }
  /** Restores what checkpointExtra saved. */
  protected onResume(_extra: Record<string, unknown>): void {}
  /** The run's logs besides metrics.jsonl, cut back on resume (samples.jsonl, eval_samples.jsonl). */
  protected extraLogs(): RunLog[] {
    return [];
  }
  /** What the progress bar shows of a step's metrics. */
  protected progressMetrics(metrics: Record<string, number>): Record<string, number> {
    return metrics;
  }
  /** A log line's metrics for the steps since the last line: their means. */
  protected logMetrics(window: readonly Record<string, number>[]): Record<string, number> {
    return meanByKey(window);
  }
  /** What a training line says of the data position after its step (the supervised stages: the fractional epoch). */
  protected logPosition(): Record<string, number> {
    return {};
  }
  /** A step's row in the history, where it holds steps. */
  protected stepRow(metrics: Record<string, number>): Record<string, number> {
    return { step: this.step, ...metrics };
  }

  /** Adds a callback for the next train() (HF's add_callback): onStep, onLog, onEvaluate, onSave, onTrainEnd, early stop. */
  addCallback(callback: TrainerCallback): this {
    this.callbacks.push(checkCallback(callback, `${this.constructor.name}.addCallback`));
    return this;
  }

  /** What the callbacks are told of the run. */
  protected get callbackState(): CallbackState {
    return { trainer: this.label, globalStep: this.step, maxSteps: this.totalSteps, outputDir: this.config.outputDir };
  }

  /** The learning rate of optimizer step number `step` of `totalSteps` (warmup, then the schedule). */
  protected learningRateAt(step: number, warmupSteps: number, totalSteps: number): number {
    return this.config.learningRate * lrFactor(this.config.lrSchedulerType, step, warmupSteps, totalSteps);
  }
  /** Sets that rate on every parameter group for the coming optimizer step; returns it. */
  protected setLearningRate(step: number, warmupSteps: number, totalSteps: number): number {
    const lr = this.learningRateAt(step, warmupSteps, totalSteps);
    for (const g of this.optimizer.paramGroups) g.options.lr = lr;
    return lr;
  }

  private async resume(): Promise<void> {
    const dir = resumeDir(this.config.outputDir, this.config.resumeFromCheckpoint);
    if (dir === null) return;
    const state = await loadCheckpoint(dir, this.model, this.optimizer);
    this.step = state.step;
    this.position = { ...state.position };
    this.history.push(...(state.logHistory ?? []));
    this.extraState = state.extra ?? {};
    restoreDistributedRng(dir, state.extra, state.rngState, this.dp);
    this.lastCheckpoint = dir;
    this.onResume(this.extraState);
  }

  private async checkpoint(): Promise<void> {
    const dir = join(this.config.outputDir, `checkpoint-${this.step}`);
    const rngState = captureRng();
    const extra = { ...this.extraState, ...this.checkpointExtra(), ...(await distributedCheckpointState(this.dp)) };
    const state = { step: this.step, position: { ...this.position }, rngState, extra, logHistory: this.history };
    if (writesFiles(this.dp)) await saveCheckpoint(dir, this.model, this.optimizer, state, this.config.saveTotalLimit);
    this.lastCheckpoint = dir;
    await this.events.fire('onSave', this.callbackState, dir);
  }

  private async log(record: Record<string, number>): Promise<void> {
    if (this.historyHolds === 'log lines') this.history.push(record);
    const line = { ...record, time: Date.now() / 1000 };
    if (writesFiles(this.dp)) appendFileSync(join(this.config.outputDir, 'metrics.jsonl'), `${JSON.stringify(line)}\n`);
    await this.events.fire('onLog', this.callbackState, line);
  }

  /** Held-out metrics, told to onEvaluate. */
  private async evaluateNow(): Promise<Record<string, number>> {
    const metrics = await this.evaluation();
    if (Object.keys(metrics).length > 0) await this.events.fire('onEvaluate', this.callbackState, metrics);
    return metrics;
  }

  /** A held-out evaluation on a line of its own (none when nothing was evaluated); returns its metrics. */
  protected async logEvaluation(): Promise<Record<string, number>> {
    const metrics = await this.evaluateNow();
    if (Object.keys(metrics).length > 0) await this.log({ step: this.step, ...metrics });
    return metrics;
  }

  /**
   * Runs the training to totalSteps (continuing a checkpoint when asked); the final model is
   * written to outputDir. The forward, backward and optimizer steps run on the compute thread, so
   * the event loop (a server's requests) stays free. With `signal`, an abort stops the run within
   * one micro-batch and the Promise rejects with an AbortError (abort.ts); the last complete
   * checkpoint stays.
   */
  async train(options?: TrainOptions): Promise<TrainResult> {
    const signal = trainSignal(options, this.constructor.name);
    throwIfAborted(signal);
    // The run spends most of its time awaiting: a second call (a double-clicked trigger) would
    // interleave its steps with this one's on one optimizer.
    if (this.running) throw new Error(`${this.constructor.name}.train(): this trainer is already training; await the first train() first`);
    this.running = true;
    this.signal = signal;
    try {
      return await this.run();
    } finally {
      this.signal = null;
      this.running = false;
    }
  }

  private async run(): Promise<TrainResult> {
    const c = this.config;
    this.dp = await DataParallel.fromEnvironment(this.deviceName);
    const main = writesFiles(this.dp);
    if (main) {
      announceStart(this.label, this.startNotes);
      mkdirSync(c.outputDir, { recursive: true });
      recoverRunDir(c.outputDir);
      await writeJsonAtomic(join(c.outputDir, `${this.label}_config.json`), c);
    }
    manualSeed(rankSeed(c.seed, this.dp));
    await this.resume();
    if (main)
      prepareRunLogs(c.outputDir, this.lastCheckpoint !== null ? this.step : null, [
        { file: 'metrics.jsonl', stepKey: 'step' },
        ...this.extraLogs(),
      ]);
    this.events = runCallbacks(this.callbacks, c, main);
    await this.dp?.broadcastParameters(this.sharedParameters());
    await this.beforeTraining();
    const total = this.totalSteps;
    const progress = createProgress(this.label, total, c.progressBar && main);
    progress.update(this.step, {});
    let window: Record<string, number>[] = [];
    let lastLogged: Record<string, number> = {};
    let lastRow: Record<string, number> = {};
    try {
      while (this.step < total) {
        throwIfAborted(this.signal);
        const metrics = await this.trainStep();
        this.step++;
        window.push(metrics);
        if (this.historyHolds === 'steps') this.history.push((lastRow = this.stepRow(metrics)));
        progress.update(this.step, this.progressMetrics(metrics));
        // A callback's early stop makes this the last step: it is logged, and the run ends as a finished one.
        const stop = await this.events.fire('onStep', this.callbackState, metrics);
        const isLast = this.step === total || stop;
        const logNow = this.step % c.loggingSteps === 0 || isLast;
        const evalNow = c.evalSteps > 0 && this.step % c.evalSteps === 0 && !isLast;
        const evalJoins = evalNow && logNow && this.evalJoinsLogLine;
        if (logNow) {
          lastLogged = this.logMetrics(window);
          window = [];
          await this.log({ step: this.step, ...this.logPosition(), ...lastLogged, ...(evalJoins ? await this.evaluateNow() : {}) });
        }
        if (evalNow && !evalJoins) await this.logEvaluation();
        if (c.saveSteps > 0 && this.step % c.saveSteps === 0 && !isLast) await this.checkpoint();
        if (this.events.control.shouldTrainingStop) break;
        await yieldToEventLoop();
      }
    } finally {
      progress.stop();
    }
    await this.onTrainEnd();
    const finalEval = await this.logEvaluation();
    await this.checkpoint();
    if (main) await this.saveFinal(c.outputDir);
    const metrics = { ...(this.historyHolds === 'steps' ? lastRow : lastLogged), ...finalEval };
    const warnings = main ? await reportFinding(this.label, this.learningFinding(metrics), c.outputDir) : [];
    await this.events.fire('onTrainEnd', this.callbackState);
    return { globalStep: this.step, metrics, outputDir: c.outputDir, warnings };
  }

  /** Frees the optimizer state (the models stay the caller's). */
  dispose(): void {
    this.optimizer.dispose();
  }
}
