// Direct Preference Optimization (TRL's DPOTrainer): the policy is trained straight on
// preference pairs, without a reward model or sampling, by raising the log-ratio of policy to
// reference on the chosen answer against the rejected one. The reference is a frozen copy of the
// starting policy, or its log-probs computed once before training (precomputeRefLogProbs: no
// second model in memory), or nothing at all (referenceFree). Chosen and rejected answers go
// through the model in one batch, as TRL's concatenated forward.
import { splitDataset } from '../data/datasets.js';
import { parsePreferencePairRecords, type PreferencePairData } from '../data/records.js';
import { userCallbacks, type TrainerCallback } from './callbacks.js';
import { checkVocabulary } from './vocab.js';
import { defaultsForStart } from './starting-point.js';
import { accuracyFinding } from './learning-check.js';
import type { PreferencePair } from '../data/formats.js';
import { frozenCopy } from '../models/frozen-copy.js';
import type { GPT } from '../models/gpt.js';
import { tensor, zeros } from '../tensor/creation.js';
import { noGrad } from '../tensor/runtime.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/types.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { checks, defaultTrainingConfig, resolveConfig, trainingConfigRules, withMixedPrecision, type TrainingConfig } from './config.js';
import { answerLengths, answerTokenMetrics, dpoLoss, dpoMetrics, meanAnswerLogits, sequenceLogps, DPO_LOSS_TYPES, type DPOLossType, type PairLogps } from './dpo-math.js';
import { collateSequences, type SFTBatch } from './sft.js';
import { pairSequences, type LabeledSequence } from './tokenize.js';
import { pickDevice, Trainer, type StepOutput } from './trainer.js';
import type { LoraConfigInput } from '../lora/config.js';
import { onReference, prepareLora } from '../lora/trainer-setup.js';

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

/** One pair as token sequences, with its reference log-probs [chosen, rejected] once precomputed. */
export interface DPOExample {
  chosen: LabeledSequence;
  rejected: LabeledSequence;
  ref: [number, number] | null;
}

/** The chosen answers in rows 0..pairs-1 and the rejected ones after them. */
export interface DPOBatch extends SFTBatch {
  pairs: number;
  /** Precomputed reference log-probs (2·pairs,), or null. */
  refLogps: Tensor | null;
}

export function collatePairs(examples: DPOExample[], padId: number, device: Device): DPOBatch {
  const seqs = collateSequences([...examples.map((e) => e.chosen), ...examples.map((e) => e.rejected)], padId, device);
  const refs = examples.every((e) => e.ref !== null) ? [...examples.map((e) => e.ref![0]), ...examples.map((e) => e.ref![1])] : null;
  return { ...seqs, pairs: examples.length, refLogps: refs && tensor(refs, { dtype: 'float32', device }) };
}

/** Rows 0..B-1 and B..2B-1 of per-sequence values. */
const splitPairs = (x: Tensor, B: number): PairLogps => ({ chosen: x.narrow(0, 0, B), rejected: x.narrow(0, B, B) });

export interface DPOTrainerOptions {
  /** The policy; it starts from the SFT model. */
  model: GPT;
  /** The reference; default a frozen copy of `model` (none with referenceFree, or when precomputed from `model`). */
  refModel?: GPT;
  tokenizer: Tokenizer;
  config: Partial<DPOConfig> & { outputDir: string };
  /** TRL rows ({prompt, chosen, rejected} as texts or messages, or {chosen, rejected} conversations) or loaded pairs; a bad one fails with `index N: field …`. */
  trainDataset: PreferencePairData;
  /** Held-out pairs; by default `evalFraction` of trainDataset is held out. */
  evalDataset?: PreferencePairData | undefined;
  /** Called after each optimizer step, with each metrics line, each evaluation and checkpoint, and at the end; may stop the run early. */
  callbacks?: readonly TrainerCallback[] | undefined;
  /** Train a LoRA adapter (TRL's peft_config); the reference is then the policy with its adapter off, not a copy. */
  peftConfig?: LoraConfigInput | undefined;
}

export class DPOTrainer extends Trainer<DPOExample, DPOBatch> {
  declare readonly config: DPOConfig;
  readonly tokenizer: Tokenizer;
  readonly device: Device;
  /** The reference model held during training (null when precomputed or reference-free). */
  readonly refModel: GPT | null;
  private readonly ownsRefModel: boolean;
  /** The reference is the policy's base (its LoRA adapter off): no refModel given. */
  private readonly refIsBase: boolean;

