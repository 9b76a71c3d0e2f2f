// The fused model entry points: the GPT forward (inference) and the generation loop, which
// runs off the JS thread and resolves a Promise: a libuv worker hands it to the one compute
// thread (native/compute_thread.h explains why one) and waits.
#include <c10/core/GradMode.h>

#include "binding/args.h"
#include "binding/ops.h"
#include "native/compute_thread.h"
#include "native/gpt.h"

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

class GenerateWorker : public Napi::AsyncWorker {
 public:
  GenerateWorker(Napi::Env env, GPTWeights w, at::Tensor ids, at::Tensor mask, GenerateOptions o)
      : Napi::AsyncWorker(env, "torch-rlhf:generate"),
        deferred_(Napi::Promise::Deferred::New(env)),
        w_(std::move(w)), ids_(std::move(ids)), mask_(std::move(mask)), o_(o) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      runOnComputeThread([this] { out_ = trl::generate(w_, ids_, mask_, o_); });
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
    w_ = GPTWeights();
    ids_ = at::Tensor();
    mask_ = at::Tensor();
    out_ = GenerateOutput();
  }
  Napi::Promise::Deferred deferred_;
  GPTWeights w_;
  at::Tensor ids_, mask_;
  GenerateOptions o_;
  GenerateOutput out_;
};

// generate(weights, nHead, eps, promptIds, promptMask, maxNewTokens, temperature, topK, topP, greedy,
//          eosTokenId, padTokenId, seed|null, useCache) → Promise<{tokens, responseMask, logprobs}>
V generate(Args& a) {
  GPTWeights w = parseWeights(a, 0, 1, 2);
  GenerateOptions o;
  o.max_new_tokens = a.int64(5);
  o.temperature = a.number(6, 1.0);
  o.top_k = a.int64(7, 0);
  o.top_p = a.number(8, 1.0);
  o.greedy = a.boolean(9, false);
  o.eos_token_id = a.int64(10, -1);
  o.pad_token_id = a.int64(11, 0);
  if (!a.missing(12)) {
    const double s = a.number(12);
    TORCH_CHECK(Args::isInt(s) && s >= 0, "generate: seed must be a non-negative integer, got ", s);
    o.seed = static_cast<uint64_t>(s);
  }
  o.use_cache = a.boolean(13, true);
  auto* worker = new GenerateWorker(a.env(), std::move(w), a.tensor(3), a.tensor(4), o);
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

const OpEntry kOps[] = {
    {"gptForward", gptForward},
    {"generate", generate},
};

}  // namespace

void registerModelOps(Napi::Env env, Napi::Object exports) {
  registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0]));
}

}  // namespace trl
