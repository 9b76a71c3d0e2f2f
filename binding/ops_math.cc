// Elementwise math, reductions, matrix products and torch.nn.functional.
#include <ATen/core/Reduction.h>

#include "binding/args.h"
#include "binding/integer_division.h"
#include "binding/ops.h"
#include "native/attention.h"
#include "native/gelu.h"

namespace trl {

namespace {

using V = Napi::Value;

// other is a Tensor or a JS number/boolean (a Python-style scalar).
#define BINARY(NAME, EXPR)                                        \
  V NAME(Args& a) {                                               \
    const at::Tensor& x = a.tensor(0);                            \
    if (a.isTensor(1)) {                                          \
      const at::Tensor& y = a.tensor(1);                          \
      return wrap(a.env(), EXPR);                                 \
    }                                                             \
    const at::Scalar y = a.scalar(1);                             \
    return wrap(a.env(), EXPR);                                   \
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
V allclose(Args& a) {
  return Napi::Boolean::New(a.env(), at::allclose(a.tensor(0), a.tensor(1), a.number(2, 1e-5), a.number(3, 1e-8)));
}
V equal(Args& a) { return Napi::Boolean::New(a.env(), at::equal(a.tensor(0), a.tensor(1))); }

#define UNARY(NAME, FN) \
  V NAME(Args& a) { return wrap(a.env(), FN(a.tensor(0))); }
UNARY(neg, at::neg)
UNARY(exp, at::exp)
UNARY(log, at::log)
UNARY(log1p, at::log1p)
UNARY(expm1, at::expm1)
UNARY(sqrt, at::sqrt)
UNARY(rsqrt, at::rsqrt)
UNARY(tanh, at::tanh)
UNARY(sigmoid, at::sigmoid)
UNARY(logSigmoid, at::log_sigmoid)
UNARY(relu, at::relu)
UNARY(silu, at::silu)
UNARY(abs, at::abs)
UNARY(sign, at::sign)
UNARY(sin, at::sin)
UNARY(cos, at::cos)
UNARY(floor, at::floor)
UNARY(ceil, at::ceil)
UNARY(round, at::round)
UNARY(reciprocal, at::reciprocal)
UNARY(square, at::square)
UNARY(erf, at::erf)
UNARY(logicalNot, at::logical_not)
UNARY(isnan, at::isnan)
UNARY(isinf, at::isinf)
UNARY(isfinite, at::isfinite)
#undef UNARY

V gelu(Args& a) {  // approximate: 'none' | 'tanh'
  const std::string approx = a.missing(1) ? "none" : a.str(1);
  TORCH_CHECK(approx == "none" || approx == "tanh", "gelu: approximate must be 'none' or 'tanh', got '", approx, "'");
  return wrap(a.env(), approx == "tanh" ? geluTanh(a.tensor(0)) : at::gelu(a.tensor(0), approx));
}
V clamp(Args& a) {
  const at::Tensor& x = a.tensor(0);
  if (a.isTensor(1) || a.isTensor(2))
    return wrap(a.env(), at::clamp(x, a.c10OptTensor(1), a.c10OptTensor(2)));
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
V sum(Args& a) {
  const at::Tensor& x = a.tensor(0);
  std::optional<at::ScalarType> dt;
  if (auto d = a.optDtype(3)) dt = *d;
  if (a.missing(1)) return wrap(a.env(), at::sum(x, dt));
  return wrap(a.env(), at::sum(x, a.ints(1), a.boolean(2, false), dt));
}
V mean(Args& a) {
  const at::Tensor& x = a.tensor(0);
  std::optional<at::ScalarType> dt;
  if (auto d = a.optDtype(3)) dt = *d;
  if (a.missing(1)) return wrap(a.env(), at::mean(x, dt));
  return wrap(a.env(), at::mean(x, a.ints(1), a.boolean(2, false), dt));
}
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
int64_t reduction(const Args& a, size_t i) {
  const std::string r = a.missing(i) ? "mean" : a.str(i);
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  if (r == "none") return at::Reduction::None;
  TORCH_CHECK(false, "reduction must be 'mean', 'sum' or 'none', got '", r, "'");
}
V linear(Args& a) { return wrap(a.env(), at::linear(a.tensor(0), a.tensor(1), a.c10OptTensor(2))); }
V embedding(Args& a) {  // embedding(weight, indices, paddingIdx?)
  return wrap(a.env(), at::embedding(a.tensor(0), a.tensor(1), a.int64(2, -1)));
}
V layerNorm(Args& a) {  // layerNorm(x, normalizedShape, weight?, bias?, eps)
  return wrap(a.env(), at::layer_norm(a.tensor(0), a.ints(1), a.c10OptTensor(2), a.c10OptTensor(3), a.number(4, 1e-5)));
}
V rmsNorm(Args& a) {  // rmsNorm(x, normalizedShape, weight?, eps)
  return wrap(a.env(), at::rms_norm(a.tensor(0), a.ints(1), a.c10OptTensor(2), a.number(3, 1e-6)));
}
V dropout(Args& a) { return wrap(a.env(), at::dropout(a.tensor(0), a.number(1, 0.5), a.boolean(2, true))); }
V crossEntropy(Args& a) {  // crossEntropy(input, target, weight?, reduction?, ignoreIndex?, labelSmoothing?)
  return wrap(a.env(), at::cross_entropy_loss(a.tensor(0), a.tensor(1), a.c10OptTensor(2), reduction(a, 3),
                                              a.int64(4, -100), a.number(5, 0.0)));
}
V mseLoss(Args& a) { return wrap(a.env(), at::mse_loss(a.tensor(0), a.tensor(1), reduction(a, 2))); }
V scaledDotProductAttention(Args& a) {  // (q, k, v, mask?, dropoutP, isCausal, scale?, train, reference?, enableGqa?)
  auto fn = a.boolean(8, false) ? scaledDotProductAttentionReference : trl::scaledDotProductAttention;
  return wrap(a.env(), fn(a.tensor(0), a.tensor(1), a.tensor(2), a.optTensor(3), a.number(4, 0.0),
                          a.boolean(5, false), a.optNumber(6), a.boolean(7, true), a.boolean(9, false)));
}

const OpEntry kOps[] = {
    {"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}, {"pow", pow}, {"remainder", remainder},
    {"fmod", fmod}, {"eq", eq}, {"ne", ne}, {"lt", lt}, {"le", le}, {"gt", gt}, {"ge", ge},
    {"maximum", maximum}, {"minimum", minimum}, {"logicalAnd", logicalAnd}, {"logicalOr", logicalOr},
    {"logicalXor", logicalXor}, {"allclose", allclose}, {"equal", equal},
    {"neg", neg}, {"exp", exp}, {"log", log}, {"log1p", log1p}, {"expm1", expm1}, {"sqrt", sqrt},
    {"rsqrt", rsqrt}, {"tanh", tanh}, {"sigmoid", sigmoid}, {"logSigmoid", logSigmoid}, {"relu", relu},
    {"silu", silu}, {"abs", abs}, {"sign", sign}, {"sin", sin}, {"cos", cos}, {"floor", floor},
    {"ceil", ceil}, {"round", round}, {"reciprocal", reciprocal}, {"square", square}, {"erf", erf},
    {"logicalNot", logicalNot}, {"isnan", isnan}, {"isinf", isinf}, {"isfinite", isfinite},
    {"gelu", gelu}, {"clamp", clamp}, {"where", where}, {"lerp", lerp},
    {"sum", sum}, {"mean", mean}, {"prod", prod}, {"var", var}, {"std", std_}, {"max", max}, {"min", min},
    {"amax", amax}, {"amin", amin}, {"argmax", argmax}, {"argmin", argmin}, {"logsumexp", logsumexp},
    {"norm", norm}, {"all", all}, {"any", any}, {"cumsum", cumsum}, {"softmax", softmax},
    {"logSoftmax", logSoftmax},
    {"matmul", matmul}, {"bmm", bmm}, {"mm", mm}, {"outer", outer}, {"einsum", einsum},
    {"linear", linear}, {"embedding", embedding}, {"layerNorm", layerNorm}, {"rmsNorm", rmsNorm}, {"dropout", dropout},
    {"crossEntropy", crossEntropy}, {"mseLoss", mseLoss},
    {"scaledDotProductAttention", scaledDotProductAttention},
};

}  // namespace

void registerMathOps(Napi::Env env, Napi::Object exports) {
  registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0]));
}

}  // namespace trl
