// The Llama family's configuration (Llama, Qwen2, Mistral without a sliding window): sizes,
// grouped-query attention, RMSNorm and rotary positions, with Hugging Face's config.json keys
// both ways, and RoPE's inverse frequencies (the default and Llama 3's scaling) computed as
// transformers computes them. One place knows these keys, so that their checkpoints load and
// ours open in transformers.

/** RoPE's frequency scaling: none, or Llama 3.1's (long wavelengths slowed, a smooth band between). */
export type RopeScaling =
  | { ropeType: 'default' }
  | { ropeType: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export type LlamaModelType = 'llama' | 'qwen2' | 'mistral';

export interface LlamaConfig {
  arch: 'llama';
  /** The config.json model_type this was read from or is written as. */
  modelType: LlamaModelType;
  vocabSize: number;
  /** max_position_embeddings. */
  blockSize: number;
  nLayer: number;
  /** Query heads. */
  nHead: number;
  /** Key/value heads (grouped-query attention when fewer than nHead). */
  nKvHead: number;
  /** hidden_size. */
  nEmbd: number;
  headDim: number;
  intermediateSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  tieWordEmbeddings: boolean;
  /** Biases on q, k and v (Qwen2 has them; Llama's attention_bias adds o_proj's too). */
  qkvBias: boolean;
  /** A bias on o_proj (Llama's attention_bias). */
  oBias: boolean;
  mlpBias: boolean;
  /** Attention dropout (attention_dropout); 0 for every released model. */
  dropout: number;
}

export const LLAMA_SIZE_LIMITS = {
  vocabSize: 2 ** 31,
  blockSize: 2 ** 22,
  nLayer: 1024,
  nHead: 1024,
  nKvHead: 1024,
  nEmbd: 2 ** 16,
  headDim: 1024,
  intermediateSize: 2 ** 20,
} as const;

const show = (v: unknown): string => (typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v)));

