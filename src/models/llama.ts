// The Llama family's decoder trunk in TypeScript, with Hugging Face's module names (the
// container `model` with embed_tokens, layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj,
// post_attention_layernorm, mlp.{gate,up,down}_proj} and norm), so that LlamaForCausalLM,
// Qwen2ForCausalLM and MistralForCausalLM checkpoints load as they are. Pre-RMSNorm blocks,
// rotary positions (HF's rotate-half convention), grouped-query attention (each key/value
// head serves nHead / nKvHead query heads) and a SwiGLU MLP. The GPT class puts the LM head
// on top and chooses this trunk or GPT-2's from the config.
import * as F from '../nn/functional.js';
import { Embedding, Linear, RMSNorm } from '../nn/layers.js';
import { Module, ModuleList } from '../nn/module.js';
import { N } from '../native.js';
import { tensor } from '../tensor/creation.js';
import { cat } from '../tensor/join.js';
import { noGrad } from '../tensor/runtime.js';
import { dispose, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import type { DType, Device } from '../tensor/types.js';
import { ropeInverseFrequencies, type LlamaConfig } from './llama-config.js';
import { llamaNativeLayer } from './native-layers.js';

interface Placement {
  dtype?: DType;
  device?: Device;
}

/** Keys and values of one layer, (B, nKvHead, S, headDim) each: stored once per KV head. */
export type LlamaLayerKV = [Tensor, Tensor];

/** HF's initialisation: every projection and the embedding N(0, 0.02), biases zero. */
function projection(nIn: number, nOut: number, bias: boolean, o: Placement): Linear {
  const l = new Linear(nIn, nOut, { bias, ...o });
  noGrad(() => {
    l.weight.normal_(0, 0.02);
    l.bias?.zero_();
  });
  return l;
}

/** (x1, x2) → (−x2, x1) over the halves of the last dimension. */
function rotateHalf(x: Tensor): Tensor {
  const half = x.shape[x.ndim - 1]! / 2;
  return cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
}

/** x·cos + rotate_half(x)·sin, with cos and sin (B, 1, T, headDim). */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return tidy(() => x.mul(cos).add(rotateHalf(x).mul(sin)));
}

export class LlamaAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  constructor(
    readonly config: LlamaConfig,
    o: Placement,
  ) {
    super();
    const { nEmbd, nHead, nKvHead, headDim, qkvBias, oBias } = config;
    this.q_proj = this.registerModule('q_proj', projection(nEmbd, nHead * headDim, qkvBias, o));
    this.k_proj = this.registerModule('k_proj', projection(nEmbd, nKvHead * headDim, qkvBias, o));
    this.v_proj = this.registerModule('v_proj', projection(nEmbd, nKvHead * headDim, qkvBias, o));
    this.o_proj = this.registerModule('o_proj', projection(nHead * headDim, nEmbd, oBias, o));
  }
  /** x (B, T, C); cos/sin (B, 1, T, D); mask (B, 1, T, S) bool or null for plain causal. */
  forward(x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | null, past?: LlamaLayerKV): { y: Tensor; present: LlamaLayerKV } {
    const [B, T] = x.shape as [number, number, number];
    const { nHead, nKvHead, headDim } = this.config;
    const heads = (t: Tensor, n: number) => t.view(B, T, n, headDim).transpose(1, 2);
    const q = applyRotary(heads(this.q_proj.forward(x), nHead), cos, sin);
    const k0 = applyRotary(heads(this.k_proj.forward(x), nKvHead), cos, sin);
    const v0 = heads(this.v_proj.forward(x), nKvHead);
    const k = past ? cat([past[0], k0], 2) : k0;
    const v = past ? cat([past[1], v0], 2) : v0;
    // Each key/value head serves nHead / nKvHead query heads, read in place (never repeated).
    const y = F.scaledDotProductAttention(q, k, v, {
      attnMask: mask,
      isCausal: mask === null,
      dropoutP: this.config.dropout,
      training: this.training,
      enableGqa: nKvHead !== nHead,
    });
    return { y: this.o_proj.forward(y.transpose(1, 2).reshape(B, T, nHead * headDim)), present: [k, v] };
  }
}

/** SwiGLU: down(silu(gate(x)) · up(x)). */
export class LlamaMLP extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  constructor(config: LlamaConfig, o: Placement) {
    super();
    const { nEmbd, intermediateSize, mlpBias } = config;
    this.gate_proj = this.registerModule('gate_proj', projection(nEmbd, intermediateSize, mlpBias, o));
    this.up_proj = this.registerModule('up_proj', projection(nEmbd, intermediateSize, mlpBias, o));
    this.down_proj = this.registerModule('down_proj', projection(intermediateSize, nEmbd, mlpBias, o));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => this.down_proj.forward(this.gate_proj.forward(x).silu().mul(this.up_proj.forward(x))));
  }
}

