// The decoder-only causal LM (exported as GPT and as CausalLM): GPT-2 described in TypeScript
// (after nanoGPT's model.py: pre-LayerNorm blocks, causal multi-head self-attention, tanh-GELU
// MLP, learned positions, LM head tied to the token embedding), or a Llama-family trunk
// (llama.ts) chosen by the config's `arch`. Parameter names are Hugging Face's for either, so
// their checkpoints load as they are; the reward model and the actor-critic build on this class
// and so take either architecture. A model may be held in bf16 (a frozen LoRA base): its
// activations are then bf16, as transformers computes them (norms and RoPE in float32 inside),
// and its logits come out float32, as transformers' losses upcast them.
import * as F from '../nn/functional.js';
import { Dropout, Embedding, LayerNorm } from '../nn/layers.js';
import { Module, ModuleList } from '../nn/module.js';
import { N, type GPTNativeModel, type LlamaNativeModel, type NativeGenerated } from '../native.js';
import { empty, ones, tensor, zeros } from '../tensor/creation.js';
import { cat } from '../tensor/join.js';
import { currentModes, isGradEnabled, noGrad, withModes } from '../tensor/runtime.js';
import { dispose as torch_dispose, keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { isHalfDtype, type DType, type Device } from '../tensor/types.js';
import { loadGPT, saveGPT, type LoadGPTOptions } from './gpt-checkpoint.js';
import { Linear } from '../nn/layers.js';
import { resolveLlamaConfig, type LlamaConfig } from './llama-config.js';
import { LlamaModel, type LlamaDecoderLayer } from './llama.js';
import { gptNativeBlock, llamaNativeLayer } from './native-layers.js';
import { hasLora, loraAdapter } from '../lora/adapter.js';
import { saveAdapter } from '../lora/peft-files.js';

export interface GPTConfig {
  /** GPT-2's trunk (the default); LlamaConfig has 'llama'. */
  arch?: 'gpt2';
  vocabSize: number;
  /** Maximum sequence length (n_positions). */
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  /** Dropout on embeddings, attention weights and residual branches (0 = off). */
  dropout: number;
  /** Biases in the linear layers and LayerNorms (GPT-2: true). */
  bias: boolean;
  layerNormEpsilon: number;
}

export const defaultGPTConfig: Omit<GPTConfig, 'vocabSize'> = {
  blockSize: 1024,
  nLayer: 12,
  nHead: 12,
  nEmbd: 768,
  dropout: 0.0,
  bias: true,
  layerNormEpsilon: 1e-5,
};

/**
 * Upper bounds on a config's sizes. A value past them is a typo or a corrupt file, not a model
 * (GPT-3 175B has 96 layers, 96 heads, width 12288 and 2048 positions), and refusing it here
 * fails at once instead of after minutes of allocation. Token ids stay within an int32.
 */
export const GPT_SIZE_LIMITS = { vocabSize: 2 ** 31, blockSize: 2 ** 20, nLayer: 1024, nHead: 1024, nEmbd: 2 ** 16 } as const;

// Numbers as they are (NaN, Infinity), anything else as JSON, so a string reads as one.
const show = (v: unknown): string => (typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v)));

/** How errors name the config and its fields; a config file passes its path and its own keys. */
export interface GPTConfigNaming {
  source: string;
  field: (k: keyof GPTConfig) => string;
}
const PLAIN_NAMING: GPTConfigNaming = { source: 'GPT config', field: (k) => k };

/** Either architecture's config; the fields every trainer reads (vocabSize, blockSize, nEmbd, …) are common. */
export type ModelConfig = GPTConfig | LlamaConfig;
/** What the GPT constructor takes: a partial config of either architecture. */
export type ModelConfigInput = (Partial<GPTConfig> & { vocabSize: number }) | (Partial<LlamaConfig> & { vocabSize: number; arch: 'llama' });
export const isLlamaConfig = (c: { arch?: string }): c is LlamaConfig => c.arch === 'llama';

/** Checks either architecture's config and fills its defaults. */
export function resolveModelConfig(c: ModelConfigInput): ModelConfig {
  return isLlamaConfig(c) ? resolveLlamaConfig(c) : resolveGPTConfig(c as Partial<GPTConfig> & { vocabSize: number });
}

