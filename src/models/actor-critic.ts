// The PPO actor-critic: one GPT trunk with two heads — the LM head (the policy) and a value
// head (a scalar per position) — or, with `separateCritic`, the policy plus a critic with its
// own trunk initialised from the reward model (what OpenRLHF and DeepSpeed-Chat do). On a
// half-precision trunk the value head, which trains in full, is float32 and reads the hidden
// states cast to float32.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { saveSafetensors } from '../io/safetensors.js';
import * as F from '../nn/functional.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { trainingDtype, type DType, type Device } from '../tensor/types.js';
import { GPT, type ForwardPath, type ModelConfigInput } from './gpt.js';
import { dtypeMark, loadGPTFamily, modelConfigToHF, originMark, type GPTFamily, type LoadDType } from './gpt-checkpoint.js';
import { RewardModel } from './reward-model.js';
import { hasLora, rememberModelDir } from '../lora/adapter.js';
import { saveAdapter } from '../lora/peft-files.js';

/** TRL's ValueHead: v_head.summary is a Linear(nEmbd, 1). */
export class ValueHead extends Module {
  readonly summary: Linear;
  constructor(nEmbd: number, placement: { device?: Device; dtype?: DType } = {}) {
    super();
    this.summary = this.registerModule('summary', new Linear(nEmbd, 1, placement));
    noGrad(() => {
      this.summary.weight.normal_(0, 1 / Math.sqrt(nEmbd + 1));
      this.summary.bias!.zero_();
    });
  }
  /** Values of hidden states (…, nEmbd), cast to the head's dtype (float32 on a bf16 trunk). */
  forward(hidden: Tensor): Tensor {
    const w = this.summary.weight.dtype;
    return tidy(() => this.summary.forward(hidden.dtype === w ? hidden : hidden.to(w)).squeeze(-1));
  }
}

export interface PolicyValueOutput {
  /** (B, T, V) */
  logits: Tensor;
  /** (B, T): the value of the state at each position (before the next token). */
  values: Tensor;
}

export interface PolicyHiddenValues {
  /** (B, T, nEmbd): the policy trunk's final hidden states, what its LM head reads. */
  hidden: Tensor;
  /** (B, T) */
  values: Tensor;
}

export class ActorCritic extends GPT {
  /** The value head on the shared trunk (null with a separate critic). */
  readonly v_head: ValueHead | null;
  #critic: RewardModel | null = null;

  /**
   * With `critic`, the values come from that model (its own trunk); else from v_head on the policy's
   * trunk. `dtype` is the trunk's; the value head is made in trainingDtype(dtype).
   */
  constructor(config: ModelConfigInput, options: { device?: Device; dtype?: DType; critic?: RewardModel | 'later' } = {}) {
    super(config, { device: options.device, dtype: options.dtype });
    const head = { device: options.device, dtype: trainingDtype(options.dtype ?? 'float32') };
    this.v_head = options.critic ? null : this.registerModule('v_head', new ValueHead(this.config.nEmbd, head));
    if (options.critic && options.critic !== 'later') this.#critic = this.registerModule('critic', options.critic);
  }

  /** The critic with its own trunk (null when the trunk is shared). */
  get critic(): RewardModel | null {
    return this.#critic;
  }

  get separateCritic(): boolean {
    return this.v_head === null;
  }

  /**
   * An actor-critic to train, on the trunk of an SFT checkpoint: a new value head on the policy's
   * trunk (unlike from_pretrained, which restores a trained model), or (separateCritic) a critic
   * loaded from the reward model, head included.
   */
  static async fromTrunk(
    policyDir: string,
    options: { separateCritic?: boolean; rewardModelDir?: string; device?: Device; baseModel?: string; dtype?: LoadDType } = {},
  ): Promise<ActorCritic> {
    let critic: RewardModel | undefined;
    if (options.separateCritic) {
      if (!options.rewardModelDir)
        throw new Error('ActorCritic: separateCritic needs rewardModelDir (the critic starts from the reward model)');
      critic = await RewardModel.load(options.rewardModelDir, { device: options.device, dtype: options.dtype });
    }
    try {
      const { device, baseModel, dtype } = options;
      const model = await loadGPTFamily(policyDir, { device, baseModel, dtype }, actorCriticFamily(!!critic));
      if (critic) model.#critic = model.registerModule('critic', critic);
      return model;
    } catch (err) {
      critic?.dispose();
      throw err;
    }
  }

  /**
   * The policy's final hidden states and the per-position values in one call (two trunks with a
   * separate critic), without the LM head: PPO applies it to the response positions only, chunked
   * over the vocabulary (token-logprobs.ts). Differentiable in grad mode; without it the trunks
   * run natively (GPT.forward says when).
   */
  hiddenAndValues(inputIds: Tensor, attentionMask: Tensor, options: { path?: ForwardPath } = {}): PolicyHiddenValues {
    return tidy(() => {
      const hidden = this.hiddenStates(inputIds, { attentionMask, path: options.path });
      if (this.v_head) return { hidden, values: this.v_head.forward(hidden) };
      const h = this.#critic!.hiddenStates(inputIds, { attentionMask, path: options.path });
      return { hidden, values: this.#critic!.scoreOf(h).squeeze(-1) };
    });
  }

  /** Logits and per-position values in one call: hiddenAndValues with the LM head on every position. */
  policyAndValues(inputIds: Tensor, attentionMask: Tensor, options: { path?: ForwardPath } = {}): PolicyValueOutput {
    return tidy(() => {
      const { hidden, values } = this.hiddenAndValues(inputIds, attentionMask, options);
      return { logits: F.linear(hidden, this.lm_head.weight).float(), values };
    });
  }

  /**
   * Writes the policy in HF GPT-2 layout (GPT.load reads it; the value head rides along as
   * v_head.*), and a separate critic under critic/ as a reward-model checkpoint.
   */
  override async save(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    if (hasLora(this))
      await saveAdapter(this, dir, 'CAUSAL_LM'); // the value head rides along in the adapter file
    else {
      const own = this.namedParameters().filter(([n]) => !n.startsWith('critic.'));
      await saveSafetensors(join(dir, 'model.safetensors'), new Map(own), { format: 'pt' });
      await writeJsonAtomic(
        join(dir, 'config.json'),
        modelConfigToHF(this.config, dtypeMark(this), { kind: 'policy', separateCritic: this.separateCritic, ...originMark(this) }),
      );
      rememberModelDir(this, resolve(dir));
    }
    if (this.#critic) await this.#critic.save(join(dir, 'critic'));
  }
}

function actorCriticFamily(separateCritic: boolean): GPTFamily<ActorCritic> {
  return {
    create: (c, _hf, placement) => new ActorCritic(c, { ...placement, critic: separateCritic ? 'later' : undefined }),
    heads: (c) =>
      separateCritic
        ? new Map()
        : new Map([
            ['v_head.summary.weight', [1, c.nEmbd]],
            ['v_head.summary.bias', [1]],
          ]),
    headsOptional: true,
  };
}
