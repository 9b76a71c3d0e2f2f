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

  // The same error classes and wording as a synchronous call (binding/dispatch.cc): an index
  // error is a RangeError, a type error a TypeError, and running out of memory says so (the
  // trainers retry a batch in halves on that message). Nothing escapes as std::terminate.
  void Execute() override {
    try {
      job_();
    } catch (const c10::IndexError& e) {
      fail(Kind::Range, e.what_without_backtrace());
    } catch (const c10::TypeError& e) {
      fail(Kind::Type, e.what_without_backtrace());
    } catch (const c10::Error& e) {
      fail(Kind::Plain, e.what_without_backtrace());
    } catch (const std::bad_alloc&) {
      fail(Kind::Plain, what_ + ": out of memory");
    } catch (const std::exception& e) {
      fail(Kind::Plain, what_ + ": " + e.what());
    } catch (...) {
      fail(Kind::Plain, what_ + ": an unknown native error");
    }
  }
  void OnOK() override {
    Napi::Value v;
    try {
      v = settle_(Env());
    } catch (const Napi::Error& e) {  // making the result failed: the Promise still settles
      release();
      deferred_.Reject(e.Value());
      return;
    } catch (const std::exception& e) {
      release();
      deferred_.Reject(Napi::Error::New(Env(), what_ + ": " + e.what()).Value());
      return;
    }
    release();
    deferred_.Resolve(v);
  }
  void OnError(const Napi::Error& e) override {
    release();
    const std::string message = e.Message();
    if (kind_ == Kind::Range) return deferred_.Reject(Napi::RangeError::New(Env(), message).Value());
    if (kind_ == Kind::Type) return deferred_.Reject(Napi::TypeError::New(Env(), message).Value());
    deferred_.Reject(e.Value());
  }

 private:
  enum class Kind { Plain, Range, Type };
  void fail(Kind kind, const std::string& message) {
    kind_ = kind;
    SetError(message);
  }
  Kind kind_ = Kind::Plain;
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