/** Checks a config and fills defaults, with errors that name the field. */
export function resolveGPTConfig(c: Partial<GPTConfig> & { vocabSize: number }, naming: GPTConfigNaming = PLAIN_NAMING): GPTConfig {
  const cfg = { ...defaultGPTConfig, ...c } as GPTConfig;
  if ((cfg.arch as string | undefined) !== undefined && cfg.arch !== 'gpt2')
    throw new RangeError(`${naming.source}: arch must be 'gpt2' or 'llama', got ${show(cfg.arch)}`);
  const { source, field } = naming;
  const bad = (k: keyof GPTConfig, why: string, Err = RangeError): never => {
    throw new Err(`${source}: ${field(k)} ${why}`);
  };
  for (const [k, max] of Object.entries(GPT_SIZE_LIMITS) as [keyof typeof GPT_SIZE_LIMITS, number][]) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) bad(k, `must be a positive integer, got ${show(v)}`);
    if (v > max) bad(k, `must be at most ${max}, got ${show(v)}`);
  }
  if (cfg.nEmbd % cfg.nHead !== 0) bad('nEmbd', `(${cfg.nEmbd}) must be divisible by ${field('nHead')} (${cfg.nHead})`);
  const { dropout, bias, layerNormEpsilon: eps } = cfg;
  if (!(typeof dropout === 'number' && dropout >= 0 && dropout < 1)) bad('dropout', `must be in [0, 1), got ${show(dropout)}`);
  if (typeof bias !== 'boolean') bad('bias', `must be a boolean, got ${show(bias)}`, TypeError);
  if (!(typeof eps === 'number' && eps > 0 && eps < 1)) bad('layerNormEpsilon', `must be in (0, 1), got ${show(eps)}`);
  return cfg;
}

interface Placement {
  dtype?: DType;
  device?: Device;
}
const normal = (shape: number[], std: number, o: Placement): Tensor => noGrad(() => empty(shape, o).normal_(0, std));

/** GPT-2's Conv1D: a linear layer whose weight is stored (in, out). */
export class Conv1D extends Module {
  constructor(nIn: number, nOut: number, bias: boolean, std: number, o: Placement) {
    super();
    this.registerParameter('weight', normal([nIn, nOut], std, o));
    if (bias) this.registerParameter('bias', zeros([nOut], o));
  }
  get weight(): Tensor {
    return this.param('weight');
  }
  get bias(): Tensor | null {
    return this.optParam('bias');
  }
  forward(x: Tensor): Tensor {
    return tidy(() => F.linear(x, this.weight.t(), this.bias));
  }
}

/** Keys and values of one layer, (B, H, S, D) each. */
export type LayerKV = [Tensor, Tensor];

export class CausalSelfAttention extends Module {
  readonly c_attn: Conv1D;
  readonly c_proj: Conv1D;
  readonly resid_dropout: Dropout;
  constructor(
    readonly config: GPTConfig,
    o: Placement,
  ) {
    super();
    const { nEmbd, bias, nLayer } = config;
    this.c_attn = this.registerModule('c_attn', new Conv1D(nEmbd, 3 * nEmbd, bias, 0.02, o));
    // GPT-2's scaled init of the residual projections: std 0.02/√(2·nLayer).
    this.c_proj = this.registerModule('c_proj', new Conv1D(nEmbd, nEmbd, bias, 0.02 / Math.sqrt(2 * nLayer), o));
    this.resid_dropout = this.registerModule('resid_dropout', new Dropout(config.dropout));
  }
  /**
   * x (B, T, C); mask (B, 1, T, S) bool, or null for plain causal attention (see GPT's trunk);
   * past keys/values of earlier positions.
   */
  forward(x: Tensor, mask: Tensor | null, past?: LayerKV): { y: Tensor; present: LayerKV } {
    const [B, T, C] = x.shape as [number, number, number];
    const H = this.config.nHead;
    const heads = (t: Tensor) => t.view(B, T, H, C / H).transpose(1, 2);
    const [q, k0, v0] = this.c_attn.forward(x).split(C, 2).map(heads) as [Tensor, Tensor, Tensor];
    const k = past ? catSeq(past[0], k0) : k0;
    const v = past ? catSeq(past[1], v0) : v0;
    const y = F.scaledDotProductAttention(q, k, v, {
      attnMask: mask,
      isCausal: mask === null,
      dropoutP: this.config.dropout,
      training: this.training,
    });
    const out = this.resid_dropout.forward(this.c_proj.forward(y.transpose(1, 2).reshape(B, T, C)));
    return { y: out, present: [k, v] };
  }
}
/** Appends new keys/values after the cached ones along the sequence axis. */
const catSeq = (a: Tensor, b: Tensor): Tensor => cat([a, b], 2);

export class MLP extends Module {
  readonly c_fc: Conv1D;
  readonly c_proj: Conv1D;
  readonly dropout: Dropout;
  constructor(config: GPTConfig, o: Placement) {
    super();
    this.c_fc = this.registerModule('c_fc', new Conv1D(config.nEmbd, 4 * config.nEmbd, config.bias, 0.02, o));
    this.c_proj = this.registerModule(
      'c_proj',
      new Conv1D(4 * config.nEmbd, config.nEmbd, config.bias, 0.02 / Math.sqrt(2 * config.nLayer), o),
    );
    this.dropout = this.registerModule('dropout', new Dropout(config.dropout));
  }
  forward(x: Tensor): Tensor {
    return this.dropout.forward(this.c_proj.forward(this.c_fc.forward(x).gelu('tanh')));
  }
}

