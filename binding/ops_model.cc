// The fused model entry points: the GPT-2 and Llama forwards (inference) and their generation loops, which
// runs off the JS thread and resolves a Promise: a libuv worker hands it to the one compute
// thread (native/compute_thread.h explains why one) and waits.
#include <c10/core/GradMode.h>

#include "binding/args.h"
#include "binding/fields.h"
#include "binding/ops.h"
#include "binding/promise_worker.h"
#include "native/attention.h"
#include "native/compute_thread.h"
#include "native/gpt.h"
#include "native/llama.h"

#include <functional>
#include <memory>
#include <vector>

namespace torch_rlhf {

namespace {

using V = Napi::Value;

// A projection's LoRA adapter by name, `key` in the layer's object: {a (r, in), b (out, r), scaling,
// dropout = 0}, in the adapter's own dtype (src/native.ts: NativeLoRA); absent or null: none.
LoRA parseLoRA(const Fields& layer, const char* key) {
  LoRA l;
  if (!layer.has(key)) return l;
  const Fields f = layer.object(key);
  l.a = f.tensor("a");
  l.b = f.tensor("b");
  l.scaling = f.number("scaling");
  l.dropout = f.number("dropout", 0.0);
  TORCH_CHECK(l.a.dim() == 2 && l.b.dim() == 2 && l.b.size(1) == l.a.size(0), "lora ", key, ": a must be (r, in) and b (out, r), got ",
              l.a.sizes(), " and ", l.b.sizes());
  TORCH_CHECK(l.dropout >= 0 && l.dropout < 1, "lora ", key, ": dropout must be in [0, 1), got ", l.dropout);
  return l;
}

// One GPT-2 block by name: {ln1W, ln1B?, attnW, attnB?, attnProjW, attnProjB?, ln2W, ln2B?, fcW, fcB?,
// mlpProjW, mlpProjB?, and an adapter beside each product: attnLora?, attnProjLora?, fcLora?, mlpProjLora?}
// (src/native.ts: GPTNativeBlock); a bias is absent or null when the model has none.
GPTBlockWeights parseGPTBlock(const Fields& b) {
  GPTBlockWeights blk;
  blk.ln1_w = b.tensor("ln1W"), blk.ln1_b = b.optTensor("ln1B");
  blk.attn_w = b.tensor("attnW"), blk.attn_b = b.optTensor("attnB");
  blk.attn_proj_w = b.tensor("attnProjW"), blk.attn_proj_b = b.optTensor("attnProjB");
  blk.ln2_w = b.tensor("ln2W"), blk.ln2_b = b.optTensor("ln2B");
  blk.fc_w = b.tensor("fcW"), blk.fc_b = b.optTensor("fcB");
  blk.mlp_proj_w = b.tensor("mlpProjW"), blk.mlp_proj_b = b.optTensor("mlpProjB");
  blk.attn_lora = parseLoRA(b, "attnLora"), blk.attn_proj_lora = parseLoRA(b, "attnProjLora");
  blk.fc_lora = parseLoRA(b, "fcLora"), blk.mlp_proj_lora = parseLoRA(b, "mlpProjLora");
  return blk;
}

// The GPT-2 model by name: {nHead, eps, wte, wpe, lnfW, lnfB?, blocks: [block, as parseGPTBlock]}
// (src/native.ts: GPTNativeModel).
GPTWeights parseWeights(const Args& a, size_t i) {
  const Fields m(a, i, "gpt model");
  GPTWeights w;
  w.wte = m.tensor("wte");
  w.wpe = m.tensor("wpe");
  w.lnf_w = m.tensor("lnfW");
  w.lnf_b = m.optTensor("lnfB");
  for (const Fields& b : m.objects("blocks")) w.blocks.push_back(parseGPTBlock(b));
  w.n_head = m.int64("nHead");
  w.eps = m.number("eps", 1e-5);
  TORCH_CHECK(w.n_head > 0 && w.wte.size(1) % w.n_head == 0, "gpt: n_embd ", w.wte.size(1), " is not divisible by n_head ", w.n_head);
  return w;
}

// Token ids on the model's device as int64; floating ids are refused, not truncated.
at::Tensor tokenIds(const at::Tensor& ids, const c10::Device& device) {
  TORCH_CHECK(at::isIntegralType(ids.scalar_type(), /*includeBool=*/false), "gpt: input ids must be an integer tensor (int64), got ",
              ids.scalar_type());
  return ids.to(device, at::kLong);
}

// A forward's input by name: {inputIds, attentionMask?, positionIds?, withLogits = true}, on `device`.
struct ForwardInput {
  at::Tensor ids, valid, positions;
  bool with_logits = true;
};
ForwardInput parseForwardInput(const Args& a, size_t i, const c10::Device& device) {
  const Fields f(a, i, "forward input");
  ForwardInput in;
  in.ids = tokenIds(f.tensor("inputIds"), device);
  in.valid = f.has("attentionMask") ? f.tensor("attentionMask").to(device, at::kBool)
                                    : at::ones(in.ids.sizes(), in.ids.options().dtype(at::kBool));
  in.positions = f.has("positionIds") ? f.tensor("positionIds").to(device, at::kLong) : positionsFromMask(in.valid);
  in.with_logits = f.boolean("withLogits", true);
  return in;
}
V forwardResult(Napi::Env env, const ForwardOutput& out, bool with_logits) {
  return with_logits ? wrapAll(env, {out.logits, out.hidden}) : wrapAll(env, {out.hidden});
}

// gptForward(model, input) → [logits, hidden], or [hidden] without the LM head
V gptForward(Args& a) {
  c10::NoGradGuard no_grad;
  const GPTWeights w = parseWeights(a, 0);
  const ForwardInput in = parseForwardInput(a, 1, w.wte.device());
  return forwardResult(a.env(), torch_rlhf::gptForward(w, in.ids, in.positions, in.valid, nullptr, false, in.with_logits), in.with_logits);
}

// Runs one generation off the JS thread (binding/promise_worker.h), on the compute thread, and
// settles a Promise with {tokens, responseMask, logprobs}. The job owns every native reference it
// needs (weights, prompts), so the JS side may drop its handles meanwhile.
Napi::Value queueGeneration(Napi::Env env, std::function<GenerateOutput()> job) {
  auto out = std::make_shared<GenerateOutput>();
  return queuePromise(
      env, "torch-rlhf:generate", "generate", [job = std::move(job), out] { runOnComputeThread([&] { *out = job(); }); },
      [out](Napi::Env env) -> V {
        Napi::Object r = Napi::Object::New(env);
        r.Set("tokens", wrap(env, out->tokens));
        r.Set("responseMask", wrap(env, out->response_mask));
        r.Set("logprobs", wrap(env, out->logprobs));
        return r;
      });
}

// One Llama decoder layer by name: {inputLayernorm, qW, qB?, kW, kB?, vW, vB?, oW, oB?,
// postAttentionLayernorm, gateW, gateB?, upW, upB?, downW, downB?, and an adapter beside each
// projection: qLora?, kLora?, vLora?, oLora?, gateLora?, upLora?, downLora?} (src/native.ts: LlamaNativeLayer).
LlamaLayerWeights parseLlamaLayer(const Fields& l) {
  LlamaLayerWeights y;
  y.ln1_w = l.tensor("inputLayernorm");
  y.q_w = l.tensor("qW"), y.q_b = l.optTensor("qB"), y.k_w = l.tensor("kW"), y.k_b = l.optTensor("kB");
  y.v_w = l.tensor("vW"), y.v_b = l.optTensor("vB"), y.o_w = l.tensor("oW"), y.o_b = l.optTensor("oB");
  y.ln2_w = l.tensor("postAttentionLayernorm");
  y.gate_w = l.tensor("gateW"), y.gate_b = l.optTensor("gateB"), y.up_w = l.tensor("upW"), y.up_b = l.optTensor("upB");
  y.down_w = l.tensor("downW"), y.down_b = l.optTensor("downB");
  y.q_lora = parseLoRA(l, "qLora"), y.k_lora = parseLoRA(l, "kLora"), y.v_lora = parseLoRA(l, "vLora"), y.o_lora = parseLoRA(l, "oLora");
  y.gate_lora = parseLoRA(l, "gateLora"), y.up_lora = parseLoRA(l, "upLora"), y.down_lora = parseLoRA(l, "downLora");
  return y;
}

// The Llama-family model by name: {nHead, nKvHead, headDim, eps, maxPositions, invFreq, embed, norm,
// lmHead? (absent or null: tied to embed), layers: [layer, as parseLlamaLayer]} (src/native.ts: LlamaNativeModel).
LlamaWeights parseLlamaWeights(const Args& a, size_t i) {
  const Fields m(a, i, "llama model");
  LlamaWeights w;
  w.embed = m.tensor("embed");
  w.norm_w = m.tensor("norm");
  w.head = m.has("lmHead") ? m.tensor("lmHead") : w.embed;
  for (const Fields& l : m.objects("layers")) w.layers.push_back(parseLlamaLayer(l));
  w.n_head = m.int64("nHead");
  w.n_kv_head = m.int64("nKvHead");
  w.head_dim = m.int64("headDim");
  w.max_positions = m.int64("maxPositions");
  w.eps = m.number("eps");
  w.inv_freq = m.tensor("invFreq").to(w.embed.device(), at::kFloat);
  TORCH_CHECK(w.n_kv_head > 0 && w.n_head % w.n_kv_head == 0, "llama: nKvHead ", w.n_kv_head, " must divide nHead ", w.n_head);
  TORCH_CHECK(w.inv_freq.numel() * 2 == w.head_dim, "llama: invFreq must hold headDim / 2 values");
  return w;
}

// llamaForward(model, input) → as gptForward
V llamaForward(Args& a) {
  c10::NoGradGuard no_grad;
  const LlamaWeights w = parseLlamaWeights(a, 0);
  const ForwardInput in = parseForwardInput(a, 1, w.embed.device());
  return forwardResult(a.env(), torch_rlhf::llamaForward(w, in.ids, in.positions, in.valid, nullptr, false, in.with_logits),
                       in.with_logits);
}

// Generation options by name: {maxNewTokens, temperature, topK, topP, greedy, eosTokenIds,
// padTokenId, seed?, useCache, numReturnSequences} (onToken: parseOnToken).
GenerateOptions parseGenerateOptions(const Args& a, size_t i) {
  const Fields f(a, i, "generate options");
  GenerateOptions o;
  o.max_new_tokens = f.int64("maxNewTokens");
  o.temperature = f.number("temperature", 1.0);
  o.top_k = f.int64("topK", 0);
  o.top_p = f.number("topP", 1.0);
  o.greedy = f.boolean("greedy", false);
  o.eos_token_ids = f.ints("eosTokenIds");
  o.pad_token_id = f.int64("padTokenId", 0);
  if (f.has("seed")) {
    const int64_t s = f.int64("seed");
    TORCH_CHECK(s >= 0, "generate: seed must be a non-negative integer, got ", s);
    o.seed = static_cast<uint64_t>(s);
  }
  o.use_cache = f.boolean("useCache", true);
  o.num_return_sequences = f.int64("numReturnSequences", 1);
  return o;
}

// Left-padded prompts by name: {promptIds (B, T), promptMask (B, T) bool}.
struct Prompts {
  at::Tensor ids, mask;
};
Prompts parsePrompts(const Args& a, size_t i) {
  const Fields f(a, i, "prompts");
  return {f.tensor("promptIds"), f.tensor("promptMask")};
}

// The options' onToken, a function or absent, for streaming: called on the JS thread with each
// step's ids (an array, one per row) through a thread-safe function while the loop runs. The
// stream is released when the job that holds it is dropped; calls still queued then are
// delivered, possibly after the Promise settles (the JS side reads the final output anyway).
struct TokenStream {
  Napi::ThreadSafeFunction fn;
  ~TokenStream() { fn.Release(); }
};
std::shared_ptr<TokenStream> parseOnToken(const Args& a, size_t i, GenerateOptions& o) {
  const Napi::Value v = a[i].As<Napi::Object>().Get("onToken");
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsFunction()) a.fail(i, "generate options whose onToken is a function");
  auto stream = std::make_shared<TokenStream>();
  stream->fn = Napi::ThreadSafeFunction::New(a.env(), v.As<Napi::Function>(), "torch-rlhf:generate-token", 0, 1);
  o.on_token = [fn = stream->fn](const at::Tensor& next) mutable {
    const at::Tensor ids = next.contiguous();
    auto* copy = new std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
    const napi_status status = fn.NonBlockingCall(copy, [](Napi::Env env, Napi::Function cb, std::vector<int64_t>* row) {
      Napi::Array out = Napi::Array::New(env, row->size());
      for (size_t k = 0; k < row->size(); ++k) out.Set(static_cast<uint32_t>(k), Napi::Number::New(env, static_cast<double>((*row)[k])));
      delete row;
      cb.Call({out});
    });
    if (status != napi_ok) delete copy;
  };
  return stream;
}

// generate(model, prompts, options) → Promise<{tokens, responseMask, logprobs}>
V generate(Args& a) {
  GPTWeights w = parseWeights(a, 0);
  const Prompts p = parsePrompts(a, 1);
  GenerateOptions o = parseGenerateOptions(a, 2);
  auto stream = parseOnToken(a, 2, o);
  return queueGeneration(a.env(), [w = std::move(w), p, o, stream] { return torch_rlhf::generate(w, p.ids, p.mask, o); });
}

// llamaGenerate(model, prompts, options) → Promise<{tokens, responseMask, logprobs}>
V llamaGenerate(Args& a) {
  LlamaWeights w = parseLlamaWeights(a, 0);
  const Prompts p = parsePrompts(a, 1);
  GenerateOptions o = parseGenerateOptions(a, 2);
  auto stream = parseOnToken(a, 2, o);
  return queueGeneration(a.env(), [w = std::move(w), p, o, stream] { return torch_rlhf::llamaGenerate(w, p.ids, p.mask, o); });
}

// A layer's input by name, the same for both architectures: {x (B, L, C), mask? (B, 1, L, S) bool
// (absent or null: plain causal), dropout = 0, training = false, checkpoint = false}.
struct LayerInput {
  at::Tensor x, mask;
  double dropout = 0.0;
  bool train = false, checkpoint = false;
};
LayerInput parseLayerInput(const Fields& f) {
  LayerInput in;
  in.x = f.tensor("x");
  TORCH_CHECK(in.x.dim() == 3, "layer input x must be (batch, length, hidden), got ", in.x.sizes());
  in.mask = f.optTensor("mask");
  if (in.mask.defined()) in.mask = in.mask.to(in.x.device(), at::kBool);
  in.dropout = f.number("dropout", 0.0);
  TORCH_CHECK(in.dropout >= 0 && in.dropout < 1, "layer input dropout must be in [0, 1), got ", in.dropout);
  in.train = f.boolean("training", false);
  in.checkpoint = f.boolean("checkpoint", false);
  return in;
}

V wrapOne(Napi::Env env, const at::Tensor& t) { return wrap(env, t); }

// gptBlock(block, {…layer input, nHead, eps}) → the block's output; with checkpoint (and grad mode
// on) only its input is kept for backward, which recomputes the block (native/layers.h).
// gptBlockAsync: the same on the compute thread → Promise (the training forward, binding/promise_worker.h).
V gptBlockOp(Args& a, bool later) {
  const GPTBlockWeights blk = parseGPTBlock(Fields(a, 0, "gpt block"));
  const Fields f(a, 1, "gpt block input");
  const LayerInput in = parseLayerInput(f);
  GPTBlockOptions o;
  o.n_head = f.int64("nHead"), o.eps = f.number("eps"), o.mask = in.mask, o.dropout = in.dropout, o.train = in.train;
  return computeNowOrLater<at::Tensor>(
      a.env(), later, "gptBlock",
      [blk, in, o] { return in.checkpoint ? gptBlockCheckpointed(blk, in.x, o) : torch_rlhf::gptBlock(blk, in.x, o); }, wrapOne);
}
V gptBlock(Args& a) { return gptBlockOp(a, false); }
V gptBlockAsync(Args& a) { return gptBlockOp(a, true); }

// llamaLayer(layer, {…layer input, cos, sin (B, 1, L, headDim), nHead, nKvHead, headDim, eps}) → as gptBlock;
// llamaLayerAsync → Promise, as gptBlockAsync.
V llamaLayerOp(Args& a, bool later) {
  const LlamaLayerWeights l = parseLlamaLayer(Fields(a, 0, "llama layer"));
  const Fields f(a, 1, "llama layer input");
  const LayerInput in = parseLayerInput(f);
  LlamaLayerOptions o;
  o.n_head = f.int64("nHead"), o.n_kv_head = f.int64("nKvHead"), o.head_dim = f.int64("headDim"), o.eps = f.number("eps");
  TORCH_CHECK(o.n_kv_head > 0 && o.n_head % o.n_kv_head == 0, "llama: nKvHead ", o.n_kv_head, " must divide nHead ", o.n_head);
  o.cos = f.tensor("cos"), o.sin = f.tensor("sin"), o.mask = in.mask, o.dropout = in.dropout, o.train = in.train;
  return computeNowOrLater<at::Tensor>(
      a.env(), later, "llamaLayer",
      [l, in, o] { return in.checkpoint ? llamaLayerCheckpointed(l, in.x, o) : torch_rlhf::llamaLayer(l, in.x, o); }, wrapOne);
}
V llamaLayer(Args& a) { return llamaLayerOp(a, false); }
V llamaLayerAsync(Args& a) { return llamaLayerOp(a, true); }

// attentionMask(keyMask (B, S) bool, queries L) → (B, 1, L, S) bool: the one mask both forwards
// use (native/attention.h says what it hides and why).
V attentionMask(Args& a) { return wrap(a.env(), torch_rlhf::attentionMask(a.tensor(0), a.int64(1))); }

// skinnyMatmul({x (M, K), weight, bias?, inOut}) → x @ weight (+ bias) through the decode-step
// kernel (native/skinny_matmul.h): weight (K, N) when inOut, else (N, K) as nn.Linear's. For the
// tests that hold it to libtorch's product; errors where the kernel does not apply.
V skinnyMatmul(Args& a) {
  c10::NoGradGuard no_grad;
  const Fields f(a, 0, "skinnyMatmul arguments");
  const at::Tensor w = f.tensor("weight"), bias = f.optTensor("bias");
  const PackedWeight p = f.boolean("inOut", false) ? packInOut(w, bias) : packOutIn(w, bias);
  TORCH_CHECK(p.defined(), "skinnyMatmul: the weight must be a contiguous float32 CPU matrix ",
              "(and the bias a float32 vector of its outputs)");
  return wrap(a.env(), packedMatmul(f.tensor("x"), p));
}

const OpEntry kOps[] = {
    {"skinnyMatmul", skinnyMatmul},   {"gptForward", gptForward},           {"generate", generate}, {"llamaForward", llamaForward},
    {"llamaGenerate", llamaGenerate}, {"attentionMask", attentionMask},     {"gptBlock", gptBlock}, {"llamaLayer", llamaLayer},
    {"gptBlockAsync", gptBlockAsync}, {"llamaLayerAsync", llamaLayerAsync},
};

}  // namespace

void registerModelOps(Napi::Env env, Napi::Object exports) { registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0])); }

}  // namespace torch_rlhf
