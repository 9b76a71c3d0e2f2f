#include "binding/args.h"

namespace torch_rlhf {

namespace {

Napi::Value Dispatch(const Napi::CallbackInfo& info) {
  const auto* entry = static_cast<const OpEntry*>(info.Data());
  Napi::Env env = info.Env();
  Args args(info, entry->name);
  try {
    return entry->fn(args);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::IndexError& e) {
    throw Napi::RangeError::New(env, std::string(e.what_without_backtrace()));
  } catch (const c10::TypeError& e) {
    throw Napi::TypeError::New(env, std::string(e.what_without_backtrace()));
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, std::string(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, std::string(entry->name) + ": out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string(entry->name) + ": " + e.what());
  }
}

}  // namespace

void registerOps(Napi::Env env, Napi::Object exports, const OpEntry* ops, size_t n) {
  for (size_t i = 0; i < n; ++i) exports.Set(ops[i].name, Napi::Function::New(env, Dispatch, ops[i].name, const_cast<OpEntry*>(&ops[i])));
}

}  // namespace torch_rlhf
