#include "binding/handle.h"

#include "native/types.h"

#include <mutex>

namespace trl {

Napi::FunctionReference* TensorHandle::constructor_ = nullptr;

namespace {
constexpr napi_type_tag kHandleTag = {0x7a3c1f0e5b2d4c91ULL, 0x8e6f0a4b3c2d1e5fULL};
// Slot 0 is the CPU, slot 1 + i is cuda:i.
constexpr int kMaxSlots = 65;
int64_t g_tensors[kMaxSlots] = {};
int64_t g_bytes[kMaxSlots] = {};
std::mutex g_mutex;

int slotOf(const at::Tensor& t) {
  const auto d = t.device();
  if (d.is_cuda()) return 1 + std::max<int>(0, std::min<int>(d.index(), kMaxSlots - 2));
  return 0;
}

int64_t storageBytes(const at::Tensor& t) {
  if (t.has_storage()) return static_cast<int64_t>(t.storage().nbytes());
  return t.numel() * static_cast<int64_t>(t.element_size());
}
}  // namespace

std::vector<DeviceMemory> liveMemory() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::vector<DeviceMemory> out;
  for (int s = 0; s < kMaxSlots; ++s) {
    if (s > 0 && g_tensors[s] == 0 && g_bytes[s] == 0) continue;
    out.push_back({s == 0 ? "cpu" : "cuda:" + std::to_string(s - 1), g_tensors[s], g_bytes[s]});
  }
  return out;
}

void TensorHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "TensorHandle", {});
  constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("TensorHandle", ctor);
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}

TensorHandle::~TensorHandle() {
  // Finalizer path: the JS object was collected without dispose(). Env() is still valid here.
  if (tensor_.defined()) Dispose(Env());
}

void TensorHandle::Adopt(Napi::Env env, at::Tensor t) {
  tensor_ = std::move(t);
  bytes_ = storageBytes(tensor_);
  device_slot_ = slotOf(tensor_);
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_tensors[device_slot_] += 1;
    g_bytes[device_slot_] += bytes_;
  }
  // Let V8's GC feel the native memory it keeps alive (CPU only: GPU memory is not its heap).
  if (device_slot_ == 0 && bytes_ > 0) Napi::MemoryManagement::AdjustExternalMemory(env, bytes_);
}

void TensorHandle::Dispose(Napi::Env env) {
  if (!tensor_.defined()) return;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_tensors[device_slot_] -= 1;
    g_bytes[device_slot_] -= bytes_;
  }
  if (device_slot_ == 0 && bytes_ > 0) Napi::MemoryManagement::AdjustExternalMemory(env, -bytes_);
  tensor_ = at::Tensor();
  bytes_ = 0;
}

Napi::Object TensorHandle::Wrap(Napi::Env env, at::Tensor t) {
  Napi::Object obj = constructor_->New({});
  obj.TypeTag(&kHandleTag);
  Napi::ObjectWrap<TensorHandle>::Unwrap(obj)->Adopt(env, std::move(t));
  return obj;
}

bool TensorHandle::IsHandle(Napi::Value v) {
  // A type tag check is a pointer comparison, cheaper than instanceof on every argument.
  return v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&kHandleTag);
}

const at::Tensor& TensorHandle::Get(Napi::Value v, const std::string& what) {
  if (!IsHandle(v)) throw Napi::TypeError::New(v.Env(), what + " must be a Tensor");
  TensorHandle* h = Napi::ObjectWrap<TensorHandle>::Unwrap(v.As<Napi::Object>());
  if (h->disposed()) throw Napi::Error::New(v.Env(), what + " is a disposed Tensor");
  return h->tensor();
}

}  // namespace trl
