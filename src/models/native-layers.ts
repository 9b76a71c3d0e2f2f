// One layer's weights by name, as the native layers read them (src/native.ts: GPTNativeBlock,
// LlamaNativeLayer): a GPT-2 block or a Llama decoder layer. The whole-model native forward and
// generation pass every layer this way, and gradient-checkpointed training passes one layer at
// a time. A projection with an active LoRA adapter passes its frozen base weight and the adapter
// (A, B, scaling, dropout), which the native code adds as two small products: no merged copy
// W + s·B·A is ever made.
import { activeAdapter } from '../lora/lora-linear.js';
import type { GPTNativeBlock, LlamaNativeLayer, NativeLoRA } from '../native.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Block } from './gpt.js';
import type { LlamaDecoderLayer } from './llama.js';

const h = (t: Tensor | null | undefined) => (t ? t.handle : null);

/** The adapter beside a linear layer, by handle, or null where none is in effect. */
function nativeLoRA(layer: { weight: Tensor }): NativeLoRA | null {
  const adapter = activeAdapter(layer);
  return adapter && { a: adapter.a.handle, b: adapter.b.handle, scaling: adapter.scaling, dropout: adapter.dropout };
}

/** A GPT-2 block's weights by name; Conv1D weights stay (in, out). */
export function gptNativeBlock({ ln_1, attn, ln_2, mlp }: Block): GPTNativeBlock {
  return {
    ln1W: ln_1.weight!.handle,
    ln1B: h(ln_1.bias),
    ln2W: ln_2.weight!.handle,
    ln2B: h(ln_2.bias),
    attnW: attn.c_attn.weight.handle,
    attnB: h(attn.c_attn.bias),
    attnLora: nativeLoRA(attn.c_attn),
    attnProjW: attn.c_proj.weight.handle,
    attnProjB: h(attn.c_proj.bias),
    attnProjLora: nativeLoRA(attn.c_proj),
    fcW: mlp.c_fc.weight.handle,
    fcB: h(mlp.c_fc.bias),
    fcLora: nativeLoRA(mlp.c_fc),
    mlpProjW: mlp.c_proj.weight.handle,
    mlpProjB: h(mlp.c_proj.bias),
    mlpProjLora: nativeLoRA(mlp.c_proj),
  };
}

/** A Llama decoder layer's weights by name; projections (out, in). */
export function llamaNativeLayer({ input_layernorm, self_attn: a, post_attention_layernorm, mlp: p }: LlamaDecoderLayer): LlamaNativeLayer {
  return {
    inputLayernorm: input_layernorm.weight.handle,
    postAttentionLayernorm: post_attention_layernorm.weight.handle,
    qW: a.q_proj.weight.handle,
    qB: h(a.q_proj.bias),
    qLora: nativeLoRA(a.q_proj),
    kW: a.k_proj.weight.handle,
    kB: h(a.k_proj.bias),
    kLora: nativeLoRA(a.k_proj),
    vW: a.v_proj.weight.handle,
    vB: h(a.v_proj.bias),
    vLora: nativeLoRA(a.v_proj),
    oW: a.o_proj.weight.handle,
    oB: h(a.o_proj.bias),
    oLora: nativeLoRA(a.o_proj),
    gateW: p.gate_proj.weight.handle,
    gateB: h(p.gate_proj.bias),
    gateLora: nativeLoRA(p.gate_proj),
    upW: p.up_proj.weight.handle,
    upB: h(p.up_proj.bias),
    upLora: nativeLoRA(p.up_proj),
    downW: p.down_proj.weight.handle,
    downB: h(p.down_proj.bias),
    downLora: nativeLoRA(p.down_proj),
  };
}
