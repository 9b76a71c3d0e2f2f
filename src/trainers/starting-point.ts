// Defaults by starting point. TRL's defaults (SFT: learning rate 2e-5 for 3 epochs; DPO and
// GRPO 1e-6) are right for a pretrained checkpoint of millions of parameters, and for a model
// that starts from random weights they mean "learn nothing": `rlhf sft --model tiny` finished in
// seconds with random bytes. So a trainer looks at where its model's weights come from
// (GPT.origin: 'random' for GPT.create, 'from-scratch' for a checkpoint this library trained from
// random weights, 'pretrained' otherwise) and, for the first two, fills the fields the user did
// not set with the settings measured on the bundled tasks (data/demo and data/arith, 2-core CPU):
// the demo's and the arithmetic demo's budgets. A pretrained or outside checkpoint keeps TRL's.
// Either way the trainer says, at its start, what it chose and why. Gradient checkpointing follows
// the same split: on for a pretrained checkpoint, as TRL's default, off for a model learning from
// nothing (small enough to fit without it, and faster so).
import type { ModelOrigin } from '../models/gpt.js';

export type TrainerStage = 'sft' | 'reward' | 'dpo' | 'ppo' | 'grpo' | 'rloo';

/** SFT from scratch trains for about this many optimizer steps (within MIN/MAX epochs): enough for the bundled tasks. */
export const FROM_SCRATCH_SFT_STEPS = 1500;
const FROM_SCRATCH_SFT_EPOCHS = { min: 3, max: 30 } as const;

/**
 * The from-scratch settings per stage: the bundled demos' budgets (src/cli/demo.ts,
 * src/cli/arithmetic-demo.ts), where they were measured. SFT's epochs are derived from the
 * data (FROM_SCRATCH_SFT_STEPS optimizer steps, 3 to 30 epochs).
 */
export const FROM_SCRATCH_DEFAULTS: Record<TrainerStage, Readonly<Record<string, number | string>>> = {
  sft: { learningRate: 2e-3, batchSize: 32, lrSchedulerType: 'cosine', warmupSteps: 20 },
  reward: { learningRate: 5e-4, numTrainEpochs: 2, batchSize: 16, warmupSteps: 5 },
  dpo: { learningRate: 1e-4, numTrainEpochs: 1, batchSize: 16 },
  ppo: { learningRate: 3e-5 },
  grpo: { learningRate: 3e-4 },
  rloo: { learningRate: 3e-4 },
};

const describeOrigin: Record<ModelOrigin, string> = {
  random: 'from scratch (random weights)',
  'from-scratch': 'from a checkpoint trained from scratch',
  pretrained: 'from a pretrained checkpoint',
};

export interface StartDefaults<C> {
  /** The given fields with the from-scratch defaults filled in where nothing was given. */
  config: C;
  /** One line per choice, for the run's start ("from scratch (random weights): learningRate 2e-3 (…)"). */
  notes: string[];
}

/**
 * Fills `given` with the from-scratch defaults of `stage` when `origin` is not 'pretrained', for
 * the fields the user left out; `trl` holds TRL's defaults (what the notes compare with), and
 * `examples` the training examples, from which SFT's epochs are derived.
 */