export class LlamaDecoderLayer extends Module {
  readonly input_layernorm: RMSNorm;
  readonly self_attn: LlamaAttention;
  readonly post_attention_layernorm: RMSNorm;
  readonly mlp: LlamaMLP;
  constructor(config: LlamaConfig, o: Placement) {
    super();
    this.input_layernorm = this.registerModule('input_layernorm', new RMSNorm(config.nEmbd, config.rmsNormEps, o));
    this.self_attn = this.registerModule('self_attn', new LlamaAttention(config, o));
    this.post_attention_layernorm = this.registerModule('post_attention_layernorm', new RMSNorm(config.nEmbd, config.rmsNormEps, o));
    this.mlp = this.registerModule('mlp', new LlamaMLP(config, o));
  }
  forward(x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | null, past?: LlamaLayerKV): { x: Tensor; present: LlamaLayerKV } {
    const { y, present } = this.self_attn.forward(this.input_layernorm.forward(x), cos, sin, mask, past);
    const h = x.add(y);
    return { x: h.add(this.mlp.forward(this.post_attention_layernorm.forward(h))), present };
  }
}

/** The container named `model` in Llama-family checkpoints. */
export class LlamaModel extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<LlamaDecoderLayer>;
  readonly norm: RMSNorm;
  /** RoPE's inverse frequencies: a buffer of the module, never a parameter or a saved tensor. */
  readonly invFreq: Float32Array;
  constructor(
    readonly config: LlamaConfig,
    o: Placement,
  ) {
    super();
    this.embed_tokens = this.registerModule('embed_tokens', new Embedding(config.vocabSize, config.nEmbd, o));
    noGrad(() => void this.embed_tokens.weight.normal_(0, 0.02));
    this.layers = this.registerModule(
      'layers',
      new ModuleList(Array.from({ length: config.nLayer }, () => new LlamaDecoderLayer(config, o))),
    );
    this.norm = this.registerModule('norm', new RMSNorm(config.nEmbd, config.rmsNormEps, o));
    this.invFreq = ropeInverseFrequencies(config);
  }

  /** cos and sin (B, 1, T, headDim) for positions (B, T), in float32 as transformers computes them. */
  rotary(positions: Tensor): [Tensor, Tensor] {
    return tidy(() => {
      const inv = tensor(this.invFreq, { device: positions.device }).view(1, 1, -1);
      const freqs = positions.float().unsqueeze(-1).mul(inv);
      const emb = cat([freqs, freqs], -1).unsqueeze(1);
      return [emb.cos(), emb.sin()] as [Tensor, Tensor];
    });
  }

  /** The first layer's input (the embeddings) and the rotary cos and sin (B, 1, T, headDim) in its dtype. */
  embed(ids: Tensor, positions: Tensor): { x: Tensor; cos: Tensor; sin: Tensor } {
    return tidy(() => {
      const x = this.embed_tokens.forward(ids);
      const [cos, sin] = this.rotary(positions);
      return { x, cos: cos.to(x.dtype), sin: sin.to(x.dtype) };
    });
  }

  /** A layer's input for the native layer (N.llamaLayer, N.llamaLayerAsync); noDropout: as in eval mode. */
  layerInput(
    layer: LlamaDecoderLayer,
    x: Tensor,
    rope: { cos: Tensor; sin: Tensor },
    mask: Tensor | null,
    checkpoint: boolean,
    noDropout = false,
  ) {
    const { nHead, nKvHead, headDim, rmsNormEps: eps, dropout } = this.config;
    const [cos, sin] = [rope.cos.handle, rope.sin.handle];
    const training = layer.training && !noDropout;
    return {
      x: x.handle,
      mask: mask?.handle ?? null,
      cos,
      sin,
      nHead,
      nKvHead,
      headDim,
      eps,
      dropout: noDropout ? 0 : dropout,
      training,
      checkpoint,
    };
  }

  /**
   * Final hidden states (after norm) of token ids (B, T) at `positions`, under `mask` (see
   * LlamaAttention), after the cached keys/values `past`. With `checkpoint` each layer runs
   * natively with gradient checkpointing (see GPT.gradientCheckpointing; no cache then).
   */
  forward(
    ids: Tensor,
    positions: Tensor,
    mask: Tensor | null,
    past: LlamaLayerKV[] | null,
    useCache: boolean,
    checkpoint = false,
  ): { hiddenStates: Tensor; presentKeyValues?: LlamaLayerKV[] } {
    if (checkpoint && (past || useCache)) throw new Error('LlamaModel.forward: gradient checkpointing takes no KV cache');
    return tidy(() => {
      const start = this.embed(ids, positions);
      const { cos, sin } = start;
      let x = start.x;
      const presents: LlamaLayerKV[] = [];
      let i = 0;
      for (const layer of this.layers) {
        const prev = x;
        if (checkpoint) {
          x = new Tensor(N.llamaLayer(llamaNativeLayer(layer), this.layerInput(layer, prev, start, mask, checkpoint)));
          prev.dispose();
          continue;
        }
        // A scope per layer frees its intermediates as soon as it is done (see GPT's trunk).
        const r = tidy(() => layer.forward(prev, cos, sin, mask, past?.[i++]));
        prev.dispose();
        x = r.x;
        if (useCache) presents.push(r.present);
        else dispose(r.present);
      }
      return { hiddenStates: this.norm.forward(x), presentKeyValues: useCache ? presents : undefined };
    });
  }
}