export class Block extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln_2: LayerNorm;
  readonly mlp: MLP;
  constructor(config: GPTConfig, o: Placement) {
    super();
    const ln = () => new LayerNorm(config.nEmbd, { eps: config.layerNormEpsilon, bias: config.bias, ...o });
    this.ln_1 = this.registerModule('ln_1', ln());
    this.attn = this.registerModule('attn', new CausalSelfAttention(config, o));
    this.ln_2 = this.registerModule('ln_2', ln());
    this.mlp = this.registerModule('mlp', new MLP(config, o));
  }
  forward(x: Tensor, mask: Tensor | null, past?: LayerKV): { x: Tensor; present: LayerKV } {
    const { y, present } = this.attn.forward(this.ln_1.forward(x), mask, past);
    const h = x.add(y);
    return { x: h.add(this.mlp.forward(this.ln_2.forward(h))), present };
  }
}

/** lm_head: no weights of its own, it shares the token embedding's (GPT-2's weight tying). */
export class TiedLMHead extends Module {
  constructor(weight: Tensor) {
    super();
    this.tie(weight);
  }
  tie(weight: Tensor): void {
    this.tieParameter('weight', weight);
  }
  get weight(): Tensor {
    return this.param('weight');
  }
}

/** The container named `transformer` in GPT-2 checkpoints. */
export class GPTTransformer extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly drop: Dropout;
  readonly h: ModuleList<Block>;
  readonly ln_f: LayerNorm;
  constructor(config: GPTConfig, o: Placement) {
    super();
    this.wte = this.registerModule('wte', new Embedding(config.vocabSize, config.nEmbd, o));
    this.wpe = this.registerModule('wpe', new Embedding(config.blockSize, config.nEmbd, o));
    noGrad(() => {
      this.wte.weight.normal_(0, 0.02);
      this.wpe.weight.normal_(0, 0.01);
    });
    this.drop = this.registerModule('drop', new Dropout(config.dropout));
    this.h = this.registerModule('h', new ModuleList(Array.from({ length: config.nLayer }, () => new Block(config, o))));
    this.ln_f = this.registerModule('ln_f', new LayerNorm(config.nEmbd, { eps: config.layerNormEpsilon, bias: config.bias, ...o }));
  }
}

export interface GPTForwardOptions {
  /** (B, T) 1 for real tokens, 0 for padding (left or right). With pastKeyValues: (B, S) over all keys. */
  attentionMask?: Tensor | null;
  /** (B, T) positions; by default counted over the real tokens (left padding aware). */
  positionIds?: Tensor | null;
  /** Keys and values of the earlier positions, per layer (from a previous `presentKeyValues`). */
  pastKeyValues?: LayerKV[] | null;
  /** Return this call's keys and values for the next call. */
  useCache?: boolean;
  /**
   * Which implementation runs: by default the native one whenever it gives the same result
   * (see `GPT.nativeApplies`), else the modules'. 'native' also runs it in training mode, without
   * dropout (inference such as scoring); tests force either path to compare them.
   */
  path?: ForwardPath;
}
/** The modules' forward (autograd, dropout, KV cache) or one native call for the whole trunk. */
export type ForwardPath = 'modules' | 'native';

export interface GPTOutput {
  /** (B, T, vocabSize) */
  logits: Tensor;
  /** (B, T, nEmbd): the final hidden states after ln_f, for the reward and value heads. */
  hiddenStates: Tensor;
  presentKeyValues?: LayerKV[];
}

export interface GenerateOptions {
  maxNewTokens?: number;
  /** Divides the logits before sampling and before the returned log-probs (default 1). */
  temperature?: number;
  topK?: number;
  topP?: number;
  greedy?: boolean;
  /** The id (or ids: any of them, as generation_config.json's list) that ends a sequence. */
  eosTokenId?: number | readonly number[] | null;
  padTokenId?: number;
  /** Seeds this call's own generator (the global one is untouched); unseeded calls draw from it. */
  seed?: number;
  /** The KV cache (default true); false recomputes every step from scratch. */
  useCache?: boolean;
  /**
   * Continuations per prompt (transformers' num_return_sequences, default 1): each prompt is
   * prefilled once and its KV cache repeated, so a group of G samples costs one prompt pass, not
   * G. Every output has prompts × G rows, ordered p0, p0, …, p1, … as transformers orders them.
   */
  numReturnSequences?: number;
  /**
   * Streaming: called once per generated step, in order, with that step's token of every row (the
   * pad id for rows already finished), while generation runs and before it resolves. An error it
   * throws rejects generate (after the loop ends). generateTextStream builds on it.
   */
  onToken?: ((ids: number[]) => void) | undefined;
}

