// A caching allocator for CPU tensors. Inside Node, the glibc heap around tensor-sized blocks
// is pinned by the small allocations of the JS handles, so freed activations could not be
// reused and RSS grew by every step's activations (measured: two live 3 MiB tensors per
// iteration grew RSS 6 MiB per iteration); mapping them fresh instead page-faults every step
// (the GPT forward 2× slower). This keeps freed blocks (≥ 64 KiB) by size and hands them out
// again, as PyTorch's CUDA caching allocator does on GPUs. It never raises the process's peak:
// before a fresh block would take live + cached bytes above the live high-water mark, cached
// blocks go back to the system (largest first), so peak RSS stays what the live tensors needed.
#pragma once
#include <c10/core/Allocator.h>

#include <cstddef>

namespace torch_rlhf {

struct CpuCacheStats {
  size_t cachedBytes = 0;  // held in the cache, free for reuse
  size_t cachedBlocks = 0;
  size_t limitBytes = 0;
  size_t liveBytes = 0;      // live blocks of the cached sizes (≥ 64 KiB), rounded
  size_t peakLiveBytes = 0;  // their high-water mark: live + cached never goes above it
};

/** Installs the allocator for every CPU tensor allocated from now on (once per process). */
void installCachingCpuAllocator(size_t limitBytes);
/** Returns every cached block to the system (torch.emptyCache()). */
void emptyCpuCache();
CpuCacheStats cpuCacheStats();

}  // namespace torch_rlhf
