// Argument conversion for the op table: JS values → libtorch values, with errors that name
// the op and the argument. No model logic lives here.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "binding/handle.h"
#include "native/types.h"

namespace torch_rlhf {

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

  Napi::Env env() const { return info_.Env(); }
  size_t size() const { return info_.Length(); }
  Napi::Value operator[](size_t i) const { return info_[i]; }
  bool missing(size_t i) const { return i >= info_.Length() || info_[i].IsUndefined() || info_[i].IsNull(); }
  bool isTensor(size_t i) const { return i < info_.Length() && TensorHandle::IsHandle(info_[i]); }

  const at::Tensor& tensor(size_t i) const { return TensorHandle::Get(info_[i], what(i)); }
  std::optional<at::Tensor> optTensor(size_t i) const {
    if (missing(i)) return std::nullopt;
    return tensor(i);
  }
  std::optional<at::Tensor> c10OptTensor(size_t i) const {
    if (missing(i)) return std::nullopt;
    return tensor(i);
  }

  double number(size_t i) const {
    if (i >= info_.Length() || !info_[i].IsNumber()) fail(i, "a number");
    return info_[i].As<Napi::Number>().DoubleValue();
  }
  double number(size_t i, double dflt) const { return missing(i) ? dflt : number(i); }
  std::optional<double> optNumber(size_t i) const {
    if (missing(i)) return std::nullopt;
    return number(i);
  }

  int64_t int64(size_t i) const {
    const double v = number(i);
    if (!isInt(v)) fail(i, "an integer");
    return static_cast<int64_t>(v);
  }
  // Exactly representable integers only (also keeps the double → int64 cast defined).
  static bool isInt(double v) { return std::isfinite(v) && std::abs(v) <= 9.007199254740992e15 && v == std::trunc(v); }
  int64_t int64(size_t i, int64_t dflt) const { return missing(i) ? dflt : int64(i); }
  std::optional<int64_t> optInt(size_t i) const {
    if (missing(i)) return std::nullopt;
    return int64(i);
  }

  bool boolean(size_t i, bool dflt = false) const {
    if (missing(i)) return dflt;
    if (!info_[i].IsBoolean()) fail(i, "a boolean");
    return info_[i].As<Napi::Boolean>().Value();
  }

  std::string str(size_t i) const {
    if (i >= info_.Length() || !info_[i].IsString()) fail(i, "a string");
    return info_[i].As<Napi::String>().Utf8Value();
  }

  // A JS number becomes an integral Scalar when it holds an integer, as Python's int would,
  // so int tensors stay int under `t.add(1)` and float tensors keep their dtype.
  at::Scalar scalar(size_t i) const {
    if (i < info_.Length() && info_[i].IsBoolean()) return at::Scalar(info_[i].As<Napi::Boolean>().Value());
    const double v = number(i);
    if (isInt(v)) return at::Scalar(static_cast<int64_t>(v));
    return at::Scalar(v);
  }
  std::optional<at::Scalar> optScalar(size_t i) const {
    if (missing(i)) return std::nullopt;
    return scalar(i);
  }

  // An integer array (or a single integer, as PyTorch accepts for dims).
  std::vector<int64_t> ints(size_t i) const {
    if (i < info_.Length() && info_[i].IsNumber()) return {int64(i)};
    if (i >= info_.Length() || !info_[i].IsArray()) fail(i, "an array of integers");
    Napi::Array a = info_[i].As<Napi::Array>();
    std::vector<int64_t> out(a.Length());
    for (uint32_t k = 0; k < a.Length(); ++k) {
      Napi::Value v = a.Get(k);
      if (!v.IsNumber()) fail(i, "an array of integers");
      const double d = v.As<Napi::Number>().DoubleValue();
      if (!isInt(d)) fail(i, "an array of integers");
      out[k] = static_cast<int64_t>(d);
    }
    return out;
  }
  std::optional<std::vector<int64_t>> optInts(size_t i) const {
    if (missing(i)) return std::nullopt;
    return ints(i);
  }

  std::vector<at::Tensor> tensors(size_t i) const {
    if (i >= info_.Length() || !info_[i].IsArray()) fail(i, "an array of Tensors");
    Napi::Array a = info_[i].As<Napi::Array>();
    std::vector<at::Tensor> out;
    out.reserve(a.Length());
    for (uint32_t k = 0; k < a.Length(); ++k) out.push_back(TensorHandle::Get(a.Get(k), what(i) + "[" + std::to_string(k) + "]"));
    return out;
  }
  // An array whose entries are Tensors or null (for advanced indexing).
  c10::List<std::optional<at::Tensor>> optTensorList(size_t i) const {
    if (i >= info_.Length() || !info_[i].IsArray()) fail(i, "an array of Tensors or nulls");
    Napi::Array a = info_[i].As<Napi::Array>();
    c10::List<std::optional<at::Tensor>> out;
    for (uint32_t k = 0; k < a.Length(); ++k) {
      Napi::Value v = a.Get(k);
      if (v.IsNull() || v.IsUndefined()) out.push_back(std::nullopt);
      else out.push_back(TensorHandle::Get(v, what(i) + "[" + std::to_string(k) + "]"));
    }
    return out;
  }

  at::ScalarType dtype(size_t i) const {
    return convert(i, [](const std::string& s) { return parseDtype(s); });
  }
  std::optional<at::ScalarType> optDtype(size_t i) const {
    if (missing(i)) return std::nullopt;
    return dtype(i);
  }
  at::Device device(size_t i) const {
    return convert(i, [](const std::string& s) { return parseDevice(s); });
  }

  [[noreturn]] void fail(size_t i, const std::string& expected) const {
    throw Napi::TypeError::New(info_.Env(), what(i) + " must be " + expected);
  }

 private:
  std::string what(size_t i) const { return std::string(op_) + ": argument " + std::to_string(i + 1); }
  template <typename F>
  auto convert(size_t i, F f) const -> decltype(f(std::string())) {
    const std::string s = str(i);
    try {
      return f(s);
    } catch (const std::invalid_argument& e) {
      throw Napi::TypeError::New(info_.Env(), std::string(op_) + ": " + e.what());
    }
  }
  const Napi::CallbackInfo& info_;
  const char* op_;
};

inline Napi::Value wrap(Napi::Env env, const at::Tensor& t) {
  if (!t.defined()) return env.Null();
  return TensorHandle::Wrap(env, t);
}
inline Napi::Value wrapAll(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t k = 0; k < ts.size(); ++k) a.Set(k, wrap(env, ts[k]));
  return a;
}
template <typename... T>
inline Napi::Value wrapTuple(Napi::Env env, const std::tuple<T...>& t) {
  return wrapAll(env, std::apply([](const auto&... x) { return std::vector<at::Tensor>{x...}; }, t));
}

// One entry of the op table: a name and a function. The dispatcher maps libtorch's errors to
// JS errors with libtorch's message and no C++ backtrace.
using OpFn = Napi::Value (*)(Args&);
struct OpEntry {
  const char* name;
  OpFn fn;
};
void registerOps(Napi::Env env, Napi::Object exports, const OpEntry* ops, size_t n);

}  // namespace torch_rlhf