export interface GenerateOutput {
  /** (B, N) generated ids, padTokenId after a sequence's EOS. */
  tokens: Tensor;
  /** (B, N) bool: the response tokens, up to and including EOS. */
  responseMask: Tensor;
  /** (B, N) float32: log p(token) under softmax(logits / temperature), 0 outside the mask. */
  logprobs: Tensor;
  /** (B, T) the left-padded prompts and their mask, as fed to the model (each repeated numReturnSequences times). */
  promptIds: Tensor;
  promptMask: Tensor;
  /** The generated ids per sequence, up to and including EOS. */
  sequences: number[][];
}

/**
 * Where a model's weights come from: 'random' (built here, freshly initialised), 'from-scratch'
 * (a checkpoint this library trained from random weights; config.json's torch_rlhf.from_scratch
 * says so) or 'pretrained' (any other checkpoint). Trainers pick their defaults by it
 * (src/trainers/starting-point.ts): TRL's suit a pretrained model, not one learning from nothing.
 */
export type ModelOrigin = 'random' | 'from-scratch' | 'pretrained';

export class GPT extends Module {
  readonly config: ModelConfig;
  /** Where the weights come from (see ModelOrigin); set by load, kept by save. */
  origin: ModelOrigin = 'random';
  /**
   * Gradient (activation) checkpointing, as transformers' gradient_checkpointing: with grad mode
   * on, each block runs natively keeping only its input for backward, which recomputes the block
   * (native/layers.h). Memory for activations drops from every layer's to about one layer's, for
   * about one more forward pass of compute. Gradients equal those without it. Default off; the
   * trainers turn it on per their `gradientCheckpointing` field.
   */
  gradientCheckpointing = false;
  /** GPT-2's trunk (`transformer.*`), or null for a Llama-family model. */
  readonly transformer: GPTTransformer | null;
  /** The Llama family's trunk (`model.*`), or null for GPT-2. */
  readonly model: LlamaModel | null;
  /** Tied to the token embedding (GPT-2, and Llama with tie_word_embeddings), or its own weights. */
  readonly lm_head: TiedLMHead | Linear;

  constructor(config: ModelConfigInput, placement: Placement = {}) {
    super();
    this.config = resolveModelConfig(config);
    const c = this.config;
    if (isLlamaConfig(c)) {
      this.transformer = null;
      this.model = this.registerModule('model', new LlamaModel(c, placement));
      this.lm_head = this.registerModule(
        'lm_head',
        c.tieWordEmbeddings
          ? new TiedLMHead(this.model.embed_tokens.weight)
          : new Linear(c.nEmbd, c.vocabSize, { bias: false, ...placement }),
      );
      if (this.lm_head instanceof Linear) noGrad(() => void (this.lm_head as Linear).weight.normal_(0, 0.02));
    } else {
      this.model = null;
      this.transformer = this.registerModule('transformer', new GPTTransformer(c, placement));
      // Weight tying: the LM head is the token embedding.
      this.lm_head = this.registerModule('lm_head', new TiedLMHead(this.transformer.wte.weight));
    }
  }

  static create(config: ModelConfigInput, placement: Placement = {}): GPT {
    return new GPT(config, placement);
  }

  /** Turns gradient checkpointing on (transformers' gradient_checkpointing_enable). */
  gradientCheckpointingEnable(): void {
    this.gradientCheckpointing = true;
  }

  /** Turns gradient checkpointing off (transformers' gradient_checkpointing_disable). */
  gradientCheckpointingDisable(): void {
    this.gradientCheckpointing = false;
  }

  /** Whether gradient checkpointing is on (transformers' is_gradient_checkpointing). */
  get isGradientCheckpointing(): boolean {
    return this.gradientCheckpointing;
  }

  /**
   * Loads a Hugging Face causal-LM directory (config.json + safetensors), ours or the hub's:
   * GPT-2, or a Llama / Qwen2 / Mistral model, chosen by config.json's model_type.
   */
  static async load(dir: string, options: LoadGPTOptions = {}): Promise<GPT> {
    return loadGPT(dir, options);
  }

  /**
   * Writes config.json and model.safetensors in the architecture's HF layout (atomically, file by
   * file); a model with a LoRA adapter writes the adapter in PEFT's layout instead, as TRL does.
   */
  async save(dir: string): Promise<void> {
    if (hasLora(this)) return saveAdapter(this, dir, 'CAUSAL_LM');
    return saveGPT(this, dir);
  }

  /** GPT-2's config (throws for a Llama-family model): what GPT-2-only code reads. */
  get gpt2Config(): GPTConfig {
    if (isLlamaConfig(this.config)) throw new Error(`this is a ${this.config.modelType} model, not GPT-2`);
    return this.config;
  }

  /** The token embedding's weight (vocabSize, nEmbd). */
  get tokenEmbedding(): Tensor {
    return this.model ? this.model.embed_tokens.weight : this.transformer!.wte.weight;
  }

  /**
   * Resizes the token embedding (and the LM head, tied or not) to `n` ids, e.g. after a
   * tokenizer gained a pad token. New rows start at the mean embedding. Create optimizers after this.
   */
  resizeTokenEmbeddings(n: number): void {
    const grown = (this.model ? this.model.embed_tokens : this.transformer!.wte).resize(n);
    if (this.lm_head instanceof TiedLMHead) this.lm_head.tie(grown);
    else this.lm_head.resizeOutputs(n);
    (this.config as { vocabSize: number }).vocabSize = n;
  }

