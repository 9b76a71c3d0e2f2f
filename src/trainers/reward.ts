// Stage 2: the reward model, trained on human rankings (TRL's RewardTrainer, with
// InstructGPT's K-wise loss): a ranking of K answers contributes all C(K,2) pairs as one
// batch element, each pair weighted 1/C(K,2), so prompts with many answers do not dominate
// and the pairs of one prompt are not treated as independent examples.
import type { Device } from '../tensor/types.js';
import { rewardScores } from '../text/score.js';
import { defaultsForStart } from './starting-point.js';
import { writeEvalScores } from './eval-scores.js';
import { writesFiles } from '../distributed/run-state.js';
import type { LoraConfigInput } from '../lora/config.js';
import { accuracyFinding } from './learning-check.js';
import { parsePreferenceRecords, parseSFTRecords, type PreferenceData, type SFTData } from '../data/records.js';
import type { PreferenceExample } from '../data/formats.js';
import type { RewardModel } from '../models/reward-model.js';
import { fromBytes } from '../tensor/bytes.js';
import { tensor } from '../tensor/creation.js';
import { noGrad } from '../tensor/runtime.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { defaultRewardConfig, resolveRewardConfig, type RewardConfig } from './reward-config.js';
import { promptAndAnswer, rankedSequences, encodePromptAnswer, truncateKeepingAnswer } from './tokenize.js';
import { prepareSupervised, type SupervisedTrainerOptions } from './supervised-setup.js';
import { Trainer } from './trainer.js';

/** One ranking: its answers' sequences, best first. */
export interface RankedExample {
  sequences: number[][];
}

export interface RewardBatch {
  inputIds: Tensor;
  attentionMask: Tensor;
  /** Rows of the better and worse answer of every pair, and each pair's weight. */
  better: Tensor;
  worse: Tensor;
  pairWeight: Tensor;
  examples: number;
}

/**
 * The ranking loss: Σ over pairs of weight · −log σ(r_better − r_worse − margin), with
 * weights 1/(C(K,2) · examples). For K = 2 this is TRL's pairwise loss averaged over examples.
 */
export function rankingLoss(
  rewards: Tensor,
  batch: Pick<RewardBatch, 'better' | 'worse' | 'pairWeight'>,
  margin = 0,
): { loss: Tensor; accuracy: Tensor; meanMargin: Tensor } {
  return tidy(() => {
    const diff = rewards.index([batch.better]).sub(rewards.index([batch.worse]));
    const loss = diff.sub(margin).logSigmoid().neg().mul(batch.pairWeight).sum();
    const accuracy = diff.gt(0).float().mul(batch.pairWeight).sum();
    const meanMargin = diff.mul(batch.pairWeight).sum();
    return { loss, accuracy, meanMargin };
  });
}

export function collateRankings(examples: RankedExample[], padId: number, device: Device): RewardBatch {
  const seqs = examples.flatMap((e) => e.sequences);
  const T = Math.max(...seqs.map((s) => s.length));
  const ids = new Float64Array(seqs.length * T).fill(padId);
  const mask = new Uint8Array(seqs.length * T);
  seqs.forEach((s, b) => s.forEach((id, j) => ((ids[b * T + j] = id), (mask[b * T + j] = 1))));
  const better: number[] = [];
  const worse: number[] = [];
  const weight: number[] = [];
  let row = 0;
  for (const e of examples) {
    const K = e.sequences.length;
    const w = 1 / ((K * (K - 1)) / 2) / examples.length;
    for (let i = 0; i < K; i++)
      for (let j = i + 1; j < K; j++) {
        better.push(row + i);
        worse.push(row + j);
        weight.push(w);
      }
    row += K;
  }
  const dev = device;
  return tidy(() => ({
    inputIds: fromBytes(new Uint8Array(ids.buffer), 'float64', [seqs.length, T]).to({ dtype: 'int64', device: dev }),
    attentionMask: fromBytes(mask, 'bool', [seqs.length, T]).to({ device: dev }),
    better: tensor(better, { dtype: 'int64', device: dev }),
    worse: tensor(worse, { dtype: 'int64', device: dev }),
    pairWeight: tensor(weight, { dtype: 'float32', device: dev }),
    examples: examples.length,
  }));
}

export interface RewardTrainerOptions extends SupervisedTrainerOptions<RewardModel, RewardConfig, PreferenceData> {
  /**
   * Demonstrations whose mean score becomes 0 after training (InstructGPT normalises on the
   * labelers' demonstrations). Default: the best answer of each training ranking.
   */
  normalizationDataset?: SFTData | undefined;
  /** Train a LoRA adapter on the trunk and the score head in full (TRL's peft_config); saved as PEFT's adapter files. */
  peftConfig?: LoraConfigInput | undefined;
}