export function defaultsForStart<C extends object>(
  stage: TrainerStage,
  origin: ModelOrigin,
  given: C,
  trl: Readonly<Record<string, unknown>>,
  examples = 0,
): StartDefaults<C> {
  const checkpointing = checkpointingForStart(origin, given);
  given = checkpointing.config;
  const set = given as Record<string, unknown>;
  const isGiven = (k: string) => set[k] !== undefined;
  const lr = (v: unknown) => (typeof v === 'number' ? v.toExponential().replace(/\.?0*e\+?/, 'e') : String(v));
  if (origin === 'pretrained') {
    const chosen = ['learningRate', 'numTrainEpochs']
      .filter((k) => k in trl && !isGiven(k))
      .map((k) => `${k} ${k === 'learningRate' ? lr(trl[k]) : String(trl[k])}`);
    const notes = chosen.length
      ? [
          `${describeOrigin[origin]}: TRL's defaults (${chosen.join(', ')}); a model trained from random weights would get the ` +
            'from-scratch ones',
        ]
      : [];
    return { config: given, notes: [...notes, ...checkpointing.notes] };
  }
  const fill: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(FROM_SCRATCH_DEFAULTS[stage])) if (!isGiven(k)) fill[k] = v;
  if (stage === 'sft' && !isGiven('numTrainEpochs') && !isGiven('maxSteps')) {
    const batch = Number(set.batchSize ?? fill.batchSize) * Number(set.gradientAccumulationSteps ?? trl.gradientAccumulationSteps ?? 1);
    const perEpoch = Math.max(1, Math.ceil(examples / batch));
    fill.numTrainEpochs = Math.min(
      FROM_SCRATCH_SFT_EPOCHS.max,
      Math.max(FROM_SCRATCH_SFT_EPOCHS.min, Math.ceil(FROM_SCRATCH_SFT_STEPS / perEpoch)),
    );
  }
  const why = (k: string): string => {
    if (k === 'numTrainEpochs' && stage === 'sft')
      return (
        `about ${FROM_SCRATCH_SFT_STEPS} steps over ${examples} examples, ${FROM_SCRATCH_SFT_EPOCHS.min} to ` +
        `${FROM_SCRATCH_SFT_EPOCHS.max} epochs`
      );
    return k in trl
      ? `TRL's ${k === 'learningRate' ? lr(trl[k]) : JSON.stringify(trl[k])} is for pretrained checkpoints`
      : 'the from-scratch default';
  };
  const notes = Object.entries(fill).map(
    ([k, v]) => `${describeOrigin[origin]}: ${k} ${k === 'learningRate' ? lr(v) : JSON.stringify(v)} (${why(k)})`,
  );
  return { config: { ...given, ...fill }, notes: [...notes, ...checkpointing.notes] };
}

/** gradientCheckpointing by origin where not given: on for a pretrained checkpoint (TRL's default), else off. */
function checkpointingForStart<C extends object>(origin: ModelOrigin, given: C): StartDefaults<C> {
  if ((given as { gradientCheckpointing?: boolean }).gradientCheckpointing !== undefined) return { config: given, notes: [] };
  const on = origin === 'pretrained';
  const why = on ? "TRL's default: activations recomputed in backward, for less memory" : 'a small model fits without it, and runs faster';
  return { config: { ...given, gradientCheckpointing: on }, notes: [`${describeOrigin[origin]}: gradientCheckpointing ${on} (${why})`] };
}

/** Prints a run's start notes (stderr, one line each, labelled by the stage). */
export function announceStart(label: string, notes: readonly string[]): void {
  for (const n of notes) process.stderr.write(`${label}: ${n}\n`);
}

/** The --help paragraph on the two sets of defaults. */
export function startingPointHelp(stage: TrainerStage, trl: Readonly<Record<string, unknown>>): string {
  const scratch = Object.entries(FROM_SCRATCH_DEFAULTS[stage]).map(([k, v]) => `${k} ${JSON.stringify(v)}`);
  if (stage === 'sft')
    scratch.push(
      `numTrainEpochs for about ${FROM_SCRATCH_SFT_STEPS} steps (${FROM_SCRATCH_SFT_EPOCHS.min}–${FROM_SCRATCH_SFT_EPOCHS.max})`,
    );
  const pretrained = ['learningRate', 'numTrainEpochs'].filter((k) => k in trl).map((k) => `${k} ${JSON.stringify(trl[k])}`);
  scratch.push('gradientCheckpointing false');
  pretrained.push('gradientCheckpointing true');
  return (
    `\nDefaults by starting point: a model with random weights (a preset, a config file) or a checkpoint trained from scratch by ` +
    'torch-rlhf ' +
    `gets ${scratch.join(', ')}; a pretrained checkpoint keeps TRL's (${pretrained.join(', ')}). Flags always win; the run prints ` +
    `what it chose.\n`
  );
}
