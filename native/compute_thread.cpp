#include "compute_thread.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace trl {

namespace {

struct Job {
  const std::function<void()>* work;
  std::exception_ptr error;
  bool done = false;
};

struct ComputeThread {
  std::mutex mutex;
  std::condition_variable wake, finished;
  std::deque<Job*> queue;
  std::atomic<int> wanted_threads{0};  // 0: libtorch's default

  ComputeThread() {
    // Detached and never destroyed: it waits for work until the process exits.
    std::thread([this] { loop(); }).detach();
  }

  void loop() {
    int applied = 0;
    for (;;) {
      Job* job;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return !queue.empty(); });
        job = queue.front();
        queue.pop_front();
      }
      const int want = wanted_threads.load();
      if (want > 0 && want != applied) {
        at::set_num_threads(want);
        applied = want;
      }
      try {
        (*job->work)();
      } catch (...) {
        job->error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        job->done = true;
      }
      finished.notify_all();
    }
  }
};

ComputeThread& computeThread() {
  static ComputeThread* thread = new ComputeThread();
  return *thread;
}

}  // namespace

void runOnComputeThread(const std::function<void()>& work) {
  ComputeThread& t = computeThread();
  Job job{&work, nullptr, false};
  {
    std::lock_guard<std::mutex> lock(t.mutex);
    t.queue.push_back(&job);
  }
  t.wake.notify_one();
  std::unique_lock<std::mutex> lock(t.mutex);
  t.finished.wait(lock, [&] { return job.done; });
  lock.unlock();
  if (job.error) std::rethrow_exception(job.error);
}

void setComputeThreadCount(int n) { computeThread().wanted_threads.store(n); }

}  // namespace trl
