// Tensor creation, reading, views, indexing, in-place updates and autograd entry points.
#include <torch/csrc/autograd/function.h>

#include <cstring>

#include "binding/args.h"
#include "binding/ops.h"
#include "binding/promise_worker.h"

namespace torch_rlhf {

namespace {

using V = Napi::Value;

at::TensorOptions opts(const Args& a, size_t dtype_i, size_t device_i, at::ScalarType dflt = at::kFloat) {
  auto o = at::TensorOptions().dtype(a.optDtype(dtype_i).value_or(dflt));
  if (!a.missing(device_i)) o = o.device(a.device(device_i));
  return o;
}

// Typed array kind → the dtype of its elements.
at::ScalarType typedArrayDtype(const Args& a, size_t i) {
  if (i >= a.size() || !a[i].IsTypedArray()) a.fail(i, "a TypedArray");
  switch (a[i].As<Napi::TypedArray>().TypedArrayType()) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int32_array: return at::kInt;
    case napi_bigint64_array: return at::kLong;
    case napi_uint8_array:
    case napi_uint8_clamped_array: return at::kByte;
    case napi_int8_array: return at::kChar;
    case napi_int16_array: return at::kShort;
    default: a.fail(i, "a Float32Array, Float64Array, Int32Array, BigInt64Array, Int16Array, Int8Array or Uint8Array");
  }
}

// fromBuffer(typedArray, shape, srcDtype?, dtype?, device?): copies the elements; srcDtype
// reinterprets the bytes (e.g. float16 bits read from a file).
V fromBuffer(Args& a) {
  const at::ScalarType natural = typedArrayDtype(a, 0);
  const auto arr = a[0].As<Napi::TypedArray>();
  const auto shape = a.ints(1);
  const at::ScalarType src = a.optDtype(2).value_or(natural);
  const size_t bytes = arr.ByteLength();
  const size_t elem = c10::elementSize(src);
  int64_t numel = 1;
  for (auto d : shape) {
    TORCH_CHECK(d >= 0, "tensor: negative dimension ", d);
    numel *= d;
  }
  TORCH_CHECK(bytes % elem == 0 && static_cast<int64_t>(bytes / elem) == numel, "tensor: ", bytes / elem, " values do not fill shape ",
              at::IntArrayRef(shape), " (", numel, " values)");
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(src));
  if (bytes > 0) {
    const auto* base = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    if (src == at::kBool)  // any other byte is undefined behaviour for libtorch's bool kernels
      for (size_t k = 0; k < bytes; ++k) TORCH_CHECK(base[k] <= 1, "tensor: bool data must be bytes 0 or 1, got ", int(base[k]));
    std::memcpy(t.data_ptr(), base, bytes);
  }
  const at::ScalarType dst = a.optDtype(3).value_or(src);
  if (!a.missing(4)) return wrap(a.env(), t.to(a.device(4), dst));
  return wrap(a.env(), dst == src ? t : t.to(dst));
}

// A flat copy of the elements in a typed array; half types widen to float32, bool to uint8.
V toBuffer(Args& a) {
  at::Tensor t = a.tensor(0).detach();
  const bool raw = a.boolean(1, false);  // raw bytes of the tensor's own dtype, as a Uint8Array
  if (!raw && (t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16)) t = t.to(at::kFloat);
  t = t.to(at::kCPU).contiguous();
  const size_t bytes = t.numel() * t.element_size();
  auto buf = Napi::ArrayBuffer::New(a.env(), bytes);
  if (bytes > 0) std::memcpy(buf.Data(), t.data_ptr(), bytes);
  const size_t n = raw ? bytes : t.numel();
  if (raw) return Napi::Uint8Array::New(a.env(), n, buf, 0);
  switch (t.scalar_type()) {
    case at::kFloat: return Napi::Float32Array::New(a.env(), n, buf, 0);
    case at::kDouble: return Napi::Float64Array::New(a.env(), n, buf, 0);
    case at::kInt: return Napi::Int32Array::New(a.env(), n, buf, 0);
    case at::kLong: return Napi::BigInt64Array::New(a.env(), n, buf, 0);
    case at::kShort: return Napi::Int16Array::New(a.env(), n, buf, 0);
    case at::kChar: return Napi::Int8Array::New(a.env(), n, buf, 0);
    case at::kByte:
    case at::kBool: return Napi::Uint8Array::New(a.env(), n, buf, 0);
    default: TORCH_CHECK(false, "toTypedArray: unsupported dtype ", t.scalar_type());
  }
}

