#include "binding/handle.h"

#include <mutex>
#include <unordered_map>

namespace torch_rlhf {

namespace {
constexpr napi_type_tag kHandleTag = {0x7a3c1f0e5b2d4c91ULL, 0x8e6f0a4b3c2d1e5fULL};
// Slot 0 is the CPU, slot 1 + i is cuda:i.
constexpr int kMaxSlots = 65;

// Handles per storage, so that a storage's bytes count (and are reported to V8) once however
// many views of it have handles: 1e5 handles from split(1) reported 4e10 bytes for 400 KB and
// made V8 collect garbage after almost every one of them.
struct StorageUse {
  int64_t handles = 0;
  int64_t bytes = 0;
};

struct Accounts {
  std::mutex mutex;
  int64_t tensors[kMaxSlots] = {};
  int64_t bytes[kMaxSlots] = {};
  std::unordered_map<const c10::StorageImpl*, StorageUse> storages;
};
Accounts& accounts() {
  static Accounts* a = new Accounts();  // never destroyed: finalizers may run at exit
  return *a;
}

int slotOf(const at::Tensor& t) {
  const auto d = t.device();
  if (d.is_cuda()) return 1 + std::max<int>(0, std::min<int>(d.index(), kMaxSlots - 2));
  return 0;
}

// The native half of one handle. It keeps the storage it was counted under, so that the
// count is undone against the same storage even if the tensor's storage changed meanwhile.
struct Record {
  at::Tensor tensor;
  c10::Storage storage;   // undefined for tensors without storage
  int64_t own_bytes = 0;  // bytes of a tensor without storage
  int slot = 0;
};

// Counts a new handle; returns the bytes that became live (0 for another view of a storage).
int64_t adopt(Record& r) {
  Accounts& a = accounts();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.tensors[r.slot] += 1;
  int64_t added = 0;
  if (r.storage) {
    StorageUse& use = a.storages[r.storage.unsafeGetStorageImpl()];
    if (use.handles++ == 0) added = use.bytes = static_cast<int64_t>(r.storage.nbytes());
  } else {
    added = r.own_bytes;
  }
  a.bytes[r.slot] += added;
  return added;
}

// Undoes adopt(); returns the bytes no longer live.
int64_t release(Record& r) {
  Accounts& a = accounts();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.tensors[r.slot] -= 1;
  int64_t removed = r.own_bytes;
  if (r.storage) {
    auto it = a.storages.find(r.storage.unsafeGetStorageImpl());
    if (--it->second.handles == 0) {
      removed = it->second.bytes;
      a.storages.erase(it);
    }
  }
  a.bytes[r.slot] -= removed;
  return removed;
}

// Let V8's GC feel the native memory handles keep alive (CPU only: GPU memory is not its heap).
void reportToV8(napi_env env, const Record& r, int64_t bytes) {
  int64_t ignored;
  if (r.slot == 0 && bytes != 0) napi_adjust_external_memory(env, bytes, &ignored);
}

void destroy(napi_env env, Record* r) {
  reportToV8(env, *r, -release(*r));
  delete r;
}

void finalize(napi_env env, void* data, void* /*hint*/) { destroy(env, static_cast<Record*>(data)); }

bool tagged(napi_env env, napi_value v) {
  bool result = false;
  return napi_check_object_type_tag(env, v, &kHandleTag, &result) == napi_ok && result;
}

Record* recordOf(napi_env env, napi_value v) {
  void* data = nullptr;
  if (napi_unwrap(env, v, &data) != napi_ok) {
    // A disposed handle has no wrap; napi_unwrap's failure leaves an error to clear.
    const napi_extended_error_info* ignored;
    napi_get_last_error_info(env, &ignored);
    return nullptr;
  }
  return static_cast<Record*>(data);
}
}  // namespace

std::vector<DeviceMemory> liveMemory() {
  Accounts& a = accounts();
  std::lock_guard<std::mutex> lock(a.mutex);
  std::vector<DeviceMemory> out;
  for (int s = 0; s < kMaxSlots; ++s) {
    if (s > 0 && a.tensors[s] == 0 && a.bytes[s] == 0) continue;
    out.push_back({s == 0 ? "cpu" : "cuda:" + std::to_string(s - 1), a.tensors[s], a.bytes[s]});
  }
  return out;
}

namespace TensorHandle {

void Init(Napi::Env /*env*/, Napi::Object /*exports*/) { accounts(); }

Napi::Object Wrap(Napi::Env env, at::Tensor t) {
  auto* r = new Record();
  r->slot = slotOf(t);
  if (t.has_storage()) r->storage = t.storage();
  else r->own_bytes = t.numel() * static_cast<int64_t>(t.element_size());
  r->tensor = std::move(t);
  reportToV8(env, *r, adopt(*r));
  Napi::Object obj = Napi::Object::New(env);
  obj.TypeTag(&kHandleTag);
  // No napi_ref is kept (the last argument): the reference is the runtime's, and
  // napi_remove_wrap in Dispose deletes it at once.
  const napi_status status = napi_wrap(env, obj, r, finalize, nullptr, nullptr);
  if (status != napi_ok) {
    destroy(env, r);
    NAPI_THROW_IF_FAILED(env, status, obj);
  }
  return obj;
}

bool IsHandle(Napi::Value v) { return v.IsObject() && tagged(v.Env(), v); }

const at::Tensor& Get(Napi::Value v, const std::string& what) {
  if (!IsHandle(v)) throw Napi::TypeError::New(v.Env(), what + " must be a Tensor");
  Record* r = recordOf(v.Env(), v);
  if (!r) throw Napi::Error::New(v.Env(), what + " is a disposed Tensor");
  return r->tensor;
}

void Dispose(Napi::Value handle) {
  void* data = nullptr;
  if (recordOf(handle.Env(), handle) == nullptr) return;
  if (napi_remove_wrap(handle.Env(), handle, &data) == napi_ok) destroy(handle.Env(), static_cast<Record*>(data));
}

bool IsDisposed(Napi::Value handle) { return recordOf(handle.Env(), handle) == nullptr; }

}  // namespace TensorHandle

}  // namespace torch_rlhf
