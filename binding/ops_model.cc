// The fused model entry points: the GPT-2 and Llama forwards (inference) and their generation loops, which
// runs off the JS thread and resolves a Promise: a libuv worker hands it to the one compute
// thread (native/compute_thread.h explains why one) and waits.
#include <c10/core/GradMode.h>

#include "binding/args.h"
#include "binding/fields.h"
#include "binding/ops.h"
#include "native/compute_thread.h"
#include "native/gpt.h"
#include "native/llama.h"

#include <functional>

namespace trl {

namespace {

using V = Napi::Value;

// weights: [wte, wpe, lnf_w, lnf_b|null, then 12 per block: ln1_w, ln1_b, attn_w, attn_b,
// attn_proj_w, attn_proj_b, ln2_w, ln2_b, fc_w, fc_b, mlp_proj_w, mlp_proj_b] (biases may be null).
GPTWeights parseWeights(const Args& a, size_t i, size_t n_head_i, size_t eps_i) {
  const auto list = a.optTensorList(i);
  auto get = [&](size_t k) -> at::Tensor {
    if (k >= list.size()) a.fail(i, "the GPT weight list (too short)");
    std::optional<at::Tensor> t = list.get(k);
    return t.has_value() ? *t : at::Tensor();
  };
  TORCH_CHECK(list.size() >= 4 && (list.size() - 4) % 12 == 0, "gpt: weight list of ", list.size(),
              " entries does not describe a GPT (4 + 12 per layer)");
  GPTWeights w;
  w.wte = get(0);
  w.wpe = get(1);
  w.lnf_w = get(2);
  w.lnf_b = get(3);
  TORCH_CHECK(w.wte.defined() && w.wpe.defined() && w.lnf_w.defined(), "gpt: wte, wpe and ln_f.weight are required");
  for (size_t k = 4; k < list.size(); k += 12) {
    GPTBlockWeights b;
    b.ln1_w = get(k), b.ln1_b = get(k + 1), b.attn_w = get(k + 2), b.attn_b = get(k + 3);
    b.attn_proj_w = get(k + 4), b.attn_proj_b = get(k + 5), b.ln2_w = get(k + 6), b.ln2_b = get(k + 7);
    b.fc_w = get(k + 8), b.fc_b = get(k + 9), b.mlp_proj_w = get(k + 10), b.mlp_proj_b = get(k + 11);
    TORCH_CHECK(b.ln1_w.defined() && b.attn_w.defined() && b.attn_proj_w.defined() && b.ln2_w.defined() &&
                    b.fc_w.defined() && b.mlp_proj_w.defined(),
                "gpt: block ", (k - 4) / 12, " is missing a weight");
    w.blocks.push_back(std::move(b));
  }
  w.n_head = a.int64(n_head_i);
  w.eps = a.number(eps_i, 1e-5);
  TORCH_CHECK(w.n_head > 0 && w.wte.size(1) % w.n_head == 0, "gpt: n_embd ", w.wte.size(1),
              " is not divisible by n_head ", w.n_head);
  return w;
}

// Token ids on the model's device as int64; floating ids are refused, not truncated.
at::Tensor tokenIds(Args& a, size_t i, const c10::Device& device) {
  const at::Tensor& ids = a.tensor(i);
  TORCH_CHECK(at::isIntegralType(ids.scalar_type(), /*includeBool=*/false),
              "gpt: input ids must be an integer tensor (int64), got ", ids.scalar_type());
  return ids.to(device, at::kLong);
}

// gptForward(weights, nHead, eps, inputIds, attentionMask?, positionIds?, withLogits = true)
//   → [logits, hidden], or [hidden] without the LM head
V gptForward(Args& a) {
  c10::NoGradGuard no_grad;
  const GPTWeights w = parseWeights(a, 0, 1, 2);
  const at::Tensor ids = tokenIds(a, 3, w.wte.device());
  const at::Tensor valid = a.missing(4) ? at::ones(ids.sizes(), ids.options().dtype(at::kBool))
                                        : a.tensor(4).to(w.wte.device(), at::kBool);
  const at::Tensor pos = a.missing(5) ? positionsFromMask(valid) : a.tensor(5).to(w.wte.device(), at::kLong);
  const bool with_logits = a.boolean(6, true);
  auto out = trl::gptForward(w, ids, pos, valid, nullptr, false, with_logits);
  return with_logits ? wrapAll(a.env(), {out.logits, out.hidden}) : wrapAll(a.env(), {out.hidden});
}

// Runs one generation off the JS thread and settles a Promise. The job owns every native
// reference it needs (weights, prompts), so the JS side may drop its handles meanwhile; they
// are released on the main thread as soon as it settles.
class GenerateWorker : public Napi::AsyncWorker {
 public:
  GenerateWorker(Napi::Env env, std::function<GenerateOutput()> job)
      : Napi::AsyncWorker(env, "torch-rlhf:generate"), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      runOnComputeThread([this] { out_ = job_(); });
    } catch (const c10::Error& e) {
      SetError(e.what_without_backtrace());
    } catch (const std::exception& e) {
      SetError(std::string("generate: ") + e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object r = Napi::Object::New(env);
    r.Set("tokens", wrap(env, out_.tokens));
    r.Set("responseMask", wrap(env, out_.response_mask));
    r.Set("logprobs", wrap(env, out_.logprobs));
    release();
    deferred_.Resolve(r);
  }
  void OnError(const Napi::Error& e) override {
    release();
    deferred_.Reject(e.Value());
  }

 private:
  void release() {  // drop native references on the main thread, promptly
    job_ = nullptr;
    out_ = GenerateOutput();
  }
  Napi::Promise::Deferred deferred_;
  std::function<GenerateOutput()> job_;
  GenerateOutput out_;
};

Napi::Value queueGeneration(Napi::Env env, std::function<GenerateOutput()> job) {
  auto* worker = new GenerateWorker(env, std::move(job));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

// weights: [embed, norm, lm_head|null (tied), then 16 per layer: input_layernorm, q_w, q_b,
// k_w, k_b, v_w, v_b, o_w, o_b, post_attention_layernorm, gate_w, gate_b, up_w, up_b, down_w,
// down_b] (biases may be null); spec: {nHead, nKvHead, headDim, eps, maxPositions, invFreq}.
LlamaWeights parseLlamaWeights(const Args& a, size_t i, size_t spec_i) {
  const auto list = a.optTensorList(i);
  auto get = [&](size_t k) -> at::Tensor {
    std::optional<at::Tensor> t = list.get(k);
    return t.has_value() ? *t : at::Tensor();
  };
  TORCH_CHECK(list.size() >= 3 && (list.size() - 3) % 16 == 0, "llama: weight list of ", list.size(),
              " entries does not describe a Llama model (3 + 16 per layer)");
  LlamaWeights w;
  w.embed = get(0);
  w.norm_w = get(1);
  w.head = list.get(2).has_value() ? get(2) : w.embed;
  TORCH_CHECK(w.embed.defined() && w.norm_w.defined(), "llama: embed_tokens and norm weights are required");
  for (size_t k = 3; k < list.size(); k += 16) {
    LlamaLayerWeights l;
    l.ln1_w = get(k), l.q_w = get(k + 1), l.q_b = get(k + 2), l.k_w = get(k + 3), l.k_b = get(k + 4);
    l.v_w = get(k + 5), l.v_b = get(k + 6), l.o_w = get(k + 7), l.o_b = get(k + 8), l.ln2_w = get(k + 9);
    l.gate_w = get(k + 10), l.gate_b = get(k + 11), l.up_w = get(k + 12), l.up_b = get(k + 13);
    l.down_w = get(k + 14), l.down_b = get(k + 15);
    TORCH_CHECK(l.ln1_w.defined() && l.q_w.defined() && l.k_w.defined() && l.v_w.defined() && l.o_w.defined() &&
                    l.ln2_w.defined() && l.gate_w.defined() && l.up_w.defined() && l.down_w.defined(),
                "llama: layer ", (k - 3) / 16, " is missing a weight");
    w.layers.push_back(std::move(l));
  }
  const Fields spec(a, spec_i, "llama spec");
  w.n_head = spec.int64("nHead");
  w.n_kv_head = spec.int64("nKvHead");
  w.head_dim = spec.int64("headDim");
  w.max_positions = spec.int64("maxPositions");
  w.eps = spec.number("eps");
  w.inv_freq = spec.tensor("invFreq").to(w.embed.device(), at::kFloat);
  TORCH_CHECK(w.n_kv_head > 0 && w.n_head % w.n_kv_head == 0, "llama: nKvHead ", w.n_kv_head, " must divide nHead ", w.n_head);
  TORCH_CHECK(w.inv_freq.numel() * 2 == w.head_dim, "llama: invFreq must hold headDim / 2 values");
  return w;
}

// llamaForward(weights, spec, inputIds, attentionMask?, positionIds?, withLogits = true) → as gptForward
V llamaForward(Args& a) {
  c10::NoGradGuard no_grad;
  const LlamaWeights w = parseLlamaWeights(a, 0, 1);
  const at::Tensor ids = tokenIds(a, 2, w.embed.device());
  const at::Tensor valid = a.missing(3) ? at::ones(ids.sizes(), ids.options().dtype(at::kBool)) : a.tensor(3).to(w.embed.device(), at::kBool);
  const at::Tensor pos = a.missing(4) ? positionsFromMask(valid) : a.tensor(4).to(w.embed.device(), at::kLong);
  const bool with_logits = a.boolean(5, true);
  auto out = trl::llamaForward(w, ids, pos, valid, nullptr, false, with_logits);
  return with_logits ? wrapAll(a.env(), {out.logits, out.hidden}) : wrapAll(a.env(), {out.hidden});
}

// Generation options by name: {maxNewTokens, temperature, topK, topP, greedy, eosTokenIds,
// padTokenId, seed?, useCache}.
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
  return o;
}

// generate(weights, nHead, eps, promptIds, promptMask, options) → Promise<{tokens, responseMask, logprobs}>
V generate(Args& a) {
  GPTWeights w = parseWeights(a, 0, 1, 2);
  const GenerateOptions o = parseGenerateOptions(a, 5);
  return queueGeneration(a.env(), [w = std::move(w), ids = a.tensor(3), mask = a.tensor(4), o] {
    return trl::generate(w, ids, mask, o);
  });
}

// llamaGenerate(weights, spec, promptIds, promptMask, options) → Promise<{tokens, responseMask, logprobs}>
V llamaGenerate(Args& a) {
  LlamaWeights w = parseLlamaWeights(a, 0, 1);
  const GenerateOptions o = parseGenerateOptions(a, 4);
  return queueGeneration(a.env(), [w = std::move(w), ids = a.tensor(2), mask = a.tensor(3), o] {
    return trl::llamaGenerate(w, ids, mask, o);
  });
}

const OpEntry kOps[] = {
    {"gptForward", gptForward},
    {"generate", generate},
    {"llamaForward", llamaForward},
    {"llamaGenerate", llamaGenerate},
};

}  // namespace

void registerModelOps(Napi::Env env, Napi::Object exports) {
  registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0]));
}

}  // namespace trl
