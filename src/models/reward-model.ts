// The reward model: the GPT trunk with a scalar head (InstructGPT). The score of a sequence
// is the head's output at its last real token. Saved as HF's GPT2ForSequenceClassification
// (transformer.* + score.weight) plus score.bias, which carries the normalisation. On a
// half-precision trunk (a bf16 checkpoint loaded as stored) the head, which trains in full, is
// float32 and reads the hidden states cast to float32.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { saveSafetensors } from '../io/safetensors.js';
import { Linear } from '../nn/layers.js';
import { arange } from '../tensor/creation.js';
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { trainingDtype, type DType, type Device } from '../tensor/types.js';
import { GPT, type ForwardPath, type ModelConfigInput } from './gpt.js';
import {
  dtypeMark,
  loadGPTFamily,
  modelConfigToHF,
  originMark,
  sequenceClassificationArchitecture,
  type GPTFamily,
  type LoadGPTOptions,
} from './gpt-checkpoint.js';
import { hasLora, rememberModelDir } from '../lora/adapter.js';
import { saveAdapter } from '../lora/peft-files.js';

/** How the reward was centred after training (stored in config.json). */
export interface RewardNormalization {
  /** Mean raw score of the reference answers, subtracted through the bias. */
  mean: number;
  count: number;
  source: string;
}

/** Index of the last position whose mask is set, per row (works for left and right padding). */
export function lastTokenIndex(mask: Tensor): Tensor {
  return tidy(() => {
    const T = mask.shape[1]!;
    return arange(T, { device: mask.device }).unsqueeze(0).mul(mask.long()).argmax(1);
  });
}

export class RewardModel extends GPT {
  readonly score: Linear;
  normalization: RewardNormalization | null = null;

  /** `dtype` is the trunk's; the head is made in trainingDtype(dtype) (float32 on a bf16 trunk). */
  constructor(config: ModelConfigInput, placement: { device?: Device; dtype?: DType } = {}) {
    super(config, placement);
    const head = { device: placement.device, dtype: trainingDtype(placement.dtype ?? 'float32') };
    this.score = this.registerModule('score', new Linear(this.config.nEmbd, 1, head));
    // InstructGPT / the N-implementation-details study: head ~ N(0, 1/√(d+1)), bias 0.
    noGrad(() => {
      this.score.weight.normal_(0, 1 / Math.sqrt(this.config.nEmbd + 1));
      this.score.bias!.zero_();
    });
  }

  /**
   * A reward model to train, on the trunk of a causal-LM checkpoint (e.g. the SFT model): a new
   * score head (kept when the checkpoint has one). `load` reads a trained reward model instead.
   */
  static async fromTrunk(dir: string, options: LoadGPTOptions = {}): Promise<RewardModel> {
    return loadGPTFamily(dir, options, { ...rewardFamily, headsOptional: true });
  }

  /** Loads a trained reward model (its head must be there). */
  static override async load(dir: string, options: LoadGPTOptions = {}): Promise<RewardModel> {
    return loadGPTFamily(dir, options, rewardFamily);
  }

  /**
   * Rewards (B,) of sequences (B, T): the head at each row's last real token. Differentiable
   * in grad mode; without it the trunk runs natively (GPT.forward says when). `attentionMask`
   * marks real tokens (left or right padding).
   */
  rewards(inputIds: Tensor, attentionMask?: Tensor | null, options: { path?: ForwardPath } = {}): Tensor {
    return tidy(() => {
      const mask = attentionMask ?? inputIds.ge(0);
      const hiddenStates = this.hiddenStates(inputIds, { attentionMask: mask, path: options.path });
      const last = lastTokenIndex(mask);
      const h = hiddenStates.gather(1, last.view(-1, 1, 1).expand(-1, 1, this.config.nEmbd)).squeeze(1);
      return this.scoreOf(h).squeeze(-1);
    });
  }

  /** The score head on hidden states (…, nEmbd), cast to the head's dtype (float32 on a bf16 trunk): (…, 1). */
  scoreOf(hidden: Tensor): Tensor {
    const w = this.score.weight.dtype;
    return this.score.forward(hidden.dtype === w ? hidden : hidden.to(w));
  }

  /** Shifts the bias so that these reference scores (raw) have mean 0. */
  normalize(rawScores: number[], source: string): void {
    const mean = rawScores.reduce((a, b) => a + b, 0) / Math.max(rawScores.length, 1);
    noGrad(() => this.score.bias!.sub_(mean));
    const prev = this.normalization?.mean ?? 0;
    this.normalization = { mean: prev + mean, count: rawScores.length, source };
  }

  /** As GPT2ForSequenceClassification; with a LoRA adapter, the adapter (and the head) in PEFT's layout. */
  override async save(dir: string): Promise<void> {
    if (hasLora(this)) return saveAdapter(this, dir, 'SEQ_CLS');
    mkdirSync(dir, { recursive: true });
    await saveSafetensors(join(dir, 'model.safetensors'), new Map(this.namedParameters()), { format: 'pt' });
    await writeJsonAtomic(
      join(dir, 'config.json'),
      modelConfigToHF(
        this.config,
        { architectures: [sequenceClassificationArchitecture(this.config)], num_labels: 1, ...dtypeMark(this) },
        { kind: 'reward-model', rewardNormalization: this.normalization, ...originMark(this) },
      ),
    );
    rememberModelDir(this, resolve(dir));
  }
}

const rewardFamily: GPTFamily<RewardModel> = {
  create: (c, hf, placement) => {
    const m = new RewardModel(c, placement);
    const n = (hf.torch_rlhf as { rewardNormalization?: RewardNormalization } | undefined)?.rewardNormalization;
    if (n) m.normalization = n;
    return m;
  },
  heads: (c) =>
    new Map([
      ['score.weight', [1, c.nEmbd]],
      ['score.bias', [1]],
    ]),
};
