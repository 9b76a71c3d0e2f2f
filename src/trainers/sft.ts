// Stage 1: supervised fine-tuning of the GPT decoder on demonstrations (TRL's SFTTrainer).
import type { Device } from '../tensor/types.js';
import { parseSFTRecords, type SFTData } from '../data/records.js';
import { defaultsForStart } from './starting-point.js';
import { sftFinding, unigramLoss } from './learning-check.js';
import type { SFTExample } from '../data/formats.js';
import type { GPT } from '../models/gpt.js';
import * as F from '../nn/functional.js';
import { lmHeadCrossEntropy, lmHeadCrossEntropyAsync } from '../nn/lm-head-logprobs.js';
import { fromBytes } from '../tensor/bytes.js';
import { currentModes, noGradAsync, withModes } from '../tensor/runtime.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { defaultSFTConfig, resolveSFTConfig, type SFTConfig } from './sft-config.js';
import { IGNORE_INDEX, pack, sftSequence, type LabeledSequence } from './tokenize.js';
import { prepareSupervised, type SupervisedTrainerOptions } from './supervised-setup.js';
import { Trainer } from './trainer.js';

export interface SFTBatch {
  inputIds: Tensor;
  attentionMask: Tensor;
  labels: Tensor;
  /** Tokens that carry a loss. */
  count: number;
}

/** Right-padded tensors for a list of labeled sequences. */
export function collateSequences(seqs: LabeledSequence[], padId: number, device: Device): SFTBatch {
  const T = Math.max(...seqs.map((s) => s.ids.length));
  const B = seqs.length;
  const ids = new Float64Array(B * T).fill(padId);
  const mask = new Uint8Array(B * T);
  const labels = new Float64Array(B * T).fill(IGNORE_INDEX);
  let count = 0;
  seqs.forEach((s, b) => {
    s.ids.forEach((id, j) => {
      ids[b * T + j] = id;
      mask[b * T + j] = 1;
    });
    // Labels are shifted here once: position j predicts token j+1.
    for (let j = 0; j + 1 < s.labels.length; j++) {
      const l = s.labels[j + 1]!;
      labels[b * T + j] = l;
      if (l !== IGNORE_INDEX) count++;
    }
  });
  const dev = device;
  return tidy(() => ({
    inputIds: fromBytes(new Uint8Array(ids.buffer), 'float64', [B, T]).to({ dtype: 'int64', device: dev }),
    attentionMask: fromBytes(mask, 'bool', [B, T]).to({ device: dev }),
    labels: fromBytes(new Uint8Array(labels.buffer), 'float64', [B, T]).to({ dtype: 'int64', device: dev }),
    count,
  }));
}

/** Next-token cross entropy of logits (B, T, V) against shifted labels (B, T), skipping IGNORE_INDEX. */
export function lmLossFromLogits(logits: Tensor, labels: Tensor, reduction: 'mean' | 'sum' = 'mean'): Tensor {
  return tidy(() => {
    const V = logits.shape[2]!;
    return F.crossEntropy(logits.view(-1, V), labels.view(-1), { ignoreIndex: IGNORE_INDEX, reduction });
  });
}

/**
 * Mean (or summed) next-token cross entropy over the labeled tokens of a batch: lmLossFromLogits
 * of the model's logits, computed from the hidden states with the LM head chunked over the
 * vocabulary (nn/lm-head-logprobs.ts), so the (B, T, V) logits are never held.
 */
export function languageModelLoss(model: GPT, batch: SFTBatch, reduction: 'mean' | 'sum' = 'mean'): Tensor {
  return tidy(() =>
    lmHeadCrossEntropy(model.hiddenStates(batch.inputIds, { attentionMask: batch.attentionMask }), model.lm_head.weight, batch.labels, {
      ignoreIndex: IGNORE_INDEX,
      reduction,
    }),
  );
}

/** languageModelLoss with the forward and the LM head on the compute thread (the training step's); the event loop stays free. */
export async function languageModelLossAsync(model: GPT, batch: SFTBatch, reduction: 'mean' | 'sum' = 'mean'): Promise<Tensor> {
  const modes = currentModes();
  const hidden = await model.hiddenStatesAsync(batch.inputIds, { attentionMask: batch.attentionMask });
  try {
    const head = { ignoreIndex: IGNORE_INDEX, reduction };
    return await withModes(modes, () => lmHeadCrossEntropyAsync(hidden, model.lm_head.weight, batch.labels, head));
  } finally {
    hidden.dispose();
  }
}

/** SFTTrainer's options: a GPT (or Llama) and demonstrations ({prompt, completion} or {messages} rows). */
export type SFTTrainerOptions = SupervisedTrainerOptions<GPT, SFTConfig, SFTData>;

export class SFTTrainer extends Trainer<LabeledSequence, SFTBatch> {
  declare readonly config: SFTConfig;

  constructor(o: SFTTrainerOptions) {
    const start = defaultsForStart(
      'sft',
      o.model.origin,
      o.config,
      defaultSFTConfig,
      Array.isArray(o.trainDataset) ? o.trainDataset.length : 0,
    );
    const config = resolveSFTConfig(start.config, o.model.config.blockSize);
    const setup = prepareSupervised({
      who: 'SFTTrainer',
      label: 'sft',
      options: o,
      config,
      startNotes: start.notes,
      parse: parseSFTRecords,
    });
    const encode = (xs: SFTExample[]) => {
      const seqs = xs.map((x) => sftSequence(x, o.tokenizer, config.maxLength, config.completionOnlyLoss));
      return config.packing ? pack(seqs, config.maxLength) : seqs;
    };
    super({ ...setup.parts, trainData: encode(setup.train), evalData: encode(setup.eval) });
  }

  get gpt(): GPT {
    return this.model as GPT;
  }

  protected collate(examples: LabeledSequence[]): SFTBatch {
    return collateSequences(examples, this.tokenizer.padTokenId, this.device);
  }

  protected override weightOf(examples: LabeledSequence[]): number {
    return examples.reduce((n, s) => n + s.labels.slice(1).filter((l) => l !== IGNORE_INDEX).length, 0);
  }

  protected async computeLoss(batch: SFTBatch) {
    return { loss: await languageModelLossAsync(this.gpt, batch), weight: batch.count, metrics: {} };
  }

  protected async evaluate(): Promise<Record<string, number>> {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < this.evalData.length; i += this.config.batchSize) {
      const batch = this.collate(this.evalData.slice(i, i + this.config.batchSize));
      try {
        if (batch.count > 0) {
          const loss = await noGradAsync(() => languageModelLossAsync(this.gpt, batch, 'sum'));
          sum += loss.item();
          loss.dispose();
        }
        count += batch.count;
      } finally {
        dispose(batch);
      }
    }
    const loss = sum / Math.max(count, 1);
    return { loss, perplexity: Math.exp(loss), tokens: count };
  }

  /** No better than a unigram model of the answer tokens on the held-out set (or the training loss without one). */
  protected override learningFinding(metrics: Record<string, number>): string | null {
    const held = this.evalData.length > 0;
    return sftFinding(
      metrics[held ? 'eval/loss' : 'loss'],
      unigramLoss(this.trainData, held ? this.evalData : this.trainData, this.gpt.config.vocabSize),
      this.gpt.config.vocabSize,
      held,
    );
  }

  protected override async saveFinal(dir: string): Promise<void> {
    await this.model.save(dir);
    await this.tokenizer.save(dir);
  }
}