  get device(): Device {
    return this.tokenEmbedding.device;
  }

  /**
   * Logits and final hidden states for `inputIds` (B, T). Handles left/right padding through
   * `attentionMask` (padded keys are never attended; positions count real tokens) and
   * incremental decoding through `pastKeyValues`. Without autograd (grad mode off) it runs as
   * one native call (`nativeApplies`): the same math, much faster for scoring.
   */
  forward(inputIds: Tensor, options: GPTForwardOptions = {}): GPTOutput {
    if (this.pickPath(inputIds, options) === 'native') {
      const [logits, hiddenStates] = this.nativeForward(inputIds, options, true);
      return { logits: float32Logits(logits!), hiddenStates: hiddenStates! };
    }
    return tidy(() => {
      const { hiddenStates, presentKeyValues } = this.trunk(inputIds, options);
      return { logits: float32Logits(F.linear(hiddenStates, this.lm_head.weight)), hiddenStates, presentKeyValues };
    });
  }

  /**
   * The final hidden states (B, T, nEmbd) only, without the LM head (HF's GPT2Model output):
   * what the reward and value heads read. Same options as `forward`, and the same choice of path.
   */
  hiddenStates(inputIds: Tensor, options: Omit<GPTForwardOptions, 'useCache'> = {}): Tensor {
    const o = { ...options, useCache: false };
    if (this.pickPath(inputIds, o) === 'native') return this.nativeForward(inputIds, o, false)[0]!;
    return this.trunk(inputIds, o).hiddenStates;
  }

  /**
   * Whether the native forward gives what the modules' would: no autograd wanted (grad mode
   * off), no KV cache in or out, and no dropout in effect (eval mode, or dropout 0 in the model
   * and its LoRA adapter; an active adapter is added beside its base weight natively).
   */
  nativeApplies(options: GPTForwardOptions = {}): boolean {
    if (isGradEnabled() || options.pastKeyValues || options.useCache) return false;
    return !this.training || (this.config.dropout === 0 && (loraAdapter(this)?.config.loraDropout ?? 0) === 0);
  }

  private pickPath(inputIds: Tensor, options: GPTForwardOptions): ForwardPath {
    const path = options.path ?? (this.nativeApplies(options) ? 'native' : 'modules');
    if (path === 'native') {
      if (options.pastKeyValues || options.useCache)
        throw new Error('GPT.forward: the native path takes no pastKeyValues and returns no cache');
      this.checkInput(inputIds, 0);
    }
    return path;
  }

  /** The shape checks both paths share, with errors that name the argument. */
  private checkInput(inputIds: Tensor, pastLen: number): void {
    if (!(inputIds instanceof Tensor) || inputIds.ndim !== 2) throw new TypeError(`GPT.forward: inputIds must be a (batch, length) Tensor`);
    const T = inputIds.shape[1]!;
    if (pastLen + T > this.config.blockSize)
      throw new RangeError(`GPT.forward: sequence length ${pastLen + T} exceeds blockSize ${this.config.blockSize}`);
  }

  /**
   * What every layer of the trunk reads, made once per forward (in the caller's scope): the ids
   * and positions on the model's device, the attention mask (null: plain causal) and whether the
   * layers checkpoint.
   */
  private layerInputs(inputIds: Tensor, options: GPTForwardOptions, pastLen: number) {
    const [B, T] = inputIds.shape as [number, number];
    const device = this.device;
    const keyMask = options.attentionMask
      ? options.attentionMask.to({ dtype: 'bool', device })
      : ones([B, pastLen + T], { dtype: 'bool', device });
    if (keyMask.shape[0] !== B || keyMask.shape[1] !== pastLen + T)
      throw new Error(`GPT.forward: attentionMask must be (${B}, ${pastLen + T}), got [${keyMask.shape}]`);
    const pos = options.positionIds
      ? options.positionIds.to({ dtype: 'int64', device })
      : keyMask.long().cumsum(1).sub(1).clamp(0).slice(1, pastLen);
    // Keys padded only at the end (SFT and reward batches) are hidden from every real query by
    // causality alone, so plain causal attention gives the same outputs at every real position
    // (pad positions, whose outputs nothing reads, see other keys): libtorch's kernel then skips
    // the mask, 10–20 % of attention's time.
    const mask = pastLen === 0 && paddedOnlyAtTheEnd(keyMask) ? null : new Tensor(N.attentionMask(keyMask.handle, T));
    const ids = inputIds.to({ dtype: 'int64', device });
    // Checkpointing applies where backward will run; a KV cache keeps the modules' path.
    const checkpoint = this.gradientCheckpointing && isGradEnabled() && !options.pastKeyValues && !options.useCache;
    return { ids, pos, mask, checkpoint };
  }