V item(Args& a) {
  const at::Tensor& t = a.tensor(0);
  TORCH_CHECK(t.numel() == 1, "a Tensor with ", t.numel(), " elements cannot be converted to a number");
  const at::Scalar s = t.item();
  if (s.isBoolean()) return Napi::Boolean::New(a.env(), s.toBool());
  if (s.isIntegral(false)) return Napi::Number::New(a.env(), static_cast<double>(s.toLong()));
  return Napi::Number::New(a.env(), s.toDouble());
}

V shape(Args& a) {
  const auto sizes = a.tensor(0).sizes();
  Napi::Array out = Napi::Array::New(a.env(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) out.Set(i, Napi::Number::New(a.env(), static_cast<double>(sizes[i])));
  return out;
}

V info(Args& a) {  // everything a Tensor's getters need, in one call
  const at::Tensor& t = a.tensor(0);
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("dtype", dtypeName(t.scalar_type()));
  o.Set("device", deviceName(t.device()));
  o.Set("requiresGrad", t.requires_grad());
  o.Set("isLeaf", t.is_leaf());
  o.Set("gradFn", t.grad_fn() ? Napi::Value(Napi::String::New(a.env(), t.grad_fn()->name())) : a.env().Null());
  return o;
}

V dtype(Args& a) { return Napi::String::New(a.env(), dtypeName(a.tensor(0).scalar_type())); }
V device(Args& a) { return Napi::String::New(a.env(), deviceName(a.tensor(0).device())); }
V numel(Args& a) { return Napi::Number::New(a.env(), static_cast<double>(a.tensor(0).numel())); }

V dispose(Args& a) {
  if (!TensorHandle::IsHandle(a[0])) a.fail(0, "a Tensor handle");
  TensorHandle::Dispose(a[0]);
  return a.env().Undefined();
}
V isDisposed(Args& a) {
  if (!TensorHandle::IsHandle(a[0])) a.fail(0, "a Tensor handle");
  return Napi::Boolean::New(a.env(), TensorHandle::IsDisposed(a[0]));
}

// ---- factories ----
V zeros(Args& a) { return wrap(a.env(), at::zeros(a.ints(0), opts(a, 1, 2))); }
V ones(Args& a) { return wrap(a.env(), at::ones(a.ints(0), opts(a, 1, 2))); }
V empty(Args& a) { return wrap(a.env(), at::empty(a.ints(0), opts(a, 1, 2))); }
V full(Args& a) { return wrap(a.env(), at::full(a.ints(0), a.scalar(1), opts(a, 2, 3))); }
V arange(Args& a) { return wrap(a.env(), at::arange(a.scalar(0), a.scalar(1), a.scalar(2), opts(a, 3, 4))); }
V eye(Args& a) { return wrap(a.env(), at::eye(a.int64(0), a.int64(1), opts(a, 2, 3))); }
V rand(Args& a) { return wrap(a.env(), at::rand(a.ints(0), opts(a, 1, 2))); }
V randn(Args& a) { return wrap(a.env(), at::randn(a.ints(0), opts(a, 1, 2))); }
V randint(Args& a) { return wrap(a.env(), at::randint(a.int64(0), a.int64(1), a.ints(2), opts(a, 3, 4, at::kLong))); }
V randperm(Args& a) { return wrap(a.env(), at::randperm(a.int64(0), opts(a, 1, 2, at::kLong))); }

// ---- conversion and copies ----
V to(Args& a) {  // to(t, dtype?, device?, copy?)
  const at::Tensor& t = a.tensor(0);
  const auto dt = a.optDtype(1).value_or(t.scalar_type());
  const auto dev = a.missing(2) ? t.device() : a.device(2);
  return wrap(a.env(), t.to(dev, dt, /*non_blocking=*/false, /*copy=*/a.boolean(3, false)));
}
V clone(Args& a) { return wrap(a.env(), a.tensor(0).clone()); }
V detach(Args& a) { return wrap(a.env(), a.tensor(0).detach()); }
V contiguous(Args& a) { return wrap(a.env(), a.tensor(0).contiguous()); }
V alias(Args& a) { return wrap(a.env(), a.tensor(0)); }  // a second handle to the same tensor

// ---- views and shape ----
V view(Args& a) { return wrap(a.env(), a.tensor(0).view(a.ints(1))); }
V reshape(Args& a) { return wrap(a.env(), a.tensor(0).reshape(a.ints(1))); }
V permute(Args& a) { return wrap(a.env(), a.tensor(0).permute(a.ints(1))); }
V transpose(Args& a) { return wrap(a.env(), a.tensor(0).transpose(a.int64(1), a.int64(2))); }
V unsqueeze(Args& a) { return wrap(a.env(), a.tensor(0).unsqueeze(a.int64(1))); }
V squeeze(Args& a) {
  if (a.missing(1)) return wrap(a.env(), a.tensor(0).squeeze());
  return wrap(a.env(), a.tensor(0).squeeze(a.int64(1)));
}
V flatten(Args& a) { return wrap(a.env(), a.tensor(0).flatten(a.int64(1, 0), a.int64(2, -1))); }
V expand(Args& a) { return wrap(a.env(), a.tensor(0).expand(a.ints(1))); }
V repeat(Args& a) { return wrap(a.env(), a.tensor(0).repeat(a.ints(1))); }
V split(Args& a) {  // split(t, size | sizes, dim)
  const at::Tensor& t = a.tensor(0);
  const int64_t dim = a.int64(2, 0);
  if (a[1].IsNumber()) return wrapAll(a.env(), t.split(a.int64(1), dim));
  return wrapAll(a.env(), t.split_with_sizes(a.ints(1), dim));
}
V chunk(Args& a) { return wrapAll(a.env(), a.tensor(0).chunk(a.int64(1), a.int64(2, 0))); }
V cat(Args& a) { return wrap(a.env(), at::cat(a.tensors(0), a.int64(1, 0))); }
V stack(Args& a) { return wrap(a.env(), at::stack(a.tensors(0), a.int64(1, 0))); }
V narrow(Args& a) { return wrap(a.env(), a.tensor(0).narrow(a.int64(1), a.int64(2), a.int64(3))); }
V select(Args& a) { return wrap(a.env(), a.tensor(0).select(a.int64(1), a.int64(2))); }
V slice(Args& a) {  // slice(t, dim, start?, end?, step)
  std::optional<int64_t> start, end;
  if (!a.missing(2)) start = a.int64(2);
  if (!a.missing(3)) end = a.int64(3);
  return wrap(a.env(), a.tensor(0).slice(a.int64(1), start, end, a.int64(4, 1)));
}
V flip(Args& a) { return wrap(a.env(), a.tensor(0).flip(a.ints(1))); }

// ---- indexing ----
V index(Args& a) { return wrap(a.env(), a.tensor(0).index(a.optTensorList(1))); }
V indexPut_(Args& a) {
  const at::Tensor& t = a.tensor(0);
  if (a.isTensor(2)) t.index_put_(a.optTensorList(1), a.tensor(2), a.boolean(3, false));
  else t.index_put_(a.optTensorList(1), at::scalar_tensor(a.scalar(2), t.options()), a.boolean(3, false));
  return a[0];
}
V indexSelect(Args& a) { return wrap(a.env(), a.tensor(0).index_select(a.int64(1), a.tensor(2))); }
V gather(Args& a) { return wrap(a.env(), a.tensor(0).gather(a.int64(1), a.tensor(2))); }
V scatter(Args& a) {
  const at::Tensor& t = a.tensor(0);
  if (a.isTensor(3)) return wrap(a.env(), t.scatter(a.int64(1), a.tensor(2), a.tensor(3)));
  return wrap(a.env(), t.scatter(a.int64(1), a.tensor(2), a.scalar(3)));
}
V scatterAdd(Args& a) { return wrap(a.env(), a.tensor(0).scatter_add(a.int64(1), a.tensor(2), a.tensor(3))); }
V maskedFill(Args& a) {
  const at::Tensor& t = a.tensor(0);
  if (a.isTensor(2)) return wrap(a.env(), t.masked_fill(a.tensor(1), a.tensor(2)));
  return wrap(a.env(), t.masked_fill(a.tensor(1), a.scalar(2)));
}
V maskedSelect(Args& a) { return wrap(a.env(), a.tensor(0).masked_select(a.tensor(1))); }
V tril(Args& a) { return wrap(a.env(), a.tensor(0).tril(a.int64(1, 0))); }
V triu(Args& a) { return wrap(a.env(), a.tensor(0).triu(a.int64(1, 0))); }
V topk(Args& a) { return wrapTuple(a.env(), a.tensor(0).topk(a.int64(1), a.int64(2, -1), a.boolean(3, true), a.boolean(4, true))); }
V sort(Args& a) { return wrapTuple(a.env(), a.tensor(0).sort(/*stable=*/a.boolean(3, false), a.int64(1, -1), a.boolean(2, false))); }
V argsort(Args& a) { return wrap(a.env(), a.tensor(0).argsort(a.int64(1, -1), a.boolean(2, false))); }
V multinomial(Args& a) { return wrap(a.env(), a.tensor(0).multinomial(a.int64(1), a.boolean(2, false))); }
V nonzero(Args& a) { return wrap(a.env(), a.tensor(0).nonzero()); }

// ---- in place ----
V copy_(Args& a) {
  a.tensor(0).copy_(a.tensor(1));
  return a[0];
}
V zero_(Args& a) {
  a.tensor(0).zero_();
  return a[0];
}
V fill_(Args& a) {
  if (a.isTensor(1)) a.tensor(0).fill_(a.tensor(1));
  else a.tensor(0).fill_(a.scalar(1));
  return a[0];
}
#define INPLACE_BINARY(NAME, CALL)          \
  V NAME(Args& a) {                         \
    const at::Tensor& t = a.tensor(0);      \
    if (a.isTensor(1)) t.CALL(a.tensor(1)); \
    else t.CALL(a.scalar(1));               \
    return a[0];                            \
  }
// add_ and sub_ take torch's alpha (the other operand's multiplier) as a third argument.
#define INPLACE_BINARY_ALPHA(NAME, CALL)                                 \
  V NAME(Args& a) {                                                      \
    const at::Tensor& t = a.tensor(0);                                   \
    const at::Scalar alpha = a.missing(2) ? at::Scalar(1) : a.scalar(2); \
    if (a.isTensor(1)) t.CALL(a.tensor(1), alpha);                       \
    else t.CALL(a.scalar(1), alpha);                                     \
    return a[0];                                                         \
  }
INPLACE_BINARY_ALPHA(add_, add_)
INPLACE_BINARY_ALPHA(sub_, sub_)
INPLACE_BINARY(mul_, mul_)
INPLACE_BINARY(div_, div_)
INPLACE_BINARY(pow_, pow_)
#undef INPLACE_BINARY
#undef INPLACE_BINARY_ALPHA
V clamp_(Args& a) {
  std::optional<at::Scalar> lo, hi;
  if (!a.missing(1)) lo = a.scalar(1);
  if (!a.missing(2)) hi = a.scalar(2);
  a.tensor(0).clamp_(lo, hi);
  return a[0];
}
V maskedFill_(Args& a) {
  if (a.isTensor(2)) a.tensor(0).masked_fill_(a.tensor(1), a.tensor(2));
  else a.tensor(0).masked_fill_(a.tensor(1), a.scalar(2));
  return a[0];
}
V uniform_(Args& a) {
  a.tensor(0).uniform_(a.number(1, 0), a.number(2, 1));
  return a[0];
}
V normal_(Args& a) {
  a.tensor(0).normal_(a.number(1, 0), a.number(2, 1));
  return a[0];
}

// ---- autograd ----
// backward(t, grad?, retainGraph?, createGraph?); backwardAsync: the same on the compute thread →
// Promise (binding/promise_worker.h). The graph's saved tensors are libtorch's, so JS may drop
// its handles of intermediates meanwhile.
V backwardOp(Args& a, bool later) {
  const at::Tensor t = a.tensor(0);
  at::Tensor grad = a.missing(1) ? at::Tensor() : a.tensor(1);
  std::optional<bool> retain;
  if (!a.missing(2)) retain = a.boolean(2);
  const bool create = a.boolean(3, false);
  return computeNowOrLater<bool>(
      a.env(), later, "backward",
      [t, grad, retain, create] {
        t.backward(grad, retain, create);
        return true;
      },
      [](Napi::Env env, const bool&) { return env.Undefined(); });
}
V backward(Args& a) { return backwardOp(a, false); }
V backwardAsync(Args& a) { return backwardOp(a, true); }
V grad(Args& a) { return wrap(a.env(), a.tensor(0).grad()); }
// The grad as a new handle, unless `cached` already refers to it (→ undefined). Lets the JS
// Tensor keep one owned handle for .grad instead of a new one per access.
V gradIfChanged(Args& a) {
  const at::Tensor& g = a.tensor(0).grad();
  if (!g.defined()) return a.env().Null();
  if (a.isTensor(1) && a.tensor(1).unsafeGetTensorImpl() == g.unsafeGetTensorImpl()) return a.env().Undefined();
  return wrap(a.env(), g);
}
V setGrad(Args& a) {
  const at::Tensor& t = a.tensor(0);
  if (a.missing(1)) {
    t.mutable_grad() = at::Tensor();
    return a.env().Undefined();
  }
  const at::Tensor& g = a.tensor(1);
  // The checks PyTorch's `.grad =` setter makes: a mismatched grad would corrupt later steps.
  TORCH_CHECK(g.sizes() == t.sizes(), "assigned grad has data of a different size: ", g.sizes(), " vs ", t.sizes());
  TORCH_CHECK(g.scalar_type() == t.scalar_type(), "assigned grad has data of a different type: ", g.scalar_type(), " vs ", t.scalar_type());
  TORCH_CHECK(g.device() == t.device(), "assigned grad has data located on a different device");
  t.mutable_grad() = g;
  return a.env().Undefined();
}
V setRequiresGrad(Args& a) {
  a.tensor(0).requires_grad_(a.boolean(1, true));
  return a[0];
}
V retainGrad(Args& a) {
  a.tensor(0).retain_grad();
  return a.env().Undefined();
}
V setGradEnabled(Args& a) {
  const bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(a.boolean(0, true));
  return Napi::Boolean::New(a.env(), prev);
}
V isGradEnabled(Args& a) { return Napi::Boolean::New(a.env(), at::GradMode::is_enabled()); }

const OpEntry kOps[] = {
    {"fromBuffer", fromBuffer},
    {"toBuffer", toBuffer},
    {"item", item},
    {"shape", shape},
    {"info", info},
    {"dtype", dtype},
    {"device", device},
    {"numel", numel},
    {"dispose", dispose},
    {"isDisposed", isDisposed},
    {"zeros", zeros},
    {"ones", ones},
    {"empty", empty},
    {"full", full},
    {"arange", arange},
    {"eye", eye},
    {"rand", rand},
    {"randn", randn},
    {"randint", randint},
    {"randperm", randperm},
    {"to", to},
    {"clone", clone},
    {"detach", detach},
    {"contiguous", contiguous},
    {"alias", alias},
    {"view", view},
    {"reshape", reshape},
    {"permute", permute},
    {"transpose", transpose},
    {"unsqueeze", unsqueeze},
    {"squeeze", squeeze},
    {"flatten", flatten},
    {"expand", expand},
    {"repeat", repeat},
    {"split", split},
    {"chunk", chunk},
    {"cat", cat},
    {"stack", stack},
    {"narrow", narrow},
    {"select", select},
    {"slice", slice},
    {"flip", flip},
    {"index", index},
    {"indexPut_", indexPut_},
    {"indexSelect", indexSelect},
    {"gather", gather},
    {"scatter", scatter},
    {"scatterAdd", scatterAdd},
    {"maskedFill", maskedFill},
    {"maskedSelect", maskedSelect},
    {"tril", tril},
    {"triu", triu},
    {"topk", topk},
    {"sort", sort},
    {"argsort", argsort},
    {"multinomial", multinomial},
    {"nonzero", nonzero},
    {"copy_", copy_},
    {"zero_", zero_},
    {"fill_", fill_},
    {"add_", add_},
    {"sub_", sub_},
    {"mul_", mul_},
    {"div_", div_},
    {"pow_", pow_},
    {"clamp_", clamp_},
    {"maskedFill_", maskedFill_},
    {"uniform_", uniform_},
    {"normal_", normal_},
    {"backward", backward},
    {"backwardAsync", backwardAsync},
    {"grad", grad},
    {"gradIfChanged", gradIfChanged},
    {"setGrad", setGrad},
    {"setRequiresGrad", setRequiresGrad},
    {"retainGrad", retainGrad},
    {"setGradEnabled", setGradEnabled},
    {"isGradEnabled", isGradEnabled},
};

}  // namespace

void registerTensorOps(Napi::Env env, Napi::Object exports) { registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0])); }

}  // namespace torch_rlhf
