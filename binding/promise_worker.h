// One way to run blocking work off the JS thread and hand back a Promise, for every entry point
// that does (generation, which then waits for the compute thread; joining a process group and
// waiting for a collective, which block on the network). The job runs on a libuv worker; `settle`
// makes the resolved value on the JS thread. Both functions, and with them every native reference
// they captured (weights, prompts, outputs, groups), are dropped on the JS thread as soon as the
// Promise settles, not whenever the worker object happens to be deleted.
#pragma once
#include <ATen/ThreadLocalState.h>
#include <c10/util/Exception.h>
#include <napi.h>

#include <memory>

#include <exception>
#include <functional>
#include <string>
#include <utility>

#include "native/compute_thread.h"

namespace torch_rlhf {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  // `what` prefixes the message of an error that is not libtorch's own ("generate: …").
  PromiseWorker(Napi::Env env, const char* name, const char* what, std::function<void()> job, std::function<Napi::Value(Napi::Env)> settle)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        what_(what),
        job_(std::move(job)),
        settle_(std::move(settle)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      job_();
    } catch (const c10::Error& e) {
      SetError(e.what_without_backtrace());
    } catch (const std::exception& e) {
      SetError(what_ + ": " + e.what());
    }
  }
  void OnOK() override {
    Napi::Value v = settle_(Env());
    release();
    deferred_.Resolve(v);
  }
  void OnError(const Napi::Error& e) override {
    release();
    deferred_.Reject(e.Value());
  }

 private:
  void release() {
    job_ = nullptr;
    settle_ = nullptr;
  }
  Napi::Promise::Deferred deferred_;
  std::string what_;
  std::function<void()> job_;
  std::function<Napi::Value(Napi::Env)> settle_;
};

// Queues `job` and returns the Promise that `settle` resolves (or the job's error rejects).
inline Napi::Value queuePromise(Napi::Env env, const char* name, const char* what, std::function<void()> job,
                                std::function<Napi::Value(Napi::Env)> settle) {
  auto* w = new PromiseWorker(env, name, what, std::move(job), std::move(settle));
  Napi::Promise p = w->promise();
  w->Queue();  // the worker deletes itself after OnOK/OnError
  return p;
}

// One entry point, two ways to run it (the training step's ops: "gptBlock" and "gptBlockAsync"):
// `compute` runs here and `settle` makes its value, or, with `later`, `compute` runs as a job on the
// compute thread with its whole team (native/compute_thread.h) and a Promise settles. The job carries
// the calling thread's libtorch state (grad mode, autocast, inference mode), as autograd's own
// threads do, so that it records the graph that the same call made here would. Arguments are read
// before: `compute` touches no JS value.
template <class R>
Napi::Value computeNowOrLater(Napi::Env env, bool later, const char* what, std::function<R()> compute,
                              std::function<Napi::Value(Napi::Env, const R&)> settle) {
  if (!later) return settle(env, compute());
  auto out = std::make_shared<R>();
  auto state = std::make_shared<at::ThreadLocalState>();
  return queuePromise(
      env, "torch-rlhf:train", what,
      [compute = std::move(compute), out, state] {
        runOnComputeThread(
            [&] {
              at::ThreadLocalStateGuard guard(*state);
              *out = compute();
            },
            ComputeTeam::kFull);
      },
      [out, settle = std::move(settle)](Napi::Env e) { return settle(e, *out); });
}

}  // namespace torch_rlhf