  /** A GPT-2 block's input for the native layer (N.gptBlock, N.gptBlockAsync). */
  private gptLayerInput(block: Block, x: Tensor, mask: Tensor | null, checkpoint: boolean, noDropout = false) {
    const { nHead, layerNormEpsilon: eps, dropout } = this.gpt2Config;
    const training = block.training && !noDropout;
    return { x: x.handle, mask: mask?.handle ?? null, nHead, eps, dropout: noDropout ? 0 : dropout, training, checkpoint };
  }

  /**
   * hiddenStates with each layer run natively on the compute thread and awaited (N.gptBlockAsync,
   * N.llamaLayerAsync): the training forward, which leaves the JS thread — a server's requests,
   * timers — free meanwhile. The layers are ATen ops, so autograd records them as it records the
   * modules' forward; grad mode and autocast are those in effect when it is called (ThreadModes),
   * and path 'native' turns dropout off, as hiddenStates' native path. No KV cache.
   */
  async hiddenStatesAsync(inputIds: Tensor, options: Omit<GPTForwardOptions, 'useCache' | 'pastKeyValues'> = {}): Promise<Tensor> {
    const modes = currentModes();
    this.checkInput(inputIds, 0);
    const noDropout = options.path === 'native';
    const start = withModes(modes, () =>
      tidy(() => {
        const { ids, pos, mask, checkpoint } = this.layerInputs(inputIds, { ...options, useCache: false }, 0);
        if (this.model) return { ...this.model.embed(ids, pos), mask, checkpoint };
        const tr = this.transformer!;
        const x = tr.wte.forward(ids).add(tr.wpe.forward(pos));
        return { x: noDropout ? x : tr.drop.forward(x), cos: null, sin: null, mask, checkpoint };
      }),
    );
    let x = start.x;
    try {
      const { mask, checkpoint } = start;
      const layers = this.model ? [...this.model.layers] : [...this.transformer!.h];
      for (const layer of layers) {
        const next = await withModes(modes, () =>
          this.model
            ? N.llamaLayerAsync(
                llamaNativeLayer(layer as LlamaDecoderLayer),
                this.model.layerInput(layer as LlamaDecoderLayer, x, start as { cos: Tensor; sin: Tensor }, mask, checkpoint, noDropout),
              )
            : N.gptBlockAsync(gptNativeBlock(layer as Block), this.gptLayerInput(layer as Block, x, mask, checkpoint, noDropout)),
        );
        x.dispose();
        x = new Tensor(next);
      }
      return withModes(modes, () => (this.model ? this.model.norm : this.transformer!.ln_f).forward(x));
    } finally {
      x.dispose();
      torch_dispose([start.mask, start.cos, start.sin]);
    }
  }

  private trunk(inputIds: Tensor, options: GPTForwardOptions): Omit<GPTOutput, 'logits'> {
    const past = options.pastKeyValues ?? null;
    const pastLen = past?.[0]?.[0].shape[2] ?? 0;
    this.checkInput(inputIds, pastLen);
    if (past && past.length !== this.config.nLayer)
      throw new Error(`GPT.forward: pastKeyValues has ${past.length} layers, the model ${this.config.nLayer}`);
    return tidy(() => {
      const { ids, pos, mask, checkpoint } = this.layerInputs(inputIds, options, pastLen);
      if (this.model) return this.model.forward(ids, pos, mask, past, !!options.useCache, checkpoint);
      const tr = this.transformer!;
      let x = tr.drop.forward(tr.wte.forward(ids).add(tr.wpe.forward(pos)));
      const presents: LayerKV[] = [];
      let i = 0;
      for (const block of tr.h) {
        const prev = x;
        if (checkpoint) {
          x = new Tensor(N.gptBlock(gptNativeBlock(block), this.gptLayerInput(block, prev, mask, checkpoint)));
          prev.dispose();
          continue;
        }
        // A scope per block frees its intermediates' handles as soon as it is done (autograd
        // keeps what backward needs), so peak memory stays near one block's worth.
        const r = tidy(() => block.forward(prev, mask, past?.[i++]));
        prev.dispose();
        x = r.x;
        if (options.useCache) presents.push(r.present);
        else torch_dispose(r.present);
      }
      return { hiddenStates: tr.ln_f.forward(x), presentKeyValues: options.useCache ? presents : undefined };
    });
  }

