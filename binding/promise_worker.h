// One way to run blocking work off the JS thread and hand back a Promise, for every entry point
// that does (generation, which then waits for the compute thread; joining a process group and
// waiting for a collective, which block on the network). The job runs on a libuv worker; `settle`
// makes the resolved value on the JS thread. Both functions, and with them every native reference
// they captured (weights, prompts, outputs, groups), are dropped on the JS thread as soon as the
// Promise settles, not whenever the worker object happens to be deleted.
#pragma once
#include <napi.h>
#include <c10/util/Exception.h>

#include <exception>
#include <functional>
#include <string>
#include <utility>

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

}  // namespace torch_rlhf
