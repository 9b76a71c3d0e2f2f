// The optimizer steps (AdamW, SGD) and gradient-norm clipping over lists of parameters: one native
// call per step for the whole model (native/optim.h has the math).
#include "binding/args.h"
#include "binding/fields.h"
#include "binding/ops.h"
#include "binding/promise_worker.h"
#include "native/optim.h"

namespace torch_rlhf {

namespace {

using V = Napi::Value;

// adamwStep({params: [{param, expAvg, expAvgSq, maxExpAvgSq?, step}], lr, beta1, beta2, eps, weightDecay,
//             amsgrad = false, maximize = false}) → each parameter's updated step count
// (src/native.ts: NativeAdamWStep); maxExpAvgSq is read only under amsgrad. adamwStepAsync: the
// same on the compute thread → Promise (binding/promise_worker.h).
V adamwStepOp(Args& a, bool later) {
  const Fields f(a, 0, "adamwStep options");
  AdamWOptions o;
  o.lr = f.number("lr");
  o.beta1 = f.number("beta1");
  o.beta2 = f.number("beta2");
  o.eps = f.number("eps");
  o.weight_decay = f.number("weightDecay");
  o.amsgrad = f.boolean("amsgrad", false);
  o.maximize = f.boolean("maximize", false);
  std::vector<at::Tensor> params, m, v, vmax;
  std::vector<double> steps;
  for (const Fields& p : f.objects("params")) {
    params.push_back(p.tensor("param"));
    m.push_back(p.tensor("expAvg"));
    v.push_back(p.tensor("expAvgSq"));
    if (o.amsgrad) vmax.push_back(p.tensor("maxExpAvgSq"));
    steps.push_back(p.number("step"));
  }
  return computeNowOrLater<std::vector<double>>(
      a.env(), later, "adamwStep",
      [params, m, v, vmax, steps, o]() mutable {
        adamwStep(params, m, v, vmax, steps, o);
        return steps;
      },
      [](Napi::Env env, const std::vector<double>& steps) -> V {
        Napi::Array out = Napi::Array::New(env, steps.size());
        for (size_t k = 0; k < steps.size(); ++k) out.Set(k, steps[k]);
        return out;
      });
}
V adamwStep(Args& a) { return adamwStepOp(a, false); }
V adamwStepAsync(Args& a) { return adamwStepOp(a, true); }

// sgdStep({params: [{param, momentumBuffer (Tensor|null)}], lr, momentum = 0, dampening = 0, weightDecay = 0,
//          nesterov = false, maximize = false}) → for each parameter, its new momentum buffer or null (unchanged)
// (src/native.ts: NativeSGDStep)
V sgdStep(Args& a) {
  const Fields f(a, 0, "sgdStep options");
  SGDOptions o;
  o.lr = f.number("lr");
  o.momentum = f.number("momentum", 0);
  o.dampening = f.number("dampening", 0);
  o.weight_decay = f.number("weightDecay", 0);
  o.nesterov = f.boolean("nesterov", false);
  o.maximize = f.boolean("maximize", false);
  std::vector<at::Tensor> params, bufs;
  for (const Fields& p : f.objects("params")) {
    params.push_back(p.tensor("param"));
    bufs.push_back(p.optTensor("momentumBuffer"));
  }
  std::vector<bool> had(bufs.size());
  for (size_t k = 0; k < bufs.size(); ++k) had[k] = bufs[k].defined();
  sgdStep(params, bufs, o);
  Napi::Array out = Napi::Array::New(a.env(), bufs.size());
  for (size_t k = 0; k < bufs.size(); ++k) out.Set(k, !had[k] && bufs[k].defined() ? wrap(a.env(), bufs[k]) : a.env().Null());
  return out;
}

// clipGradNorm(params, {maxNorm, normType = 2, errorIfNonfinite = false}) → total norm before clipping;
// clipGradNormAsync → Promise, as adamwStepAsync.
V clipGradNormOp(Args& a, bool later) {
  const Fields o(a, 1, "clipGradNorm options");
  const double max_norm = o.number("maxNorm"), norm_type = o.number("normType", 2.0);
  const bool error_if_nonfinite = o.boolean("errorIfNonfinite", false);
  return computeNowOrLater<double>(
      a.env(), later, "clipGradNorm",
      [params = a.tensors(0), max_norm, norm_type, error_if_nonfinite] {
        return torch_rlhf::clipGradNorm(params, max_norm, norm_type, error_if_nonfinite);
      },
      [](Napi::Env env, const double& norm) -> V { return Napi::Number::New(env, norm); });
}
V clipGradNorm(Args& a) { return clipGradNormOp(a, false); }
V clipGradNormAsync(Args& a) { return clipGradNormOp(a, true); }

const OpEntry kOps[] = {
    {"adamwStep", adamwStep},
    {"sgdStep", sgdStep},
    {"clipGradNorm", clipGradNorm},
    {"adamwStepAsync", adamwStepAsync},
    {"clipGradNormAsync", clipGradNormAsync},
};

}  // namespace

void registerOptimOps(Napi::Env env, Napi::Object exports) { registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0])); }

}  // namespace torch_rlhf
