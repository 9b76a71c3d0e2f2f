// One long-lived thread for the libtorch work that runs off the JS thread (generation today).
// libgomp, the OpenMP runtime of PyTorch's wheels, keeps a thread team per thread that starts
// parallel work, and once it manages more threads than there are cores it stops spinning and
// puts its workers to sleep at the end of every parallel region. Work spread over the libuv
// pool's four threads made four teams: measured at 2 threads on 2 cores, KV-cache generation
// went from 7990 to about 2800 tokens/s, with 20,000 context switches a second. Funnelled
// through this one thread it is as fast as on the JS thread, like Python's single thread.
#pragma once
#include <functional>

namespace trl {

// Runs `work` on the compute thread and waits for it; an exception thrown by `work` is rethrown
// here. Jobs from several callers run one after another, in order.
void runOnComputeThread(const std::function<void()>& work);

// The intra-op thread count the compute thread applies before its next job (setNumThreads
// reaches only the calling thread's OpenMP setting).
void setComputeThreadCount(int n);

}  // namespace trl
