// DPOConfig (TRL's DPOConfig): the loss and reference fields of Direct Preference Optimization.
import { checks, defaultTrainingConfig, resolveConfig, trainingConfigRules, type TrainingConfig } from './config.js';
import { DPO_LOSS_TYPES, type DPOLossType } from './dpo-math.js';

export interface DPOConfig extends TrainingConfig {
  /** Longest sequence (prompt + answer) in tokens; defaults to the model's blockSize. */
  maxLength: number;
  /** β of the loss: higher keeps the policy closer to the reference (IPO: its τ). Default 0.1. */
  beta: number;
  /**
   * 'sigmoid' (DPO, default), 'robust' (with labelSmoothing), 'ipo' (on per-token log-ratios),
   * 'hinge' (SLiC) or 'sft' (the chosen answers' NLL); or a list of them, summed with lossWeights
   * (TRL's list-valued loss_type: ['sigmoid', 'sft'] is RPO). On the command line: --loss-type sigmoid,sft.
   */
  lossType: DPOLossType | DPOLossType[];
  /** One weight per loss type when lossType is a list (TRL's loss_weights); null: all 1. On the command line: --loss-weights 1,0.2. */
  lossWeights: number[] | null;
  /** Robust DPO: the probability that a pair's labels are flipped, in [0, 0.5); the 'robust' loss only, as in TRL. Default 0. */
  labelSmoothing: number;
  /** No reference: the loss compares the policy's own log-probs (rewards are β·log π). Default false. */
  referenceFree: boolean;
  /** Compute the reference log-probs once before training and keep no reference model. Default false. */
  precomputeRefLogProbs: boolean;
}

export const defaultDPOConfig: Omit<DPOConfig, 'outputDir' | 'maxLength'> = {
  ...defaultTrainingConfig,
  learningRate: 1e-6,
  numTrainEpochs: 3,
  beta: 0.1,
  lossType: 'sigmoid',
  lossWeights: null,
  labelSmoothing: 0,
  referenceFree: false,
  precomputeRefLogProbs: false,
};

export function resolveDPOConfig(c: Partial<DPOConfig> & { outputDir: string }, blockSize: number): DPOConfig {
  const rules = {
    ...trainingConfigRules,
    maxLength: [(v: unknown) => checks.positiveInt[0](v) && (v as number) >= 2, 'an integer of at least 2'],
    beta: checks.positive,
    lossType: [isLossTypes, "'sigmoid', 'robust', 'ipo', 'hinge' or 'sft', or a non-empty list of them"],
    lossWeights: [(v: unknown) => v === null || (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x))), 'null or an array of numbers'],
    labelSmoothing: [(v: unknown) => checks.number[0](v) && (v as number) >= 0 && (v as number) < 0.5, 'a number in [0, 0.5)'],
    referenceFree: checks.boolean,
    precomputeRefLogProbs: checks.boolean,
  } as const;
  const cfg = resolveConfig<DPOConfig>('DPOConfig', { ...defaultDPOConfig, maxLength: blockSize }, rules, { ...c, ...commaLists(c) });
  const types = typeof cfg.lossType === 'string' ? [cfg.lossType] : cfg.lossType;
  if (cfg.lossWeights !== null && cfg.lossWeights.length !== types.length)
    throw new Error(`DPOConfig: field 'lossWeights' has ${cfg.lossWeights.length} weights for ${types.length} loss type(s) (${types.join(', ')}); give one weight per type`);
  if (cfg.maxLength > blockSize) throw new Error(`DPOConfig: field 'maxLength' (${cfg.maxLength}) exceeds the model's blockSize (${blockSize})`);
  // TRL ignores it elsewhere; a setting with no effect would be a silent surprise.
  if (cfg.labelSmoothing > 0 && !types.includes('robust')) throw new Error(`DPOConfig: field 'labelSmoothing' applies to lossType 'robust' only, not '${types.join(', ')}'`);
  if (cfg.referenceFree && cfg.precomputeRefLogProbs) throw new Error("DPOConfig: 'referenceFree' has no reference to precompute; set 'precomputeRefLogProbs' to false");
  return cfg;
}

const isLossTypes = (v: unknown): boolean =>
  (typeof v === 'string' && DPO_LOSS_TYPES.includes(v as DPOLossType)) || (Array.isArray(v) && v.length > 0 && v.every((t) => DPO_LOSS_TYPES.includes(t)));

/** The command line's comma lists ('sigmoid,sft', '1,0.2') as the lists they stand for. */
function commaLists(c: Partial<DPOConfig>): Partial<DPOConfig> {
  const out: Partial<DPOConfig> = {};
  const raw: unknown = c.lossType;
  if (typeof raw === 'string' && raw.includes(',')) out.lossType = raw.split(',').map((t) => t.trim()) as DPOLossType[];
  const w: unknown = c.lossWeights;
  if (typeof w === 'string') out.lossWeights = w.split(',').map((x) => (x.trim() === '' ? Number.NaN : Number(x)));
  return out;
}
