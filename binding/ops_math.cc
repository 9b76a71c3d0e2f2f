// Elementwise math, reductions, matrix products and torch.nn.functional.
#include <ATen/core/Reduction.h>

#include "binding/args.h"
#include "binding/fields.h"
#include "binding/integer_division.h"
#include "binding/ops.h"
#include "binding/promise_worker.h"
#include "native/attention.h"
#include "native/gelu.h"
#include "native/lm_head_logprobs.h"

namespace torch_rlhf {

namespace {

using V = Napi::Value;

// other is a Tensor or a JS number/boolean (a Python-style scalar).
#define BINARY(NAME, EXPR)               \
  V NAME(Args& a) {                      \
    const at::Tensor& x = a.tensor(0);   \
    if (a.isTensor(1)) {                 \
      const at::Tensor& y = a.tensor(1); \
      return wrap(a.env(), EXPR);        \
    }                                    \
    const at::Scalar y = a.scalar(1);    \
    return wrap(a.env(), EXPR);          \
  }
#define ALPHA (a.missing(2) ? at::Scalar(1) : a.scalar(2))
BINARY(add, at::add(x, y, ALPHA))
BINARY(sub, at::sub(x, y, ALPHA))
BINARY(mul, at::mul(x, y))
BINARY(pow, at::pow(x, y))
BINARY(remainder, at::remainder(x, integer_division::remainderDivisor(x, y)))
BINARY(fmod, at::fmod(x, integer_division::remainderDivisor(x, y)))
BINARY(eq, at::eq(x, y))
BINARY(ne, at::ne(x, y))
BINARY(lt, at::lt(x, y))
BINARY(le, at::le(x, y))
BINARY(gt, at::gt(x, y))
BINARY(ge, at::ge(x, y))
#undef ALPHA
#undef BINARY

V div(Args& a) {  // div(x, y, roundingMode?) with 'trunc' | 'floor'
  const at::Tensor& x = a.tensor(0);
  std::optional<c10::string_view> mode;
  std::string m;
  if (!a.missing(2)) {
    m = a.str(2);
    mode = m;
  }
  // Only a rounded quotient is an integer division; true division computes in floating point.
  if (a.isTensor(1)) {
    if (mode) integer_division::checkQuotient(x, a.tensor(1));
    return wrap(a.env(), at::div(x, a.tensor(1), mode));
  }
  if (mode) integer_division::checkQuotient(x, a.scalar(1));
  return wrap(a.env(), at::div(x, a.scalar(1), mode));
}
V maximum(Args& a) { return wrap(a.env(), at::maximum(a.tensor(0), a.tensor(1))); }
V minimum(Args& a) { return wrap(a.env(), at::minimum(a.tensor(0), a.tensor(1))); }
V logicalAnd(Args& a) { return wrap(a.env(), at::logical_and(a.tensor(0), a.tensor(1))); }
V logicalOr(Args& a) { return wrap(a.env(), at::logical_or(a.tensor(0), a.tensor(1))); }
V logicalXor(Args& a) { return wrap(a.env(), at::logical_xor(a.tensor(0), a.tensor(1))); }
V allclose(Args& a) { return Napi::Boolean::New(a.env(), at::allclose(a.tensor(0), a.tensor(1), a.number(2, 1e-5), a.number(3, 1e-8))); }
V equal(Args& a) { return Napi::Boolean::New(a.env(), at::equal(a.tensor(0), a.tensor(1))); }

// The elementwise functions of one tensor: the one table of them. Each line defines the op and
// registers it under its JS name; the addon also exports the names as `unaryOps`, which a test
// compares with src/native.ts's UNARY_OPS (from which Tensor's methods are made).
#define TORCH_RLHF_UNARY_OPS(X)  \
  X(neg, at::neg)                \
  X(exp, at::exp)                \
  X(log, at::log)                \
  X(log1p, at::log1p)            \
  X(expm1, at::expm1)            \
  X(sqrt, at::sqrt)              \
  X(rsqrt, at::rsqrt)            \
  X(tanh, at::tanh)              \
  X(sigmoid, at::sigmoid)        \
  X(logSigmoid, at::log_sigmoid) \
  X(relu, at::relu)              \
  X(silu, at::silu)              \
  X(abs, at::abs)                \
  X(sign, at::sign)              \
  X(sin, at::sin)                \
  X(cos, at::cos)                \
  X(floor, at::floor)            \
  X(ceil, at::ceil)              \
  X(round, at::round)            \
  X(reciprocal, at::reciprocal)  \
  X(square, at::square)          \
  X(erf, at::erf)                \
  X(logicalNot, at::logical_not) \
  X(isnan, at::isnan)            \
  X(isinf, at::isinf)            \
  X(isfinite, at::isfinite)
#define DEFINE_UNARY(NAME, FN) \
  V NAME(Args& a) { return wrap(a.env(), FN(a.tensor(0))); }
TORCH_RLHF_UNARY_OPS(DEFINE_UNARY)
#undef DEFINE_UNARY

V gelu(Args& a) {  // approximate: 'none' | 'tanh'
  const std::string approx = a.missing(1) ? "none" : a.str(1);
  TORCH_CHECK(approx == "none" || approx == "tanh", "gelu: approximate must be 'none' or 'tanh', got '", approx, "'");
  return wrap(a.env(), approx == "tanh" ? geluTanh(a.tensor(0)) : at::gelu(a.tensor(0), approx));
}
V clamp(Args& a) {
  const at::Tensor& x = a.tensor(0);
  if (a.isTensor(1) || a.isTensor(2)) return wrap(a.env(), at::clamp(x, a.c10OptTensor(1), a.c10OptTensor(2)));
  std::optional<at::Scalar> lo, hi;
  if (!a.missing(1)) lo = a.scalar(1);
  if (!a.missing(2)) hi = a.scalar(2);
  TORCH_CHECK(lo.has_value() || hi.has_value(), "clamp: at least one of min or max must be given");
  return wrap(a.env(), at::clamp(x, lo, hi));
}
V where(Args& a) {
  const at::Tensor& c = a.tensor(0);
  const bool tx = a.isTensor(1), ty = a.isTensor(2);
  if (tx && ty) return wrap(a.env(), at::where(c, a.tensor(1), a.tensor(2)));
  if (tx) return wrap(a.env(), at::where(c, a.tensor(1), a.scalar(2)));
  if (ty) return wrap(a.env(), at::where(c, a.scalar(1), a.tensor(2)));
  return wrap(a.env(), at::where(c, a.scalar(1), a.scalar(2)));
}
V lerp(Args& a) {
  if (a.isTensor(2)) return wrap(a.env(), at::lerp(a.tensor(0), a.tensor(1), a.tensor(2)));
  return wrap(a.env(), at::lerp(a.tensor(0), a.tensor(1), a.scalar(2)));
}

// ---- reductions: (t, dims?, keepdim?, …); no dims reduces everything ----
// sum and mean: (t, dims?, keepdim?, dtype?).
#define DTYPED_REDUCTION(NAME)                                             \
  V NAME(Args& a) {                                                        \
    const at::Tensor& x = a.tensor(0);                                     \
    std::optional<at::ScalarType> dt;                                      \
    if (auto d = a.optDtype(3)) dt = *d;                                   \
    if (a.missing(1)) return wrap(a.env(), at::NAME(x, dt));               \
    return wrap(a.env(), at::NAME(x, a.ints(1), a.boolean(2, false), dt)); \
  }
DTYPED_REDUCTION(sum)
DTYPED_REDUCTION(mean)
#undef DTYPED_REDUCTION
V prod(Args& a) {
  const at::Tensor& x = a.tensor(0);
  if (a.missing(1)) return wrap(a.env(), at::prod(x));
  return wrap(a.env(), at::prod(x, a.int64(1), a.boolean(2, false)));
}
V var(Args& a) {  // var(t, dims?, keepdim?, unbiased?)
  const at::Tensor& x = a.tensor(0);
  const bool unbiased = a.boolean(3, true);
  if (a.missing(1)) return wrap(a.env(), at::var(x, unbiased));
  return wrap(a.env(), at::var(x, at::OptionalIntArrayRef(a.ints(1)), unbiased, a.boolean(2, false)));
}
V std_(Args& a) {
  const at::Tensor& x = a.tensor(0);
  const bool unbiased = a.boolean(3, true);
  if (a.missing(1)) return wrap(a.env(), at::std(x, unbiased));
  return wrap(a.env(), at::std(x, at::OptionalIntArrayRef(a.ints(1)), unbiased, a.boolean(2, false)));
}
V max(Args& a) {  // max(t) → value; max(t, dim, keepdim) → [values, indices]
  if (a.missing(1)) return wrap(a.env(), at::max(a.tensor(0)));
  return wrapTuple(a.env(), at::max(a.tensor(0), a.int64(1), a.boolean(2, false)));
}
V min(Args& a) {
  if (a.missing(1)) return wrap(a.env(), at::min(a.tensor(0)));
  return wrapTuple(a.env(), at::min(a.tensor(0), a.int64(1), a.boolean(2, false)));
}
V amax(Args& a) { return wrap(a.env(), at::amax(a.tensor(0), a.optInts(1).value_or(std::vector<int64_t>{}), a.boolean(2, false))); }
V amin(Args& a) { return wrap(a.env(), at::amin(a.tensor(0), a.optInts(1).value_or(std::vector<int64_t>{}), a.boolean(2, false))); }
V argmax(Args& a) {
  std::optional<int64_t> dim;
  if (!a.missing(1)) dim = a.int64(1);
  return wrap(a.env(), at::argmax(a.tensor(0), dim, a.boolean(2, false)));
}
V argmin(Args& a) {
  std::optional<int64_t> dim;
  if (!a.missing(1)) dim = a.int64(1);
  return wrap(a.env(), at::argmin(a.tensor(0), dim, a.boolean(2, false)));
}
V logsumexp(Args& a) {
  const at::Tensor& x = a.tensor(0);
  std::vector<int64_t> dims = a.missing(1) ? std::vector<int64_t>{} : a.ints(1);
  if (dims.empty())  // all dimensions
    for (int64_t d = 0; d < x.dim(); ++d) dims.push_back(d);
  return wrap(a.env(), at::logsumexp(x, dims, a.boolean(2, false)));
}
V norm(Args& a) {  // norm(t, p, dims?, keepdim?)
  const at::Tensor& x = a.tensor(0);
  const at::Scalar p = a.missing(1) ? at::Scalar(2.0) : at::Scalar(a.number(1));
  if (a.missing(2)) return wrap(a.env(), at::norm(x, p));
  return wrap(a.env(), at::norm(x, p, a.ints(2), a.boolean(3, false)));
}
V all(Args& a) {
  if (a.missing(1)) return wrap(a.env(), at::all(a.tensor(0)));
  return wrap(a.env(), at::all(a.tensor(0), a.int64(1), a.boolean(2, false)));
}
V any(Args& a) {
  if (a.missing(1)) return wrap(a.env(), at::any(a.tensor(0)));
  return wrap(a.env(), at::any(a.tensor(0), a.int64(1), a.boolean(2, false)));
}
V cumsum(Args& a) {
  std::optional<at::ScalarType> dt;
  if (auto d = a.optDtype(2)) dt = *d;
  return wrap(a.env(), at::cumsum(a.tensor(0), a.int64(1), dt));
}
V softmax(Args& a) {
  std::optional<at::ScalarType> dt;
  if (auto d = a.optDtype(2)) dt = *d;
  return wrap(a.env(), at::softmax(a.tensor(0), a.int64(1), dt));
}
V logSoftmax(Args& a) {
  std::optional<at::ScalarType> dt;
  if (auto d = a.optDtype(2)) dt = *d;
  return wrap(a.env(), at::log_softmax(a.tensor(0), a.int64(1), dt));
}

// ---- products ----
V matmul(Args& a) { return wrap(a.env(), at::matmul(a.tensor(0), a.tensor(1))); }
V bmm(Args& a) { return wrap(a.env(), at::bmm(a.tensor(0), a.tensor(1))); }
V mm(Args& a) { return wrap(a.env(), at::mm(a.tensor(0), a.tensor(1))); }
V outer(Args& a) { return wrap(a.env(), at::outer(a.tensor(0), a.tensor(1))); }
V einsum(Args& a) { return wrap(a.env(), at::einsum(a.str(0), a.tensors(1))); }

// ---- torch.nn.functional ----
int64_t reduction(const std::string& r) {
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  if (r == "none") return at::Reduction::None;
  TORCH_CHECK(false, "reduction must be 'mean', 'sum' or 'none', got '", r, "'");
}
V linear(Args& a) { return wrap(a.env(), at::linear(a.tensor(0), a.tensor(1), a.c10OptTensor(2))); }
V embedding(Args& a) {  // embedding(weight, indices, paddingIdx?)
  return wrap(a.env(), at::embedding(a.tensor(0), a.tensor(1), a.int64(2, -1)));
}
V layerNorm(Args& a) {  // layerNorm(x, normalizedShape, {weight?, bias?, eps = 1e-5})
  const Fields o(a, 2, "layerNorm options");
  std::optional<at::Tensor> weight, bias;
  if (o.has("weight")) weight = o.tensor("weight");
  if (o.has("bias")) bias = o.tensor("bias");
  return wrap(a.env(), at::layer_norm(a.tensor(0), a.ints(1), weight, bias, o.number("eps", 1e-5)));
}
V rmsNorm(Args& a) {  // rmsNorm(x, normalizedShape, weight?, eps)
  return wrap(a.env(), at::rms_norm(a.tensor(0), a.ints(1), a.c10OptTensor(2), a.number(3, 1e-6)));
}
V dropout(Args& a) { return wrap(a.env(), at::dropout(a.tensor(0), a.number(1, 0.5), a.boolean(2, true))); }
V crossEntropy(Args& a) {  // crossEntropy(input, target, {weight?, reduction?, ignoreIndex?, labelSmoothing?})
  const Fields o(a, 2, "crossEntropy options");
  return wrap(a.env(), at::cross_entropy_loss(a.tensor(0), a.tensor(1), o.optTensor("weight"), reduction(o.str("reduction", "mean")),
                                              o.int64("ignoreIndex", -100), o.number("labelSmoothing", 0.0)));
}
// lmHeadLogprobs(hidden (N, C), weight (V, C), targets (N), {temperature?, chunkSize?, ignoreIndex?, entropy?, argmax?,
// logitSum?}) → [logprobs, entropy | null, argmax | null, logitSum | null] (native/lm_head_logprobs.h);
// lmHeadLogprobsAsync: the same on the compute thread → Promise (binding/promise_worker.h).
V lmHeadLogprobsOp(Args& a, bool later) {
  const Fields f(a, 3, "lmHeadLogprobs options");
  LMHeadLogprobsOptions o;
  o.temperature = f.number("temperature", 1.0);
  o.chunk_size = f.int64("chunkSize", 0);
  o.ignore_index = f.int64("ignoreIndex", -100);
  o.entropy = f.boolean("entropy", false);
  o.argmax = f.boolean("argmax", false);
  o.logit_sum = f.boolean("logitSum", false);
  return computeNowOrLater<LMHeadLogprobsOutput>(
      a.env(), later, "lmHeadLogprobs",
      [h = a.tensor(0), w = a.tensor(1), t = a.tensor(2), o] { return torch_rlhf::lmHeadLogprobs(h, w, t, o); },
      [](Napi::Env env, const LMHeadLogprobsOutput& out) {
        return wrapAll(env, {out.logprobs, out.entropy, out.argmax, out.logit_sum});
      });
}
V lmHeadLogprobs(Args& a) { return lmHeadLogprobsOp(a, false); }
V lmHeadLogprobsAsync(Args& a) { return lmHeadLogprobsOp(a, true); }
V mseLoss(Args& a) { return wrap(a.env(), at::mse_loss(a.tensor(0), a.tensor(1), reduction(a.missing(2) ? "mean" : a.str(2)))); }
// scaledDotProductAttention(q, k, v, {attnMask?, dropoutP?, isCausal?, scale?, training?, reference?, enableGqa?})
V scaledDotProductAttention(Args& a) {
  const Fields o(a, 3, "scaledDotProductAttention options");
  auto fn = o.boolean("reference", false) ? scaledDotProductAttentionReference : torch_rlhf::scaledDotProductAttention;
  std::optional<at::Tensor> mask;
  if (o.has("attnMask")) mask = o.tensor("attnMask");
  std::optional<double> scale;
  if (o.has("scale")) scale = o.number("scale");
  return wrap(a.env(), fn(a.tensor(0), a.tensor(1), a.tensor(2), mask, o.number("dropoutP", 0.0), o.boolean("isCausal", false), scale,
                          o.boolean("training", true), o.boolean("enableGqa", false)));
}

const OpEntry kOps[] = {
    {"add", add},
    {"sub", sub},
    {"mul", mul},
    {"div", div},
    {"pow", pow},
    {"remainder", remainder},
    {"fmod", fmod},
    {"eq", eq},
    {"ne", ne},
    {"lt", lt},
    {"le", le},
    {"gt", gt},
    {"ge", ge},
    {"maximum", maximum},
    {"minimum", minimum},
    {"logicalAnd", logicalAnd},
    {"logicalOr", logicalOr},
    {"logicalXor", logicalXor},
    {"allclose", allclose},
    {"equal", equal},
#define UNARY_ENTRY(NAME, FN) {#NAME, NAME},
    TORCH_RLHF_UNARY_OPS(UNARY_ENTRY)
#undef UNARY_ENTRY
        {"gelu", gelu},
    {"clamp", clamp},
    {"where", where},
    {"lerp", lerp},
    {"sum", sum},
    {"mean", mean},
    {"prod", prod},
    {"var", var},
    {"std", std_},
    {"max", max},
    {"min", min},
    {"amax", amax},
    {"amin", amin},
    {"argmax", argmax},
    {"argmin", argmin},
    {"logsumexp", logsumexp},
    {"norm", norm},
    {"all", all},
    {"any", any},
    {"cumsum", cumsum},
    {"softmax", softmax},
    {"logSoftmax", logSoftmax},
    {"matmul", matmul},
    {"bmm", bmm},
    {"mm", mm},
    {"outer", outer},
    {"einsum", einsum},
    {"linear", linear},
    {"embedding", embedding},
    {"layerNorm", layerNorm},
    {"rmsNorm", rmsNorm},
    {"dropout", dropout},
    {"crossEntropy", crossEntropy},
    {"lmHeadLogprobs", lmHeadLogprobs},
    {"lmHeadLogprobsAsync", lmHeadLogprobsAsync},
    {"mseLoss", mseLoss},
    {"scaledDotProductAttention", scaledDotProductAttention},
};

}  // namespace

void registerMathOps(Napi::Env env, Napi::Object exports) {
  registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0]));
#define UNARY_NAME(NAME, FN) #NAME,
  const char* const unary[] = {TORCH_RLHF_UNARY_OPS(UNARY_NAME)};
#undef UNARY_NAME
  Napi::Array names = Napi::Array::New(env, sizeof(unary) / sizeof(unary[0]));
  for (uint32_t i = 0; i < names.Length(); ++i) names.Set(i, Napi::String::New(env, unary[i]));
  exports.Set("unaryOps", names);
}

}  // namespace torch_rlhf
