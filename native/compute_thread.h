// One long-lived thread for the libtorch work that runs off the JS thread (generation today).
// libgomp, the OpenMP runtime of PyTorch's wheels, keeps a thread team per thread that starts
// parallel work, and once it manages more threads than there are cores it stops spinning and
// puts its workers to sleep at the end of every parallel region, so that every small parallel
// op pays a futex wake-up. Work spread over the libuv pool's four threads made four teams:
// measured at 2 threads on 2 cores, KV-cache generation went from 7990 to about 2800 tokens/s,
// with 20,000 context switches a second. And a second team beside the JS thread's is enough:
// at 2 threads a demo PPO iteration's update (JS thread only) took 1000 ms instead of 670.
// So async work runs on this one thread, and its team uses only the cores that the JS thread's
// team leaves free, at least one: with libtorch at all the cores (its default), the compute
// thread runs its ops on itself, which costs generation nothing measurable here. Training's
// steps (forward layers, LM head, backward, optimizer) are jobs that the JS thread only waits
// for, computing nothing big meanwhile: they take the JS thread's whole team size instead.
#pragma once
#include <functional>

namespace torch_rlhf {

// How many threads a job's parallel ops use: the cores the JS thread's team leaves free (work
// that runs beside the JS thread's, as generation in a server), or the JS thread's count (work
// the JS thread waits for, as a training step).
enum class ComputeTeam { kBeside, kFull };

// Runs `work` on the compute thread and waits for it; an exception thrown by `work` is rethrown
// here. Jobs from several callers run one after another, in order.
void runOnComputeThread(const std::function<void()>& work, ComputeTeam team = ComputeTeam::kBeside);

// The CPUs this process may run on (its affinity mask, as os.sched_getaffinity).
int usableCpus();

// The JS thread's intra-op thread count (setNumThreads); the compute thread sizes its own team
// from it before its next job.
void setComputeThreadCount(int n);

}  // namespace torch_rlhf
