// The optimizer steps (AdamW, SGD) and gradient-norm clipping over lists of parameters: one native
// call per step for the whole model (native/optim.h has the math).
#include "binding/args.h"
#include "binding/fields.h"
#include "binding/ops.h"
#include "native/optim.h"

namespace torch_rlhf {

namespace {

using V = Napi::Value;

std::vector<double> numbers(const Args& a, size_t i) {
  if (!a[i].IsArray()) a.fail(i, "an array of numbers");
  Napi::Array arr = a[i].As<Napi::Array>();
  std::vector<double> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value v = arr.Get(k);
    if (!v.IsNumber()) a.fail(i, "an array of numbers");
    out[k] = v.As<Napi::Number>().DoubleValue();
  }
  return out;
}

// adamwStep(params, expAvg, expAvgSq, maxExpAvgSq, steps, lr, beta1, beta2, eps, weightDecay,
//           amsgrad, maximize) → the updated steps
V adamwStep(Args& a) {
  const auto params = a.tensors(0);
  const auto m = a.tensors(1), v = a.tensors(2);
  const auto vmax = a.boolean(10, false) ? a.tensors(3) : std::vector<at::Tensor>{};
  auto steps = numbers(a, 4);
  AdamWOptions o;
  o.lr = a.number(5);
  o.beta1 = a.number(6);
  o.beta2 = a.number(7);
  o.eps = a.number(8);
  o.weight_decay = a.number(9);
  o.amsgrad = a.boolean(10, false);
  o.maximize = a.boolean(11, false);
  adamwStep(params, m, v, vmax, steps, o);
  Napi::Array out = Napi::Array::New(a.env(), steps.size());
  for (size_t k = 0; k < steps.size(); ++k) out.Set(k, steps[k]);
  return out;
}

// sgdStep(params, momentumBuffers (Tensor|null)[], lr, momentum, dampening, weightDecay,
//         nesterov, maximize) → for each parameter, its new momentum buffer or null (unchanged)
V sgdStep(Args& a) {
  const auto params = a.tensors(0);
  const auto bufList = a.optTensorList(1);
  std::vector<at::Tensor> bufs;
  for (size_t k = 0; k < bufList.size(); ++k) {
    std::optional<at::Tensor> b = bufList.get(k);
    bufs.push_back(b.has_value() ? *b : at::Tensor());
  }
  std::vector<bool> had(bufs.size());
  for (size_t k = 0; k < bufs.size(); ++k) had[k] = bufs[k].defined();
  SGDOptions o;
  o.lr = a.number(2);
  o.momentum = a.number(3, 0);
  o.dampening = a.number(4, 0);
  o.weight_decay = a.number(5, 0);
  o.nesterov = a.boolean(6, false);
  o.maximize = a.boolean(7, false);
  sgdStep(params, bufs, o);
  Napi::Array out = Napi::Array::New(a.env(), bufs.size());
  for (size_t k = 0; k < bufs.size(); ++k) out.Set(k, !had[k] && bufs[k].defined() ? wrap(a.env(), bufs[k]) : a.env().Null());
  return out;
}

// clipGradNorm(params, {maxNorm, normType = 2, errorIfNonfinite = false}) → total norm before clipping
V clipGradNorm(Args& a) {
  const Fields o(a, 1, "clipGradNorm options");
  return Napi::Number::New(a.env(), torch_rlhf::clipGradNorm(a.tensors(0), o.number("maxNorm"), o.number("normType", 2.0),
                                                             o.boolean("errorIfNonfinite", false)));
}

const OpEntry kOps[] = {
    {"adamwStep", adamwStep},
    {"sgdStep", sgdStep},
    {"clipGradNorm", clipGradNorm},
};

}  // namespace

void registerOptimOps(Napi::Env env, Napi::Object exports) { registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0])); }

}  // namespace torch_rlhf
