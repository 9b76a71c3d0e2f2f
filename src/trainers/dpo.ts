// Direct Preference Optimization (TRL's DPOTrainer): the policy is trained straight on
// preference pairs, without a reward model or sampling, by raising the log-ratio of policy to
// reference on the chosen answer against the rejected one. The reference is a frozen copy of the
// starting policy, or its log-probs computed once before training (precomputeRefLogProbs: no
// second model in memory), or nothing at all (referenceFree). Chosen and rejected answers go
// through the model in one batch, as TRL's concatenated forward.
import { parsePreferencePairRecords, type PreferencePairData } from '../data/records.js';
import { defaultsForStart } from './starting-point.js';
import { accuracyFinding } from './learning-check.js';
import type { PreferencePair } from '../data/formats.js';
import { frozenCopy } from '../models/frozen-copy.js';
import type { GPT } from '../models/gpt.js';
import { tensor, zeros } from '../tensor/creation.js';
import { currentModes, noGrad, noGradAsync, withModes } from '../tensor/runtime.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/types.js';
import { withMixedPrecision } from './config.js';
import { defaultDPOConfig, resolveDPOConfig, type DPOConfig } from './dpo-config.js';
import { answerLengths, answerTokenMetrics, dpoLoss, dpoMetrics, meanAnswerLogits, type PairLogps } from './dpo-math.js';
import { tokenLogprobs, tokenLogprobsAsync } from '../models/token-logprobs.js';
import type { LMHeadLogprobs } from '../nn/lm-head-logprobs.js';
import { collateSequences, type SFTBatch } from './sft.js';
import { pairSequences, type LabeledSequence } from './tokenize.js';
import { prepareSupervised, type SupervisedTrainerOptions } from './supervised-setup.js';
import { Trainer, type StepOutput } from './trainer.js';
import type { LoraConfigInput } from '../lora/config.js';
import { onReference } from '../lora/trainer-setup.js';

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

/**
 * DPOTrainer's options: the policy (it starts from the SFT model) and preference pairs ({prompt, chosen, rejected} as
 * texts or messages, or {chosen, rejected} conversations).
 */
export interface DPOTrainerOptions extends SupervisedTrainerOptions<GPT, DPOConfig, PreferencePairData> {
  /** The reference; default a frozen copy of `model` (none with referenceFree, or when precomputed from `model`). */
  refModel?: GPT;
  /** Train a LoRA adapter (TRL's peft_config); the reference is then the policy with its adapter off, not a copy. */
  peftConfig?: LoraConfigInput | undefined;
}

export class DPOTrainer extends Trainer<DPOExample, DPOBatch> {
  declare readonly config: DPOConfig;
  /** The reference model held during training (null when precomputed or reference-free). */
  readonly refModel: GPT | null;
  private readonly ownsRefModel: boolean;
  /** The reference is the policy's base (its LoRA adapter off): no refModel given. */
  private readonly refIsBase: boolean;

