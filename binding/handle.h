// The JS handle of one at::Tensor reference, and the live-tensor accounting behind
// torch.memory(). A handle owns exactly one reference; dispose() drops it, the finalizer
// is only the safety net.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include <string>
#include <vector>

namespace trl {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Wrap(Napi::Env env, at::Tensor t);
  static bool IsHandle(Napi::Value v);
  // The tensor behind a handle; throws a JS TypeError if v is not a handle, an Error if it
  // was disposed. `what` names the argument in the message.
  static const at::Tensor& Get(Napi::Value v, const std::string& what);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  void Dispose(Napi::Env env);
  bool disposed() const { return !tensor_.defined(); }
  const at::Tensor& tensor() const { return tensor_; }

 private:
  void Adopt(Napi::Env env, at::Tensor t);
  at::Tensor tensor_;
  int64_t bytes_ = 0;
  int device_slot_ = 0;
  static Napi::FunctionReference* constructor_;
};

// Live handles and the bytes of storage they hold, per device ("cpu", "cuda:0", …).
struct DeviceMemory {
  std::string device;
  int64_t tensors = 0;
  int64_t bytes = 0;
};
std::vector<DeviceMemory> liveMemory();

}  // namespace trl