  constructor(o: DPOTrainerOptions) {
    const start = defaultsForStart('dpo', o.model.origin, o.config, defaultDPOConfig);
    const config = resolveDPOConfig(start.config, o.model.config.blockSize);
    checkVocabulary('DPOTrainer', o.tokenizer, o.model);
    const device = pickDevice(config.device);
    const lora = prepareLora(o.model, o.peftConfig, 'DPOTrainer');
    o.model.to(device);
    o.refModel?.to(device).requiresGrad_(false).eval();
    const train = parsePreferencePairRecords(o.trainDataset, 'DPOTrainer trainDataset');
    const split = o.evalDataset ? { train, eval: parsePreferencePairRecords(o.evalDataset, 'DPOTrainer evalDataset') } : splitDataset(train, config.evalFraction, config.seed);
    const encode = (xs: PreferencePair[]): DPOExample[] => xs.map((x) => ({ ...pairSequences(x, o.tokenizer, config.maxLength), ref: null }));
    super(o.model, config, encode(split.train), encode(split.eval), 'dpo');
    this.startNotes.push(...start.notes);
    this.callbacks.push(...userCallbacks(o.callbacks, 'DPOTrainer'));
    this.tokenizer = o.tokenizer;
    this.device = device;
    const needsModel = !config.referenceFree && !config.precomputeRefLogProbs;
    this.refIsBase = lora && !o.refModel && !config.referenceFree;
    this.ownsRefModel = needsModel && !o.refModel && !lora;
    this.refModel = needsModel && !this.refIsBase ? (o.refModel ?? frozenCopy(o.model)) : null;
    if (config.precomputeRefLogProbs) {
      // Before any step, so the policy itself is the reference when none is given.
      const ref = o.refModel ?? o.model;
      for (const data of [this.trainData, this.evalData]) this.precomputeReference(ref, data);
    }
  }

  get gpt(): GPT {
    return this.model as GPT;
  }

  /** The reference's log-probs of a batch's sequences (2B,), without gradient. */
  private referenceLogps(batch: DPOBatch, ref: GPT | null = this.refModel): Tensor {
    if (batch.refLogps) return batch.refLogps;
    const model = ref ?? (this.refIsBase ? this.gpt : null);
    if (model === null) return zeros([2 * batch.pairs], { device: this.device });
    const logps = (m: GPT) => noGrad(() => tidy(() => sequenceLogps(m.forwardNative(batch.inputIds, { attentionMask: batch.attentionMask }).logits, batch.labels)));
    return onReference(this.gpt, this.refIsBase && model === this.gpt ? null : model, logps);
  }

  private precomputeReference(ref: GPT, data: DPOExample[]): void {
    for (let i = 0; i < data.length; i += this.config.batchSize) {
      const examples = data.slice(i, i + this.config.batchSize);
      const batch = this.collate(examples);
      try {
        const logps = tidy(() => withMixedPrecision(this.config.mixedPrecision, this.device, () => this.referenceLogps(batch, ref)).tolist() as number[]);
        examples.forEach((e, j) => (e.ref = [logps[j]!, logps[examples.length + j]!]));
      } finally {
        this.disposeBatch(batch);
      }
    }
  }

  protected collate(examples: DPOExample[]): DPOBatch {
    return collatePairs(examples, this.tokenizer.padTokenId, this.device);
  }

  protected computeLoss(batch: DPOBatch): StepOutput {
    const B = batch.pairs;
    const logits = this.gpt.forward(batch.inputIds, { attentionMask: batch.attentionMask }).logits;
    const policy = splitPairs(sequenceLogps(logits, batch.labels), B);
    const out = dpoLoss(policy, splitPairs(this.referenceLogps(batch), B), this.config, splitPairs(answerLengths(batch.labels), B));
    const meanLogits = meanAnswerLogits(logits, batch.labels, B);
    const tokens = answerTokenMetrics(logits, batch.labels, B);
    const metrics = { ...dpoMetrics(policy, out), 'logits/chosen': meanLogits.chosen, 'logits/rejected': meanLogits.rejected, entropy: tokens.entropy, mean_token_accuracy: tokens.meanTokenAccuracy };
    return { loss: out.losses.mean(), weight: B, metrics };
  }

  protected evaluate(): Record<string, number> {
    const sums: Record<string, number> = {};
    let n = 0;
    noGrad(() => {
      for (let i = 0; i < this.evalData.length; i += this.config.batchSize) {
        const batch = this.collate(this.evalData.slice(i, i + this.config.batchSize));
        try {
          tidy(() => {
            const o = this.computeLoss(batch);
            for (const [k, v] of Object.entries({ loss: o.loss.item(), ...o.metrics })) sums[k] = (sums[k] ?? 0) + v * o.weight;
          });
          n += batch.pairs;
        } finally {
          this.disposeBatch(batch);
        }
      }
    });
    return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / n]));
  }

  protected override learningFinding(metrics: Record<string, number>): string | null {
    return accuracyFinding('the held-out reward accuracy (rewards/accuracies)', metrics['eval/rewards/accuracies'], this.evalData.length);
  }

  protected override async saveFinal(dir: string): Promise<void> {
    await this.model.save(dir);
    await this.tokenizer.save(dir);
  }

  /** Frees the optimizer state and the reference copy this trainer made (the models passed in stay the caller's). */
  override dispose(): void {
    super.dispose();
    if (this.ownsRefModel) this.refModel?.dispose();
  }
}
