#include "compute_thread.h"

#include <ATen/Parallel.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

// The per-thread settings of the two pools of PyTorch's wheels, found at load time through
// libtorch's own dependencies (weak: absent from a libtorch without OpenMP or MKL). MKL's C
// function is the mixed-case name (mkl_service.h maps mkl_set_num_threads_local to it; the
// lower-case symbol is the Fortran one, which takes a pointer).
extern "C" {
__attribute__((weak)) void omp_set_num_threads(int);
__attribute__((weak)) int MKL_Set_Num_Threads_Local(int);
}

namespace torch_rlhf {

int usableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

// This thread's OpenMP team and MKL threads: the cores the JS thread's team (of `js` threads)
// leaves free, at least one, so that libgomp never manages more threads than there are cores;
// or, for work the JS thread waits for, the JS thread's count.
int teamSize(int js, ComputeTeam team) { return team == ComputeTeam::kFull ? js : std::max(1, std::min(js, usableCpus() - js + 1)); }
void applyThreadCount(int n) {
  if (omp_set_num_threads) omp_set_num_threads(n);
  if (MKL_Set_Num_Threads_Local) MKL_Set_Num_Threads_Local(n);
}

struct Job {
  const std::function<void()>* work;
  ComputeTeam team;
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
    pthread_setname_np(pthread_self(), "torch-rlhf-comp");
    // ATen sets a thread's OpenMP and MKL threads to its global count on the thread's first
    // parallel op (a thread-local flag, in each library that inlines it): trigger that now,
    // here and inside libtorch (get_num_threads), so that it cannot overwrite the sizes chosen
    // below. No op runs here: a parallel region at the global count would start a team whose
    // idle workers libgomp goes on counting.
    at::internal::lazy_init_num_threads();
    (void)at::get_num_threads();
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
      const int n = want > 0 ? teamSize(want, job->team) : 0;
      if (n > 0 && n != applied) {
        applyThreadCount(n);
        applied = n;
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

void runOnComputeThread(const std::function<void()>& work, ComputeTeam team) {
  ComputeThread& t = computeThread();
  Job job{&work, team, nullptr, false};
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

}  // namespace torch_rlhf
