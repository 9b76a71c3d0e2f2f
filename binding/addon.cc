// The addon's entry point: the process-wide setup (binding/ops_runtime.cc: initRuntime), then every
// ops_*.cc file's part of the op table on the exports.
#include "binding/handle.h"
#include "binding/ops.h"

namespace torch_rlhf {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  initRuntime();
  TensorHandle::Init(env, exports);
  registerTensorOps(env, exports);
  registerMathOps(env, exports);
  registerRuntimeOps(env, exports);
  registerOptimOps(env, exports);
  registerModelOps(env, exports);
  registerDistOps(env, exports);
  return exports;
}

}  // namespace torch_rlhf

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return torch_rlhf::Init(env, exports); }
NODE_API_MODULE(torch_rlhf, InitAddon)
