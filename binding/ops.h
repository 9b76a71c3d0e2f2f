// Each ops_*.cc file registers its part of the op table on the addon's exports.
#pragma once
#include <napi.h>

namespace trl {
void registerTensorOps(Napi::Env env, Napi::Object exports);
void registerMathOps(Napi::Env env, Napi::Object exports);
void registerSystemOps(Napi::Env env, Napi::Object exports);
void registerModelOps(Napi::Env env, Napi::Object exports);
void registerDistOps(Napi::Env env, Napi::Object exports);
}  // namespace trl