/** Fills defaults and checks a config; errors name `source` and the field as `field` spells it. */
export function resolveLlamaConfig(
  c: Partial<LlamaConfig> & { vocabSize: number },
  source = 'Llama config',
  field: (k: keyof LlamaConfig) => string = (k) => k,
): LlamaConfig {
  const nHead = c.nHead ?? 4;
  const nEmbd = c.nEmbd ?? 64;
  const cfg: LlamaConfig = {
    arch: 'llama',
    modelType: 'llama',
    blockSize: 2048,
    nLayer: 2,
    nHead,
    nKvHead: c.nKvHead ?? nHead,
    nEmbd,
    headDim: c.headDim ?? Math.floor(nEmbd / nHead),
    intermediateSize: 4 * nEmbd,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    ropeScaling: { ropeType: 'default' },
    tieWordEmbeddings: false,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    dropout: 0,
    ...c,
  } as LlamaConfig;
  const bad = (k: keyof LlamaConfig, why: string): never => {
    throw new RangeError(`${source}: ${field(k)} ${why}`);
  };
  for (const [k, max] of Object.entries(LLAMA_SIZE_LIMITS) as [keyof typeof LLAMA_SIZE_LIMITS, number][]) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) bad(k, `must be a positive integer, got ${show(v)}`);
    if (v > max) bad(k, `must be at most ${max}, got ${show(v)}`);
  }
  if (cfg.nHead % cfg.nKvHead !== 0) bad('nKvHead', `(${cfg.nKvHead}) must divide ${field('nHead')} (${cfg.nHead})`);
  if (cfg.headDim % 2 !== 0) bad('headDim', `must be even for rotary positions, got ${cfg.headDim}`);
  if (!['llama', 'qwen2', 'mistral'].includes(cfg.modelType))
    bad('modelType', `must be 'llama', 'qwen2' or 'mistral', got ${show(cfg.modelType)}`);
  if (!(cfg.rmsNormEps > 0 && cfg.rmsNormEps < 1)) bad('rmsNormEps', `must be in (0, 1), got ${show(cfg.rmsNormEps)}`);
  if (!(cfg.ropeTheta > 0 && Number.isFinite(cfg.ropeTheta))) bad('ropeTheta', `must be a positive number, got ${show(cfg.ropeTheta)}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) bad('dropout', `must be in [0, 1), got ${show(cfg.dropout)}`);
  for (const k of ['tieWordEmbeddings', 'qkvBias', 'oBias', 'mlpBias'] as const)
    if (typeof cfg[k] !== 'boolean') bad(k, `must be a boolean, got ${show(cfg[k])}`);
  const rs = cfg.ropeScaling;
  if (rs.ropeType === 'llama3') {
    for (const k of ['factor', 'lowFreqFactor', 'highFreqFactor', 'originalMaxPositionEmbeddings'] as const)
      if (!(typeof rs[k] === 'number' && rs[k] > 0)) bad('ropeScaling', `${k} must be a positive number, got ${show(rs[k])}`);
    if (!(rs.highFreqFactor > rs.lowFreqFactor)) bad('ropeScaling', `high_freq_factor must exceed low_freq_factor`);
  } else if (rs.ropeType !== 'default') {
    bad('ropeScaling', `type ${show((rs as { ropeType: unknown }).ropeType)} is not supported (supported: 'default', 'llama3')`);
  }
  return cfg;
}

type HF = Record<string, unknown>;

/** Reads an HF Llama / Qwen2 / Mistral config.json. Unsupported features are errors that name them. */
export function llamaConfigFromHF(hf: HF, file = 'config.json'): LlamaConfig {
  const modelType = hf.model_type as string;
  if (!['llama', 'qwen2', 'mistral'].includes(modelType))
    throw new Error(`${file}: model_type '${String(modelType)}' is not a Llama-family model`);
  const act = hf.hidden_act ?? 'silu';
  if (act !== 'silu') throw new Error(`${file}: hidden_act '${String(act)}' is not supported (the Llama family uses silu)`);
  const window = hf.sliding_window;
  const windowUsed = modelType === 'qwen2' ? hf.use_sliding_window === true : window !== undefined && window !== null;
  if (windowUsed) throw new Error(`${file}: sliding-window attention (sliding_window ${String(window)}) is not supported`);
  if (hf.pretraining_tp !== undefined && hf.pretraining_tp !== 1)
    throw new Error(`${file}: pretraining_tp ${String(hf.pretraining_tp)} is not supported (only 1)`);
  // transformers 5 keeps RoPE's settings in rope_parameters; older files in rope_theta and rope_scaling.
  const params = (hf.rope_parameters ?? hf.rope_scaling ?? null) as HF | null;
  const ropeTheta = (params?.rope_theta ?? hf.rope_theta ?? 10000) as number;
  const ropeType = (params?.rope_type ?? params?.type ?? 'default') as string;
  if (params && params.partial_rotary_factor !== undefined && params.partial_rotary_factor !== 1)
    throw new Error(`${file}: partial_rotary_factor ${String(params.partial_rotary_factor)} is not supported`);
  let ropeScaling: RopeScaling;
  if (ropeType === 'default') ropeScaling = { ropeType: 'default' };
  else if (ropeType === 'llama3')
    ropeScaling = {
      ropeType: 'llama3',
      factor: params!.factor as number,
      lowFreqFactor: params!.low_freq_factor as number,
      highFreqFactor: params!.high_freq_factor as number,
      originalMaxPositionEmbeddings: params!.original_max_position_embeddings as number,
    };
  else throw new Error(`${file}: RoPE scaling type '${ropeType}' is not supported (supported: 'default', 'llama3')`);
  const keys: Partial<Record<keyof LlamaConfig, string>> = {
    vocabSize: 'vocab_size',
    blockSize: 'max_position_embeddings',
    nLayer: 'num_hidden_layers',
    nHead: 'num_attention_heads',
    nKvHead: 'num_key_value_heads',
    nEmbd: 'hidden_size',
    headDim: 'head_dim',
    intermediateSize: 'intermediate_size',
    rmsNormEps: 'rms_norm_eps',
    tieWordEmbeddings: 'tie_word_embeddings',
    mlpBias: 'mlp_bias',
    dropout: 'attention_dropout',
  };
  const raw: HF = {};
  for (const [k, key] of Object.entries(keys)) if (hf[key!] !== undefined && hf[key!] !== null) raw[k] = hf[key!];
  for (const k of ['vocabSize', 'nLayer', 'nHead', 'nEmbd', 'intermediateSize'] as const)
    if (raw[k] === undefined) throw new Error(`${file}: missing field '${keys[k]}'`);
  const attentionBias = hf.attention_bias === true;
  return resolveLlamaConfig(
    {
      ...(raw as Partial<LlamaConfig>),
      vocabSize: raw.vocabSize as number,
      modelType: modelType as LlamaModelType,
      ropeTheta,
      ropeScaling,
      // Qwen2 has biases on q, k and v always; Llama's attention_bias puts them on all four.
      qkvBias: modelType === 'qwen2' || attentionBias,
      oBias: modelType !== 'qwen2' && attentionBias,
      tieWordEmbeddings: (raw.tieWordEmbeddings as boolean | undefined) ?? modelType === 'qwen2',
    },
    file,
    (k) => `field '${keys[k] ?? k}'`,
  );
}

const ARCHITECTURES: Record<LlamaModelType, string> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  mistral: 'MistralForCausalLM',
};

/** A LlamaConfig as the config.json that transformers' AutoModelForCausalLM reads. */
export function llamaConfigToHF(c: LlamaConfig, extra: HF = {}): HF {
  const rope: HF =
    c.ropeScaling.ropeType === 'llama3'
      ? {
          rope_type: 'llama3',
          factor: c.ropeScaling.factor,
          low_freq_factor: c.ropeScaling.lowFreqFactor,
          high_freq_factor: c.ropeScaling.highFreqFactor,
          original_max_position_embeddings: c.ropeScaling.originalMaxPositionEmbeddings,
        }
      : { rope_type: 'default' };
  if (c.modelType === 'qwen2' && c.oBias) throw new Error('Qwen2 has no o_proj bias; save this model as model_type llama');
  if (c.modelType === 'qwen2' && !c.qkvBias) throw new Error('Qwen2 always has q/k/v biases; save this model as model_type llama');
  if (c.modelType !== 'qwen2' && c.qkvBias !== c.oBias)
    throw new Error(`${c.modelType}'s attention_bias puts a bias on all four projections or none`);
  return {
    architectures: [ARCHITECTURES[c.modelType]],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.nEmbd,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.nLayer,
    num_attention_heads: c.nHead,
    num_key_value_heads: c.nKvHead,
    head_dim: c.headDim,
    hidden_act: 'silu',
    max_position_embeddings: c.blockSize,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    // Both spellings: transformers 5 reads rope_parameters, 4.x rope_scaling (null for default).
    rope_parameters: { rope_theta: c.ropeTheta, ...rope },
    rope_scaling: c.ropeScaling.ropeType === 'default' ? null : rope,
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_bias: c.modelType === 'qwen2' ? undefined : c.qkvBias,
    mlp_bias: c.modelType === 'qwen2' ? undefined : c.mlpBias,
    attention_dropout: c.dropout,
    ...(c.modelType === 'qwen2' ? { use_sliding_window: false } : {}),
    ...(c.modelType === 'mistral' ? { sliding_window: null } : {}),
    torch_dtype: 'float32',
    ...extra,
  };
}

/**
 * RoPE's inverse frequencies (headDim / 2 of them), as transformers computes them in float32:
 * θ^(-2i/d), and with Llama 3's scaling, long wavelengths divided by `factor` and the band
 * between the two thresholds interpolated smoothly.
 */
export function ropeInverseFrequencies(c: LlamaConfig): Float32Array {
  const d = c.headDim;
  const out = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; i++) out[i] = 1 / Math.fround(c.ropeTheta ** Math.fround((2 * i) / d));
  const rs = c.ropeScaling;
  if (rs.ropeType === 'llama3') {
    const oldLen = rs.originalMaxPositionEmbeddings;
    const lowWavelen = oldLen / rs.lowFreqFactor;
    const highWavelen = oldLen / rs.highFreqFactor;
    for (let i = 0; i < out.length; i++) {
      const f = out[i]!;
      const wavelen = (2 * Math.PI) / f;
      let g = wavelen > lowWavelen ? f / rs.factor : f;
      if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
        const smooth = (oldLen / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
        g = ((1 - smooth) * g) / rs.factor + smooth * g;
      }
      out[i] = g;
    }
  }
  return out;
}
