// The JS handle of one at::Tensor reference, and the live-tensor accounting behind
// torch.memory(). A handle is a plain, type-tagged JS object wrapping a small native record
// that owns exactly one reference. dispose() drops the reference and unwraps the object at
// once, so that nothing native waits for finalization: Node runs Node-API finalizers only
// when the event loop gets a turn, and a loop that never yields (a user's training loop)
// would otherwise pile up every disposed handle's record. The finalizer is only the safety
// net for handles never disposed.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include <string>
#include <vector>

namespace torch_rlhf {

namespace TensorHandle {
void Init(Napi::Env env, Napi::Object exports);
Napi::Object Wrap(Napi::Env env, at::Tensor t);
bool IsHandle(Napi::Value v);
// The tensor behind a handle; throws a JS TypeError if v is not a handle, an Error if it
// was disposed. `what` names the argument in the message.
const at::Tensor& Get(Napi::Value v, const std::string& what);
// Drops the handle's reference and frees its native record; a no-op when already disposed.
void Dispose(Napi::Value handle);
bool IsDisposed(Napi::Value handle);
}  // namespace TensorHandle

// Live handles and the bytes of storage they hold, per device ("cpu", "cuda:0", …). A storage
// shared by several handles (views, splits) counts once.
struct DeviceMemory {
  std::string device;
  int64_t tensors = 0;
  int64_t bytes = 0;
};
std::vector<DeviceMemory> liveMemory();

}  // namespace torch_rlhf
