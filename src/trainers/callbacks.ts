// Hooks into a training run, as Hugging Face's TrainerCallback / TrainerControl: the run loop
// every trainer shares (run-loop.ts) calls onStep after each optimizer step (PPO, GRPO, RLOO:
// after each iteration), onLog with each line it writes to metrics.jsonl, onEvaluate with
// held-out metrics, onSave with each checkpoint directory and onTrainEnd at the end. A callback
// stops the run early by setting `control.shouldTrainingStop` or by returning
// `{ shouldTrainingStop: true }`; the run then ends as a finished one does (final checkpoint and
// model written). Callbacks may be async; they run in order, one at a time.
import { reportCallbacks, type ReportTo } from './tensorboard.js';

/** Where the run is, passed to every callback (read-only: changing it changes nothing). */
export interface CallbackState {
  /** 'sft', 'reward', 'dpo', 'ppo', 'grpo' or 'rloo'. */
  readonly trainer: string;
  /** Optimizer steps done (PPO, GRPO, RLOO: iterations done): TrainerState.global_step. */
  readonly globalStep: number;
  /** The step the run will end at. */
  readonly maxSteps: number;
  readonly outputDir: string;
}

/** What a callback may ask of the run. */
export interface TrainerControl {
  /** Stop after this step: the final checkpoint and model are still written. */
  shouldTrainingStop: boolean;
}

/** Returned by a callback: nothing, or the control fields to set. */
// A callback written as `() => { ... }` returns void, and that must type-check.
// biome-ignore lint/suspicious/noConfusingVoidType: deliberate, see above.
export type CallbackResult = void | Partial<TrainerControl> | Promise<void | Partial<TrainerControl>>;

/** Every method is optional; `metrics` are the numbers of that event (the step's, the log line's, the evaluation's). */
export interface TrainerCallback {
  onStep?(state: CallbackState, metrics: Readonly<Record<string, number>>, control: TrainerControl): CallbackResult;
  onLog?(state: CallbackState, logs: Readonly<Record<string, number>>, control: TrainerControl): CallbackResult;
  onEvaluate?(state: CallbackState, metrics: Readonly<Record<string, number>>, control: TrainerControl): CallbackResult;
  onSave?(state: CallbackState, checkpointDir: string, control: TrainerControl): CallbackResult;
  onTrainEnd?(state: CallbackState, control: TrainerControl): CallbackResult;
}

type EventName = keyof TrainerCallback;

/** Checks that `callback` is an object whose event methods, where present, are functions. */
export function checkCallback(callback: unknown, where: string): TrainerCallback {
  if (callback === null || typeof callback !== 'object')
    throw new TypeError(`${where}: a callback must be an object with onStep / onLog / onEvaluate / onSave / onTrainEnd methods`);
  for (const name of ['onStep', 'onLog', 'onEvaluate', 'onSave', 'onTrainEnd'] as const) {
    const f: unknown = (callback as Record<string, unknown>)[name];
    if (f !== undefined && typeof f !== 'function') throw new TypeError(`${where}: '${name}' must be a function (got ${typeof f})`);
  }
  return callback as TrainerCallback;
}

/** The callbacks given to a trainer (its `callbacks` option), checked. */
export function userCallbacks(callbacks: readonly TrainerCallback[] | undefined, who: string): TrainerCallback[] {
  if (callbacks === undefined) return [];
  if (!Array.isArray(callbacks)) throw new TypeError(`${who}: callbacks must be an array of TrainerCallback objects`);
  return callbacks.map((c, i) => checkCallback(c, `${who}: callbacks[${i}]`));
}

/** One run's callbacks: the trainer's, then those its config's `reportTo` asks for (on the process that writes files). */
export function runCallbacks(
  callbacks: readonly TrainerCallback[],
  config: { reportTo: ReportTo; outputDir: string },
  writesFiles: boolean,
): CallbackList {
  return new CallbackList([...callbacks, ...(writesFiles ? reportCallbacks(config.reportTo, config.outputDir) : [])]);
}

/** The callbacks of one run and the control they share; the loops call `fire`. */
export class CallbackList {
  readonly control: TrainerControl = { shouldTrainingStop: false };

  constructor(private readonly list: readonly TrainerCallback[] = []) {}

  /** Calls `event` on every callback in order; returns whether the run should stop. */
  async fire<E extends EventName>(
    event: E,
    state: CallbackState,
    ...args: Parameters<NonNullable<TrainerCallback[E]>> extends [CallbackState, ...infer R, TrainerControl] ? R : never
  ): Promise<boolean> {
    for (const cb of this.list) {
      const f = cb[event] as ((...a: unknown[]) => CallbackResult) | undefined;
      if (f === undefined) continue;
      const result = await f.call(cb, Object.freeze({ ...state }), ...args, this.control);
      if (result && typeof result === 'object' && result.shouldTrainingStop !== undefined)
        this.control.shouldTrainingStop = !!result.shouldTrainingStop;
    }
    return this.control.shouldTrainingStop;
  }
}
