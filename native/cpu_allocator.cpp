#include "cpu_allocator.h"

#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace torch_rlhf {

namespace {

constexpr size_t kAlign = 64;            // what c10's default CPU allocator guarantees
constexpr size_t kHeader = kAlign;       // the block's size lives just before the data
constexpr size_t kMinCached = 64 << 10;  // smaller blocks go straight back to malloc

// Sizes ≥ 64 KiB are rounded up to 1/8 of their power of two, so that tensors of nearly the
// same size share blocks (at most 12.5 % slack).
size_t roundSize(size_t n) {
  if (n < kMinCached) return (n + kAlign - 1) / kAlign * kAlign;
  size_t p = 1;
  while (p < n) p <<= 1;
  const size_t step = std::max<size_t>(kMinCached, p / 8);
  return (n + step - 1) / step * step;
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  explicit CachingCpuAllocator(size_t limit) : limit_(limit) {}

  c10::DataPtr allocate(size_t n) override {
    const size_t size = roundSize(std::max<size_t>(n, 1));
    void* base = nullptr;
    if (size >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        base = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        --blocks_;
        countLive(size);
      }
    }
    if (!base) {
      if (size >= kMinCached) makeRoomFor(size);
      base = std::aligned_alloc(kAlign, size + kHeader);
      if (!base) {
        emptyCache();  // give the cache back and try once more before failing
        base = std::aligned_alloc(kAlign, size + kHeader);
      }
      TORCH_CHECK(base, "DefaultCPUAllocator: can't allocate memory: you tried to allocate ", n, " bytes.");
      if (size >= kMinCached) {
        std::lock_guard<std::mutex> lock(mutex_);
        countLive(size);  // only once the block exists: a failed allocation leaves the counts as they were
      }
    }
    std::memcpy(base, &size, sizeof(size));
    void* data = static_cast<char*>(base) + kHeader;
    return {data, data, &Deleter, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &Deleter; }

  void copy_data(void* dest, const void* src, std::size_t count) const final { default_copy_data(dest, src, count); }

  void release(void* data) const {
    void* base = static_cast<char*>(data) - kHeader;
    size_t size;
    std::memcpy(&size, base, sizeof(size));
    if (size >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      live_ -= size;
      if (cached_ + size <= limit_) {
        free_[size].push_back(base);
        cached_ += size;
        ++blocks_;
        return;
      }
    }
    std::free(base);
  }

  void emptyCache() const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, list] : free_)
      for (void* p : list) std::free(p);
    free_.clear();
    cached_ = 0;
    blocks_ = 0;
  }

  // Before a fresh block of `size` is allocated: gives cached blocks back (largest first) until
  // the live blocks, the new one and the cache fit under the live high-water mark. The cache
  // then never raises the process's peak above what its live tensors needed at some point:
  // the peak RSS stays that of an allocator without a cache (PyTorch's), while a loop that
  // repeats its allocations still finds its blocks (they are freed below that mark).
  void makeRoomFor(size_t size) const {
    std::vector<void*> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const size_t room = std::max(peak_live_, live_ + size);
      if (live_ + size + cached_ <= room) return;
      while (live_ + size + cached_ > room && !free_.empty()) {
        auto largest = std::max_element(free_.begin(), free_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        auto& list = largest->second;
        while (!list.empty() && live_ + size + cached_ > room) {
          dropped.push_back(list.back());
          list.pop_back();
          cached_ -= largest->first;
          --blocks_;
        }
        if (list.empty()) free_.erase(largest);
      }
    }
    for (void* p : dropped) std::free(p);  // outside the lock: munmap can take a while
  }

  // A block of `size` handed out (the caller holds the lock).
  void countLive(size_t size) const {
    live_ += size;
    peak_live_ = std::max(peak_live_, live_);
  }

  CpuCacheStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {cached_, blocks_, limit_, live_, peak_live_};
  }

  static void Deleter(void* data);

 private:
  size_t limit_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;
  mutable size_t cached_ = 0;
  mutable size_t blocks_ = 0;
  mutable size_t live_ = 0;       // bytes of live cached-size blocks (≥ 64 KiB)
  mutable size_t peak_live_ = 0;  // their high-water mark
};

CachingCpuAllocator* g_allocator = nullptr;

void CachingCpuAllocator::Deleter(void* data) {
  if (data) g_allocator->release(data);
}

}  // namespace

void installCachingCpuAllocator(size_t limitBytes) {
  if (g_allocator) return;
  // Never freed: tensors may outlive any scope, up to process exit.
  g_allocator = new CachingCpuAllocator(limitBytes);
  c10::SetCPUAllocator(g_allocator, /*priority=*/1);
}

void emptyCpuCache() {
  if (g_allocator) g_allocator->emptyCache();
}

CpuCacheStats cpuCacheStats() { return g_allocator ? g_allocator->stats() : CpuCacheStats{}; }

}  // namespace torch_rlhf
