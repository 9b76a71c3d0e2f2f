// DPOConfig (TRL's DPOConfig): the loss and reference fields of Direct Preference Optimization.
import { checkMaxLength, checks, maxLengthField, resolveConfig, trainingFields, type TrainingConfig } from './config.js';
import { defaultsOf, rulesOf, type Fields } from './config-fields.js';
import { DPO_LOSS_TYPES, type DPOLossType } from './dpo-math.js';

export interface DPOConfig extends TrainingConfig {
  /** Longest sequence (prompt + answer) in tokens. Default: the model's blockSize. */
  maxLength: number;
  /** β of the loss: higher keeps the policy closer to the reference (IPO: its τ). Default: 0.1. */
  beta: number;
  /**
   * 'sigmoid' (DPO), 'robust' (with labelSmoothing), 'ipo' (on per-token log-ratios), 'hinge' (SLiC) or
   * 'sft' (the chosen answers' NLL); or a list of them, summed with lossWeights (TRL's list-valued
   * loss_type: ['sigmoid', 'sft'] is RPO). On the command line: --loss-type sigmoid,sft. Default:
   * "sigmoid".
   */
  lossType: DPOLossType | DPOLossType[];
  /**
   * One weight per loss type when lossType is a list (TRL's loss_weights); null: all 1. On the command
   * line: --loss-weights 1,0.2. Default: null.
   */
  lossWeights: number[] | null;
  /** Robust DPO: the probability that a pair's labels are flipped, in [0, 0.5); the 'robust' loss only, as in TRL. Default: 0. */
  labelSmoothing: number;
  /** No reference: the loss compares the policy's own log-probs (rewards are β·log π). Default: false. */
  referenceFree: boolean;
  /** Compute the reference log-probs once before training and keep no reference model. Default: false. */
  precomputeRefLogProbs: boolean;
}

const isLossTypes = (v: unknown): boolean =>
  (typeof v === 'string' && DPO_LOSS_TYPES.includes(v as DPOLossType)) ||
  (Array.isArray(v) && v.length > 0 && v.every((t) => DPO_LOSS_TYPES.includes(t)));

/** DPOConfig's fields: help, check and default of each (TRL's learning rate, epochs and β). */
export const dpoFields = {
  ...trainingFields,
  learningRate: { ...trainingFields.learningRate, default: 1e-6 },
  numTrainEpochs: { ...trainingFields.numTrainEpochs, default: 3 },
  maxLength: { ...maxLengthField, check: [(v: unknown) => checks.positiveInt[0](v) && (v as number) >= 2, 'an integer of at least 2'] },
  beta: { help: 'β of the loss: higher keeps the policy closer to the reference (IPO: its τ).', check: checks.positive, default: 0.1 },
  lossType: {
    help:
      "'sigmoid' (DPO), 'robust' (with labelSmoothing), 'ipo' (on per-token log-ratios), 'hinge' (SLiC) or 'sft' " +
      "(the chosen answers' NLL); or a list of them, summed with lossWeights (TRL's list-valued loss_type: " +
      "['sigmoid', 'sft'] is RPO). On the command line: --loss-type sigmoid,sft.",
    check: [isLossTypes, "'sigmoid', 'robust', 'ipo', 'hinge' or 'sft', or a non-empty list of them"],
    default: 'sigmoid',
  },
  lossWeights: {
    help: "One weight per loss type when lossType is a list (TRL's loss_weights); null: all 1. On the command line: --loss-weights 1,0.2.",
    check: checks.numbersOrNull,
    default: null,
  },
  labelSmoothing: {
    help: "Robust DPO: the probability that a pair's labels are flipped, in [0, 0.5); the 'robust' loss only, as in TRL.",
    check: [(v: unknown) => checks.number[0](v) && (v as number) >= 0 && (v as number) < 0.5, 'a number in [0, 0.5)'],
    default: 0,
  },
  referenceFree: {
    help: "No reference: the loss compares the policy's own log-probs (rewards are β·log π).",
    check: checks.boolean,
    default: false,
  },
  precomputeRefLogProbs: {
    help: 'Compute the reference log-probs once before training and keep no reference model.',
    check: checks.boolean,
    default: false,
  },
} as const satisfies Fields<DPOConfig>;

export const defaultDPOConfig: Omit<DPOConfig, 'outputDir' | 'maxLength'> = defaultsOf(dpoFields);

export function resolveDPOConfig(c: Partial<DPOConfig> & { outputDir: string }, blockSize: number): DPOConfig {
  const defaults = { ...defaultDPOConfig, maxLength: blockSize };
  const cfg = resolveConfig<DPOConfig>('DPOConfig', defaults, rulesOf(dpoFields), { ...c, ...commaLists(c) });
  const types = typeof cfg.lossType === 'string' ? [cfg.lossType] : cfg.lossType;
  if (cfg.lossWeights !== null && cfg.lossWeights.length !== types.length)
    throw new Error(
      `DPOConfig: field 'lossWeights' has ${cfg.lossWeights.length} weights for ${types.length} loss type(s) ` +
        `(${types.join(', ')}); give one weight per type`,
    );
  checkMaxLength('DPOConfig', cfg.maxLength, blockSize);
  // TRL ignores it elsewhere; a setting with no effect would be a silent surprise.
  if (cfg.labelSmoothing > 0 && !types.includes('robust'))
    throw new Error(`DPOConfig: field 'labelSmoothing' applies to lossType 'robust' only, not '${types.join(', ')}'`);
  if (cfg.referenceFree && cfg.precomputeRefLogProbs)
    throw new Error("DPOConfig: 'referenceFree' has no reference to precompute; set 'precomputeRefLogProbs' to false");
  return cfg;
}

/** The command line's comma lists ('sigmoid,sft', '1,0.2') as the lists they stand for. */
function commaLists(c: Partial<DPOConfig>): Partial<DPOConfig> {
  const out: Partial<DPOConfig> = {};
  const raw: unknown = c.lossType;
  if (typeof raw === 'string' && raw.includes(',')) out.lossType = raw.split(',').map((t) => t.trim()) as DPOLossType[];
  const w: unknown = c.lossWeights;
  if (typeof w === 'string') out.lossWeights = w.split(',').map((x) => (x.trim() === '' ? Number.NaN : Number(x)));
  return out;
}
