// Each ops_*.cc file registers its part of the op table on the addon's exports (binding/addon.cc).
#pragma once
#include <napi.h>

namespace torch_rlhf {
void registerTensorOps(Napi::Env env, Napi::Object exports);
void registerMathOps(Napi::Env env, Napi::Object exports);
void registerRuntimeOps(Napi::Env env, Napi::Object exports);
void registerOptimOps(Napi::Env env, Napi::Object exports);
void registerModelOps(Napi::Env env, Napi::Object exports);
void registerDistOps(Napi::Env env, Napi::Object exports);
// Once, before any op runs: the caching CPU allocator and the thread pools' sizes.
void initRuntime();
}  // namespace torch_rlhf