  /**
   * The model by name as the native forward and generation read it (src/native.ts: GPTNativeModel,
   * LlamaNativeModel). A linear layer with an active LoRA adapter passes its base weight and the
   * adapter (native-layers.ts), never a merged copy; a Llama model passes its RoPE frequencies,
   * made here into `made` for the caller to free.
   */
  private nativeModel(made: Tensor[]): { gpt: GPTNativeModel } | { llama: LlamaNativeModel } {
    if (this.model) {
      const m = this.model;
      const c = this.config as LlamaConfig;
      const invFreq = keep(tensor(m.invFreq, { device: this.device }));
      made.push(invFreq);
      const layers = [...m.layers].map(llamaNativeLayer);
      const lmHead = this.lm_head instanceof Linear ? this.lm_head.weight.handle : null;
      const sizes = { nHead: c.nHead, nKvHead: c.nKvHead, headDim: c.headDim, eps: c.rmsNormEps, maxPositions: c.blockSize };
      const embed = m.embed_tokens.weight.handle;
      return { llama: { ...sizes, invFreq: invFreq.handle, embed, norm: m.norm.weight.handle, lmHead, layers } };
    }
    const tr = this.transformer!;
    const c = this.gpt2Config;
    const blocks = [...tr.h].map(gptNativeBlock);
    const [wte, wpe, lnfW, lnfB] = [tr.wte.weight.handle, tr.wpe.weight.handle, tr.ln_f.weight!.handle, tr.ln_f.bias?.handle ?? null];
    return { gpt: { nHead: c.nHead, eps: c.layerNormEpsilon, wte, wpe, lnfW, lnfB, blocks } };
  }

  /** The trunk (and with `withLogits` the LM head) in one native call: [logits, hidden] or [hidden]. */
  private nativeForward(inputIds: Tensor, options: GPTForwardOptions, withLogits: boolean): Tensor[] {
    const { attentionMask, positionIds } = options;
    const input = { inputIds: inputIds.handle, attentionMask: attentionMask?.handle, positionIds: positionIds?.handle, withLogits };
    const made: Tensor[] = [];
    try {
      const m = this.nativeModel(made);
      return ('llama' in m ? N.llamaForward(m.llama, input) : N.gptForward(m.gpt, input)).map((h) => new Tensor(h));
    } finally {
      torch_dispose(made);
    }
  }

  /**
   * Samples continuations of a batch of prompts (token id arrays of any lengths, left-padded
   * here). The whole loop — KV cache, sampling, EOS handling, log-probs — runs natively on
   * the libuv thread pool; the event loop stays free. Do not update the weights until it resolves.
   */
  async generate(prompts: number[][], options: GenerateOptions = {}): Promise<GenerateOutput> {
    if (!Array.isArray(prompts) || prompts.length === 0 || !prompts.every((p) => Array.isArray(p) && p.length > 0))
      throw new TypeError('generate: prompts must be a non-empty array of non-empty token id arrays');
    const o = {
      maxNewTokens: 32,
      temperature: 1,
      topK: 0,
      topP: 1,
      greedy: false,
      eosTokenId: null,
      padTokenId: 0,
      useCache: true,
      numReturnSequences: 1,
      ...options,
    };
    const G = o.numReturnSequences;
    if (!Number.isInteger(G) || G < 1) throw new RangeError(`generate: numReturnSequences must be a positive integer, got ${G}`);
    if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 0)
      throw new RangeError(`generate: maxNewTokens must be a non-negative integer, got ${o.maxNewTokens}`);
    if (!o.greedy && !(o.temperature > 0)) throw new RangeError(`generate: temperature must be > 0, got ${o.temperature}`);
    const eos =
      o.eosTokenId === null || o.eosTokenId === undefined
        ? []
        : typeof o.eosTokenId === 'number'
          ? [o.eosTokenId]
          : Array.from(o.eosTokenId as readonly number[]);
    if (!eos.every((id) => Number.isInteger(id) && id >= 0 && id < this.config.vocabSize))
      throw new RangeError(`generate: eosTokenId must be token ids in [0, ${this.config.vocabSize}), got ${JSON.stringify(o.eosTokenId)}`);
    if (eos.includes(o.padTokenId))
      throw new Error('generate: padTokenId must differ from eosTokenId (a pad would read as the end of an answer)');
    const T = Math.max(...prompts.map((p) => p.length));
    // Left padding is masked out, but the model still embeds it: use a real token id, since
    // the pad id may lie outside the model's vocabulary (a pad added to GPT-2's tokenizer).
    const filler = o.padTokenId < this.config.vocabSize ? o.padTokenId : (eos[0] ?? 0);
    prompts.forEach((p, b) => {
      p.forEach((id, j) => {
        if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize)
          throw new RangeError(`generate: prompt ${b} token ${j} (${id}) is not in [0, ${this.config.vocabSize})`);
      });
    });
    // Left-padded (rows, T) ids and mask; the model reads the distinct prompts, the output
    // carries each one per returned sequence.
    const padded = (rows: number[][]): [Tensor, Tensor] => {
      const ids = new Float64Array(rows.length * T).fill(filler);
      const mask = new Uint8Array(rows.length * T);
      rows.forEach((p, b) => {
        ids.set(p, b * T + T - p.length);
        mask.fill(1, b * T + T - p.length, (b + 1) * T);
      });
      return [
        new Tensor(N.fromBuffer(ids, [rows.length, T], null, 'int64', this.device)),
        new Tensor(N.fromBuffer(mask, [rows.length, T], 'bool', 'bool', this.device)),
      ];
    };
    const [distinctIds, distinctMask] = padded(prompts);
    const [promptIds, promptMask] = G === 1 ? [distinctIds, distinctMask] : padded(prompts.flatMap((p) => Array<number[]>(G).fill(p)));
    keep(promptIds);
    keep(promptMask);
    let r: NativeGenerated;
    // Tensors made for the native call (a Llama model's RoPE frequencies), freed after it.
    const made: Tensor[] = [];
    const stream = new StepStream(o.onToken);
    try {
      const { maxNewTokens, temperature, topK, topP, greedy, padTokenId, useCache } = o;
      const named = {
        maxNewTokens,
        temperature,
        topK,
        topP,
        greedy,
        eosTokenIds: eos,
        padTokenId,
        seed: o.seed ?? null,
        useCache,
        numReturnSequences: G,
        onToken: stream.native(),
      };
      const m = this.nativeModel(made);
      const batch = { promptIds: distinctIds.handle, promptMask: distinctMask.handle };
      r = await ('llama' in m ? N.llamaGenerate(m.llama, batch, named) : N.generate(m.gpt, batch, named));
    } catch (err) {
      stream.close();
      torch_dispose([promptIds, promptMask]);
      throw err;
    } finally {
      torch_dispose(made);
      if (G !== 1) torch_dispose([distinctIds, distinctMask]);
    }
    const tokens = keep(new Tensor(r.tokens));
    const responseMask = keep(new Tensor(r.responseMask));
    const logprobs = keep(new Tensor(r.logprobs));
    const tok = tokens.tolist() as number[][];
    const msk = responseMask.tolist() as boolean[][];
    const sequences = tok.map((row, b) => row.filter((_, j) => msk[b]![j]));
    const out = { tokens, responseMask, logprobs, promptIds, promptMask, sequences };
    try {
      stream.finish(tok);
    } catch (err) {
      torch_dispose(out);
      throw err;
    }
    return out;
  }
}

