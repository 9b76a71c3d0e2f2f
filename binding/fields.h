// Named fields of a JS options object, for ops that take their options by name rather than
// by position; each read names the object and the field in its error.
#pragma once
#include <napi.h>

#include <string>
#include <utility>
#include <vector>

#include "binding/args.h"

namespace torch_rlhf {

// Named fields of a JS object; each read names the object and the field in its error.
class Fields {
 public:
  Fields(const Args& a, size_t i, const char* what) : what_(what) {
    if (a.missing(i) || !a[i].IsObject()) a.fail(i, std::string("an object of ") + what);
    obj_ = a[i].As<Napi::Object>();
  }
  // A nested object, named in errors by its path (e.g. "gpt weights.blocks[3]").
  Fields(Napi::Object obj, std::string what) : what_(std::move(what)), obj_(obj) {}
  bool has(const char* k) const {
    const Napi::Value v = obj_.Get(k);
    return !v.IsUndefined() && !v.IsNull();
  }
  double number(const char* k) const {
    const Napi::Value v = obj_.Get(k);
    if (!v.IsNumber()) fail(k, "a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  double number(const char* k, double dflt) const { return has(k) ? number(k) : dflt; }
  int64_t int64(const char* k) const {
    const double v = number(k);
    if (!Args::isInt(v)) fail(k, "an integer");
    return static_cast<int64_t>(v);
  }
  int64_t int64(const char* k, int64_t dflt) const { return has(k) ? int64(k) : dflt; }
  std::string str(const char* k) const {
    const Napi::Value v = obj_.Get(k);
    if (!v.IsString()) fail(k, "a string");
    return v.As<Napi::String>().Utf8Value();
  }
  std::string str(const char* k, const std::string& dflt) const { return has(k) ? str(k) : dflt; }
  bool boolean(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    const Napi::Value v = obj_.Get(k);
    if (!v.IsBoolean()) fail(k, "a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  // An array of non-negative integers (absent: empty).
  std::vector<int64_t> ints(const char* k) const {
    std::vector<int64_t> out;
    if (!has(k)) return out;
    const Napi::Value v = obj_.Get(k);
    if (!v.IsArray()) fail(k, "an array of integers");
    const Napi::Array arr = v.As<Napi::Array>();
    for (uint32_t j = 0; j < arr.Length(); ++j) {
      const Napi::Value e = arr.Get(j);
      if (!e.IsNumber() || !Args::isInt(e.As<Napi::Number>().DoubleValue()) || e.As<Napi::Number>().DoubleValue() < 0)
        fail(k, "an array of non-negative integers");
      out.push_back(static_cast<int64_t>(e.As<Napi::Number>().DoubleValue()));
    }
    return out;
  }
  at::Tensor tensor(const char* k) const { return TensorHandle::Get(obj_.Get(k), what_ + "." + k); }
  // A tensor that may be absent or null (an undefined at::Tensor then), as a missing bias.
  at::Tensor optTensor(const char* k) const { return has(k) ? tensor(k) : at::Tensor(); }
  Fields object(const char* k) const {
    const Napi::Value v = obj_.Get(k);
    if (!v.IsObject()) fail(k, "an object");
    return Fields(v.As<Napi::Object>(), what_ + "." + k);
  }
  // An array of objects, each read by name.
  std::vector<Fields> objects(const char* k) const {
    const Napi::Value v = obj_.Get(k);
    if (!v.IsArray()) fail(k, "an array of objects");
    const Napi::Array arr = v.As<Napi::Array>();
    std::vector<Fields> out;
    out.reserve(arr.Length());
    for (uint32_t j = 0; j < arr.Length(); ++j) {
      const Napi::Value e = arr.Get(j);
      const std::string where = what_ + "." + k + "[" + std::to_string(j) + "]";
      if (!e.IsObject()) throw Napi::TypeError::New(obj_.Env(), where + " must be an object");
      out.emplace_back(e.As<Napi::Object>(), where);
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const char* k, const char* expected) const {
    throw Napi::TypeError::New(obj_.Env(), what_ + "." + k + " must be " + expected);
  }
  std::string what_;
  Napi::Object obj_;
};

}  // namespace torch_rlhf