  constructor(o: DPOTrainerOptions) {
    const start = defaultsForStart('dpo', o.model.origin, o.config, defaultDPOConfig);
    const config = resolveDPOConfig(start.config, o.model.config.blockSize);
    const setup = prepareSupervised({
      who: 'DPOTrainer',
      label: 'dpo',
      options: o,
      config,
      startNotes: start.notes,
      parse: parsePreferencePairRecords,
    });
    o.refModel?.to(setup.parts.device).requiresGrad_(false).eval();
    const encode = (xs: PreferencePair[]): DPOExample[] =>
      xs.map((x) => ({ ...pairSequences(x, o.tokenizer, config.maxLength), ref: null }));
    super({ ...setup.parts, trainData: encode(setup.train), evalData: encode(setup.eval) });
    const needsModel = !config.referenceFree && !config.precomputeRefLogProbs;
    this.refIsBase = setup.lora && !o.refModel && !config.referenceFree;
    this.ownsRefModel = needsModel && !o.refModel && !setup.lora;
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

  /** The reference's log-probs of a batch's sequences (2B,), without gradient (precomputed before training). */
  private referenceLogps(batch: DPOBatch, ref: GPT | null = this.refModel): Tensor {
    const logps = (m: GPT) =>
      noGrad(() =>
        tidy(() => tokenLogprobs(m, batch.inputIds, batch.labels, { attentionMask: batch.attentionMask, path: 'native' }).logprobs.sum(1)),
      );
    return this.onReferenceOf(batch, ref, logps);
  }

  /** referenceLogps with the forward on the compute thread (the training step's). */
  private referenceLogpsAsync(batch: DPOBatch): Promise<Tensor> {
    const logps = async (m: GPT) => {
      const input = { attentionMask: batch.attentionMask, path: 'native' as const };
      const { logprobs } = await noGradAsync(() => tokenLogprobsAsync(m, batch.inputIds, batch.labels, input));
      try {
        return noGrad(() => logprobs.sum(1));
      } finally {
        logprobs.dispose();
      }
    };
    return Promise.resolve(this.onReferenceOf(batch, this.refModel, logps));
  }

  /** `logps` of the reference (the batch's precomputed ones, zeros when reference-free). */
  private onReferenceOf<T extends Tensor | Promise<Tensor>>(batch: DPOBatch, ref: GPT | null, logps: (m: GPT) => T): Tensor | T {
    if (batch.refLogps) return batch.refLogps;
    const model = ref ?? (this.refIsBase ? this.gpt : null);
    if (model === null) return zeros([2 * batch.pairs], { device: this.device });
    return onReference(this.gpt, this.refIsBase && model === this.gpt ? null : model, logps);
  }

  private precomputeReference(ref: GPT, data: DPOExample[]): void {
    for (let i = 0; i < data.length; i += this.config.batchSize) {
      const examples = data.slice(i, i + this.config.batchSize);
      const batch = this.collate(examples);
      try {
        const logps = tidy(
          () => withMixedPrecision(this.config.mixedPrecision, this.device, () => this.referenceLogps(batch, ref)).tolist() as number[],
        );
        examples.forEach((e, j) => (e.ref = [logps[j]!, logps[examples.length + j]!]));
      } finally {
        this.disposeBatch(batch);
      }
    }
  }

  protected collate(examples: DPOExample[]): DPOBatch {
    return collatePairs(examples, this.tokenizer.padTokenId, this.device);
  }

  protected async computeLoss(batch: DPOBatch): Promise<StepOutput> {
    const modes = currentModes();
    // The answers' tokens only, through the chunked LM head: sequenceLogps and the statistics
    // TRL logs (answerTokenStats) without the (2B, T, V) logits.
    const stats = await tokenLogprobsAsync(this.gpt, batch.inputIds, batch.labels, {
      attentionMask: batch.attentionMask,
      entropy: true,
      argmax: true,
      logitSum: true,
    });
    let refLogps: Tensor | null = null;
    try {
      refLogps = await withModes(modes, () => this.referenceLogpsAsync(batch));
      const ref = refLogps;
      return withModes(modes, () => tidy(() => this.lossOf(batch, stats, ref)));
    } finally {
      dispose(stats);
      if (refLogps !== batch.refLogps) refLogps?.dispose();
    }
  }

  /** The DPO loss and TRL's metrics from the policy's answer statistics and the reference's log-probs. */
  private lossOf(batch: DPOBatch, stats: LMHeadLogprobs, refLogps: Tensor): StepOutput {
    const B = batch.pairs;
    const policy = splitPairs(stats.logprobs.sum(1), B);
    const out = dpoLoss(policy, splitPairs(refLogps, B), this.config, splitPairs(answerLengths(batch.labels), B));
    const answers = { logitSum: stats.logitSum!, entropy: stats.entropy!, argmax: stats.argmax! };
    const meanLogits = meanAnswerLogits(answers, batch.labels, B, this.gpt.lm_head.weight.shape[0]!);
    const tokens = answerTokenMetrics(answers, batch.labels, B);
    const metrics = {
      ...dpoMetrics(policy, out),
      'logits/chosen': meanLogits.chosen,
      'logits/rejected': meanLogits.rejected,
      entropy: tokens.entropy,
      mean_token_accuracy: tokens.meanTokenAccuracy,
    };
    return { loss: out.losses.mean(), weight: B, metrics };
  }

  protected async evaluate(): Promise<Record<string, number>> {
    const sums: Record<string, number> = {};
    let n = 0;
    for (let i = 0; i < this.evalData.length; i += this.config.batchSize) {
      const batch = this.collate(this.evalData.slice(i, i + this.config.batchSize));
      try {
        const o = await noGradAsync(() => this.computeLoss(batch));
        for (const [k, v] of Object.entries({ loss: o.loss.item(), ...o.metrics })) sums[k] = (sums[k] ?? 0) + v * o.weight;
        o.loss.dispose();
        n += batch.pairs;
      } finally {
        this.disposeBatch(batch);
      }
    }
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