/**
 * generate's onToken, made exact: the native loop's calls come through a thread-safe function and
 * the last ones may arrive after the Promise resolves, so the steps not yet delivered then are
 * delivered from the output itself, and later native calls are ignored. The user's callback thus
 * sees every step once, in order, before generate resolves; its first error is rethrown then.
 */
class StepStream {
  private delivered = 0;
  private closed = false;
  private error: { value: unknown } | null = null;

  constructor(private readonly onToken: ((ids: number[]) => void) | undefined) {
    if (onToken !== undefined && typeof onToken !== 'function')
      throw new TypeError(`generate: onToken must be a function, got ${onToken === null ? 'null' : typeof onToken}`);
  }

  /** The callback for the native loop, or null when nobody listens (then the loop copies nothing). */
  native(): ((ids: number[]) => void) | null {
    return this.onToken ? (ids) => !this.closed && this.deliver(ids) : null;
  }

  private deliver(ids: number[]): void {
    this.delivered++;
    if (this.error !== null) return;
    try {
      this.onToken!(ids);
    } catch (err) {
      this.error = { value: err };
    }
  }

  /** Ignores native calls from now on (generation failed, or finish took over). */
  close(): void {
    this.closed = true;
  }

  /** Delivers the steps of `tokens` (rows × steps) not yet delivered, then rethrows the callback's error. */
  finish(tokens: number[][]): void {
    this.close();
    if (!this.onToken) return;
    const steps = tokens[0]?.length ?? 0;
    while (this.delivered < steps) {
      const step = this.delivered;
      this.deliver(tokens.map((row) => row[step]!));
    }
    if (this.error !== null) throw this.error.value;
  }
}

/**
 * Turns gradient checkpointing on in every GPT trunk within `model`: itself, a reward model's or
 * an actor-critic's, and a separate critic's. What a trainer does at setup when its config's
 * gradientCheckpointing is on (as TRL's trainers call gradient_checkpointing_enable).
 */
export function enableGradientCheckpointing(model: Module): void {
  for (const [, m] of model.namedModules()) if (m instanceof GPT) m.gradientCheckpointingEnable();
}

/**
 * The logits of a half-precision model in float32 (what transformers' losses do first:
 * `logits.float()`), so every log-prob and loss is float32; the half-precision ones are freed.
 */
function float32Logits(logits: Tensor): Tensor {
  if (!isHalfDtype(logits.dtype)) return logits;
  const f = logits.float();
  logits.dispose();
  return f;
}

/** Whether every row of a (B, S) key mask is all true up to its last true. */
function paddedOnlyAtTheEnd(keyMask: Tensor): boolean {
  const S = keyMask.shape[1]!;
  if (S < 2) return true;
  return !keyMask
    .slice(1, 0, S - 1)
    .logicalNot()
    .logicalAnd(keyMask.slice(1, 1))
    .any()
    .item();
}
