// The ops about the runtime rather than tensors: seeds and the RNG state, autocast, threads,
// CUDA presence, live memory, the CPU cache, the build's version; and the process-wide setup the
// addon does once when it loads (initRuntime: the caching CPU allocator, the thread pools).
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "binding/args.h"
#include "binding/ops.h"
#include "native/compute_thread.h"
#include "native/cpu_allocator.h"

namespace torch_rlhf {

namespace {

using V = Napi::Value;

// A libtorch built on OpenBLAS (PyTorch's aarch64 wheels, distribution builds) has a second
// thread pool besides libtorch's, which at::set_num_threads does not reach. Measured with
// Debian's libtorch: with libtorch at 1 thread, OpenBLAS's idle workers slowed every op in the
// Node process several-fold (relu on 384×1536: 7 ms vs 0.2 ms). Keep both pools the same size.
// Found at run time, so MKL builds (PyTorch's x86-64 wheels) are unaffected.
void setBlasThreads(int n) {
  using SetThreads = void (*)(int);
  static auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (fn) fn(n);
}

V manualSeed(Args& a) {
  const double s = a.number(0);
  TORCH_CHECK(Args::isInt(s) && s >= 0, "manualSeed: seed must be a non-negative integer, got ", s);
  at::manual_seed(static_cast<uint64_t>(s));
  return a.env().Undefined();
}
// The default CPU generator's state (a uint8 tensor), for exact resume of training runs.
V getRngState(Args& a) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return wrap(a.env(), gen.get_state());
}
V setRngState(Args& a) {
  const at::Tensor& state = a.tensor(0);
  TORCH_CHECK(state.scalar_type() == at::kByte && state.device().is_cpu(), "setRngState: expected a uint8 CPU tensor from getRngState");
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
  return a.env().Undefined();
}

// Automatic mixed precision (torch.autocast): per device type, per thread.
// setAutocast(device 'cpu'|'cuda', enabled, dtype?) → [wasEnabled, previousDtype]
V setAutocast(Args& a) {
  const std::string dev = a.str(0);
  TORCH_CHECK(dev == "cpu" || dev == "cuda", "autocast: device must be 'cpu' or 'cuda', got '", dev, "'");
  const bool cuda = dev == "cuda";
  const bool enable = a.boolean(1);
  const auto type = cuda ? at::kCUDA : at::kCPU;
  const bool was = at::autocast::is_autocast_enabled(type);
  const auto prev = at::autocast::get_autocast_dtype(type);
  if (!a.missing(2)) at::autocast::set_autocast_dtype(type, a.dtype(2));
  at::autocast::set_autocast_enabled(type, enable);
  // Leaving the outermost region frees the cache of casted weights, as torch.autocast does.
  if (!enable && was) at::autocast::clear_cache();
  Napi::Array out = Napi::Array::New(a.env(), 2);
  out.Set(0u, Napi::Boolean::New(a.env(), was));
  out.Set(1u, Napi::String::New(a.env(), dtypeName(prev)));
  return out;
}

V setNumThreads(Args& a) {
  const int64_t n = a.int64(0);
  TORCH_CHECK(n >= 1, "setNumThreads: the number of threads must be at least 1, got ", n);
  // OpenMP starts every thread asked for, and thousands of them took minutes to start and
  // stop; more than a few per core only costs.
  const int64_t most = 4 * static_cast<int64_t>(usableCpus());
  TORCH_CHECK(n <= most, "setNumThreads: ", n, " threads is more than 4 per CPU core of this process (", most, " for ", usableCpus(),
              " cores)");
  at::set_num_threads(static_cast<int>(n));
  setBlasThreads(static_cast<int>(n));
  setComputeThreadCount(static_cast<int>(n));
  return a.env().Undefined();
}
V getNumThreads(Args& a) { return Napi::Number::New(a.env(), at::get_num_threads()); }
// torch/cuda.h is the stable public API for these in both libtorch 1.13 and 2.x.
V cudaIsAvailable(Args& a) { return Napi::Boolean::New(a.env(), torch::cuda::is_available()); }
V cudaDeviceCount(Args& a) { return Napi::Number::New(a.env(), static_cast<double>(torch::cuda::device_count())); }
V memory(Args& a) {
  const auto mem = liveMemory();
  Napi::Array out = Napi::Array::New(a.env(), mem.size());
  for (size_t i = 0; i < mem.size(); ++i) {
    Napi::Object o = Napi::Object::New(a.env());
    o.Set("device", mem[i].device);
    o.Set("tensors", static_cast<double>(mem[i].tensors));
    o.Set("bytes", static_cast<double>(mem[i].bytes));
    out.Set(i, o);
  }
  return out;
}
// The libtorch this binary was built for, readable from the file without loading it
// (src/libtorch.ts: embeddedBuildTag), so the loader can match it to the libtorch it finds.
extern "C" __attribute__((used)) const char torch_rlhf_build_tag[] = "torch-rlhf-build:" TORCH_RLHF_BUILD_TAG ";";

V version(Args& a) {
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("libtorch", TORCH_VERSION);
  o.Set("build", std::string(TORCH_RLHF_BUILD_TAG));
  o.Set("cuda", std::string(TORCH_RLHF_BUILD_TAG).find("-cpu") == std::string::npos);  // built against a CUDA libtorch
  o.Set("parallel", at::get_parallel_info());
  return o;
}

V emptyCache(Args& a) {
  emptyCpuCache();
  return a.env().Undefined();
}
V cacheStats(Args& a) {
  const auto s = cpuCacheStats();
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("cachedBytes", static_cast<double>(s.cachedBytes));
  o.Set("cachedBlocks", static_cast<double>(s.cachedBlocks));
  o.Set("limitBytes", static_cast<double>(s.limitBytes));
  o.Set("liveBytes", static_cast<double>(s.liveBytes));
  o.Set("peakLiveBytes", static_cast<double>(s.peakLiveBytes));
  return o;
}

const OpEntry kOps[] = {
    {"manualSeed", manualSeed},           {"getRngState", getRngState},         {"setRngState", setRngState},
    {"setAutocast", setAutocast},         {"setNumThreads", setNumThreads},     {"getNumThreads", getNumThreads},
    {"cudaIsAvailable", cudaIsAvailable}, {"cudaDeviceCount", cudaDeviceCount}, {"memory", memory},
    {"emptyCache", emptyCache},           {"cacheStats", cacheStats},           {"version", version},
};

// CPU tensor memory: a caching allocator (native/cpu_allocator.h explains why), capped at
// TORCH_RLHF_CPU_CACHE_MB, by default 1/32 of physical memory and at most 1 GiB (768 MiB on a
// 24 GiB machine, 256 MiB on an 8 GiB laptop): freed blocks kept for reuse count toward the
// process's peak, so the cap scales with what the machine has instead of a fixed 2 GiB that is a
// quarter of a laptop. TORCH_RLHF_CPU_CACHE_MB=0 keeps libtorch's allocator.
size_t defaultCpuCacheBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  const size_t physical = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : size_t{8} << 30;
  return std::min(physical / 32, size_t{1} << 30);
}
void installAllocator() {
  const char* env = std::getenv("TORCH_RLHF_CPU_CACHE_MB");
  const size_t bytes = env ? static_cast<size_t>(std::max(0L, std::atol(env))) << 20 : defaultCpuCacheBytes();
  if (bytes > 0) installCachingCpuAllocator(bytes);
}

}  // namespace

void registerRuntimeOps(Napi::Env env, Napi::Object exports) { registerOps(env, exports, kOps, sizeof(kOps) / sizeof(kOps[0])); }

void initRuntime() {
  installAllocator();
  setBlasThreads(at::get_num_threads());
  setComputeThreadCount(at::get_num_threads());
}

}  // namespace torch_rlhf
