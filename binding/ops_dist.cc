// The process-group entry points (native/c10d.h): joining a group and waiting for a collective
// block on the network, so both run on a libuv worker and settle a Promise; starting a
// collective only enqueues it on the backend's own threads and returns a work handle at once.
// Neither uses the compute thread: a collective in flight never holds up generation. Groups and
// works are type-tagged JS objects that own one shared reference to the native object.
#include "binding/args.h"
#include "binding/fields.h"
#include "binding/ops.h"
#include "binding/promise_worker.h"
#include "native/c10d.h"

#include <functional>
#include <memory>

namespace torch_rlhf {

namespace {

using V = Napi::Value;

constexpr napi_type_tag kGroupTag = {0x3d1b7c5e9a2f4e01ULL, 0xb6c84d2e7f1a9c35ULL};
constexpr napi_type_tag kWorkTag = {0x5e2a9c1d7b3f4a02ULL, 0xc7d95e3f8a2b0d46ULL};

template <typename T>
Napi::Object wrapShared(Napi::Env env, std::shared_ptr<T> p, const napi_type_tag& tag) {
  Napi::Object o = Napi::Object::New(env);
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, o, &tag), o);
  auto* holder = new std::shared_ptr<T>(std::move(p));
  const napi_status st = napi_wrap(
      env, o, holder, [](napi_env, void* data, void*) { delete static_cast<std::shared_ptr<T>*>(data); }, nullptr, nullptr);
  if (st != napi_ok) {
    delete holder;
    NAPI_THROW_IF_FAILED(env, st, o);
  }
  return o;
}

template <typename T>
std::shared_ptr<T> unwrapShared(const Args& a, size_t i, const napi_type_tag& tag, const char* what) {
  bool ok = false;
  if (!a.missing(i) && a[i].IsObject()) napi_check_object_type_tag(a.env(), a[i], &tag, &ok);
  if (!ok) a.fail(i, what);
  void* data = nullptr;
  NAPI_THROW_IF_FAILED(a.env(), napi_unwrap(a.env(), a[i], &data), nullptr);
  return *static_cast<std::shared_ptr<T>*>(data);
}

std::shared_ptr<dist::Group> group(const Args& a) { return unwrapShared<dist::Group>(a, 0, kGroupTag, "a process group"); }

// Blocking network work on a libuv worker (binding/promise_worker.h).
V queue(Napi::Env env, const char* name, std::function<void()> job, std::function<V(Napi::Env)> settle) {
  return queuePromise(env, name, "distributed", std::move(job), std::move(settle));
}

std::chrono::milliseconds millis(const Fields& f, const char* k, std::chrono::milliseconds dflt) {
  if (!f.has(k)) return dflt;
  const int64_t v = f.int64(k);
  TORCH_CHECK(v > 0, "distributed: ", k, " must be a positive number of milliseconds, got ", v);
  return std::chrono::milliseconds(v);
}

// distInit({masterAddr, masterPort, rank, worldSize, backend, hostStore, prefix, timeoutMs,
//           joinTimeoutMs, heartbeatMs, glooInterface}) → Promise<group>
V distInit(Args& a) {
  const Fields f(a, 0, "process group options");
  dist::GroupOptions o;
  o.master_addr = f.str("masterAddr", o.master_addr);
  o.master_port = f.int64("masterPort", o.master_port);
  o.rank = f.int64("rank", o.rank);
  o.world_size = f.int64("worldSize", o.world_size);
  o.backend = f.str("backend", o.backend);
  o.host_store = f.boolean("hostStore", o.host_store);
  o.prefix = f.str("prefix", o.prefix);
  o.timeout = millis(f, "timeoutMs", o.timeout);
  o.join_timeout = millis(f, "joinTimeoutMs", o.join_timeout);
  o.heartbeat = millis(f, "heartbeatMs", o.heartbeat);
  o.gloo_interface = f.str("glooInterface", "");
  auto out = std::make_shared<std::shared_ptr<dist::Group>>();
  return queue(
      a.env(), "torch-rlhf:distInit", [o, out] { *out = dist::initGroup(o); },
      [out](Napi::Env env) -> V { return wrapShared(env, *out, kGroupTag); });
}

dist::ReduceOp reduceOp(const std::string& s) {
  if (s == "sum") return dist::ReduceOp::Sum;
  if (s == "avg") return dist::ReduceOp::Avg;
  if (s == "max") return dist::ReduceOp::Max;
  if (s == "min") return dist::ReduceOp::Min;
  if (s == "product") return dist::ReduceOp::Product;
  TORCH_CHECK(false, "allReduce: op must be 'sum', 'avg', 'max', 'min' or 'product', got '", s, "'");
}

// distAllReduce(group, tensor, {op}) → work
V distAllReduce(Args& a) {
  const auto g = group(a);
  const Fields f(a, 2, "allReduce options");
  return wrapShared(a.env(), dist::allReduce(g, a.tensor(1), reduceOp(f.str("op", "sum"))), kWorkTag);
}
// distBroadcast(group, tensor, {root}) → work
V distBroadcast(Args& a) {
  const auto g = group(a);
  const Fields f(a, 2, "broadcast options");
  return wrapShared(a.env(), dist::broadcast(g, a.tensor(1), f.int64("root", 0)), kWorkTag);
}
// distAllGather(group, tensor) → work (its wait resolves with one tensor per rank)
V distAllGather(Args& a) { return wrapShared(a.env(), dist::allGather(group(a), a.tensor(1)), kWorkTag); }
// distBarrier(group) → work
V distBarrier(Args& a) { return wrapShared(a.env(), dist::barrier(group(a)), kWorkTag); }

// distWait(work) → Promise<Tensor[]> (allGather's outputs; empty for the others)
V distWait(Args& a) {
  auto w = unwrapShared<dist::Work>(a, 0, kWorkTag, "a distributed work");
  auto out = std::make_shared<std::vector<at::Tensor>>();
  return queue(
      a.env(), "torch-rlhf:distWait", [w, out] { *out = dist::wait(*w); }, [out](Napi::Env env) -> V { return wrapAll(env, *out); });
}

// distInfo(group) → {rank, worldSize, backend}
V distInfo(Args& a) {
  const auto g = group(a);
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("rank", static_cast<double>(dist::rank(*g)));
  o.Set("worldSize", static_cast<double>(dist::worldSize(*g)));
  o.Set("backend", dist::backendName(*g));
  return o;
}

// distDestroy(group): stops the heartbeat and closes the connections.
V distDestroy(Args& a) {
  dist::destroy(*group(a));
  return a.env().Undefined();
}

const OpEntry kOps[] = {
    {"distInit", distInit},       {"distAllReduce", distAllReduce}, {"distBroadcast", distBroadcast}, {"distAllGather", distAllGather},
    {"distBarrier", distBarrier}, {"distWait", distWait},           {"distInfo", distInfo},           {"distDestroy", distDestroy},
};

}  // namespace

void registerDistOps(Napi::Env env, Napi::Object exports) { registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0])); }

}  // namespace torch_rlhf