export class RewardTrainer extends Trainer<RankedExample, RewardBatch> {
  declare readonly config: RewardConfig;
  private readonly normalizationSeqs: number[][];
  private readonly normalizationSource: string;

  constructor(o: RewardTrainerOptions) {
    const start = defaultsForStart('reward', o.model.origin, o.config, defaultRewardConfig);
    const config = resolveRewardConfig(start.config, o.model.config.blockSize);
    // The score head trains in full beside the trunk's adapter, as TRL's modules_to_save.
    const setup = prepareSupervised({
      who: 'RewardTrainer',
      label: 'reward',
      options: o,
      config,
      startNotes: start.notes,
      parse: parsePreferenceRecords,
      modulesToSave: ['score'],
    });
    const encode = (xs: PreferenceExample[]): RankedExample[] =>
      xs.map((x) => ({ sequences: rankedSequences(x, o.tokenizer, config.maxLength) }));
    super({ ...setup.parts, trainData: encode(setup.train), evalData: encode(setup.eval) });
    // After the final save (and normalisation): the held-out rankings' scores, for the report's chosen-vs-rejected histogram.
    this.callbacks.push({
      onTrainEnd: () => {
        if (!writesFiles(this.dp)) return;
        this.model.eval(); // no dropout in the scores
        writeEvalScores(
          this.config.outputDir,
          this.evalData.map((e) => this.scoreSequences(e.sequences)),
        );
      },
    });
    if (o.normalizationDataset) {
      this.normalizationSeqs = parseSFTRecords(o.normalizationDataset, 'RewardTrainer normalizationDataset').map((x) => {
        const { prompt, answer, templated } = promptAndAnswer(x, o.tokenizer);
        const t = truncateKeepingAnswer(encodePromptAnswer(prompt, answer, o.tokenizer, templated), config.maxLength);
        return [...t.prompt, ...t.answer];
      });
      this.normalizationSource = 'demonstrations';
    } else {
      this.normalizationSeqs = this.trainData.map((e) => e.sequences[0]!);
      this.normalizationSource = 'best answers of the training rankings';
    }
  }

  get rewardModel(): RewardModel {
    return this.model as RewardModel;
  }

  protected collate(examples: RankedExample[]): RewardBatch {
    return collateRankings(examples, this.tokenizer.padTokenId, this.device);
  }

  // Synchronous (the reward model's forward runs on the JS thread); async only to fit the trainer's step.
  protected async computeLoss(batch: RewardBatch) {
    return tidy(() => {
      const rewards = this.rewardModel.rewards(batch.inputIds, batch.attentionMask);
      const { loss, accuracy, meanMargin } = rankingLoss(rewards, batch, this.config.margin);
      return { loss, weight: batch.examples, metrics: { accuracy: accuracy.item(), margin: meanMargin.item() } };
    });
  }

  /** Raw scores of sequences, in batches, without autograd. */
  scoreSequences(seqs: number[][]): number[] {
    return rewardScores(this.rewardModel, seqs, this.tokenizer.padTokenId, this.config.batchSize);
  }

  protected evaluate(): Record<string, number> {
    let loss = 0,
      accuracy = 0,
      margin = 0,
      n = 0;
    noGrad(() => {
      for (let i = 0; i < this.evalData.length; i += this.config.batchSize) {
        const examples = this.evalData.slice(i, i + this.config.batchSize);
        const batch = this.collate(examples);
        try {
          tidy(() => {
            const r = rankingLoss(this.rewardModel.rewards(batch.inputIds, batch.attentionMask), batch, this.config.margin);
            loss += r.loss.item() * examples.length;
            accuracy += r.accuracy.item() * examples.length;
            margin += r.meanMargin.item() * examples.length;
          });
          n += examples.length;
        } finally {
          dispose(batch);
        }
      }
    });
    return { loss: loss / n, accuracy: accuracy / n, margin: margin / n };
  }

  protected override async onTrainEnd(): Promise<void> {
    if (!this.config.normalizeRewards) return;
    this.model.eval();
    try {
      this.rewardModel.normalize(this.scoreSequences(this.normalizationSeqs), this.normalizationSource);
    } finally {
      this.model.train();
    }
  }

  protected override learningFinding(metrics: Record<string, number>): string | null {
    return accuracyFinding("the reward model's held-out accuracy", metrics['eval/accuracy'], this.evalData.length);
  }

  protected override async saveFinal(dir: string): Promise<void> {
    await this.model.save(dir);
    await this.tokenizer.save(dir);
  }
}
