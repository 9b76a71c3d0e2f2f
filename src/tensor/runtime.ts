// Process-wide settings: autograd mode, seeds, threads, CUDA presence, live memory.
import { N, addonFile, libtorch, type CpuCacheInfo } from '../native.js';
import { Tensor } from './tensor.js';

/** Runs fn with autograd recording off and returns its result (PyTorch's `with torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}
/** Runs fn with autograd recording on, e.g. inside a noGrad region. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}
function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = N.setGradEnabled(enabled);
  try {
    const result = fn();
    if (result instanceof Promise)
      throw new TypeError('noGrad/enableGrad: fn must be synchronous (the mode is per thread and would leak across awaits)');
    return result;
  } finally {
    N.setGradEnabled(prev);
  }
}
export const isGradEnabled = (): boolean => N.isGradEnabled();
export const setGradEnabled = (enabled: boolean): void => void N.setGradEnabled(enabled);

/**
 * Runs fn under automatic mixed precision on a device type ('cuda' or 'cpu'), as
 * torch.autocast: matmuls and linear layers compute in `dtype` (bfloat16 by default) while the
 * parameters stay float32 (master weights). Synchronous, like noGrad.
 */
export function autocast<T>(device: 'cpu' | 'cuda', fn: () => T, dtype: 'bfloat16' | 'float16' = 'bfloat16'): T {
  const [was, prev] = N.setAutocast(device, true, dtype);
  try {
    const result = fn();
    if (result instanceof Promise) throw new TypeError('autocast: fn must be synchronous');
    return result;
  } finally {
    N.setAutocast(device, was, prev);
  }
}

/** Seeds every generator (CPU and CUDA), as torch.manual_seed. */
export function manualSeed(seed: number): void {
  N.manualSeed(seed);
}
/** The CPU generator's state (a uint8 tensor), as torch.get_rng_state(). */
export const getRngState = (): Tensor => new Tensor(N.getRngState());
/** Restores a state from getRngState(), as torch.set_rng_state(). */
export const setRngState = (state: Tensor): void => N.setRngState(state.handle);
export const setNumThreads = (n: number): void => N.setNumThreads(n);
export const getNumThreads = (): number => N.getNumThreads();

export const cuda = {
  isAvailable: (): boolean => N.cudaIsAvailable(),
  deviceCount: (): number => N.cudaDeviceCount(),
};

export interface MemoryInfo {
  /** Live tensor handles, all devices. */
  tensors: number;
  /** Bytes of storage those handles hold, all devices: a storage counts once, whole, however many views of it have handles. */
  bytes: number;
  devices: Record<string, { tensors: number; bytes: number }>;
  /**
   * Freed CPU tensor memory the caching allocator holds for reuse (not in `bytes`): the process
   * holds bytes + cachedBytes of CPU tensor memory, as torch.cuda.memory_reserved counts beside
   * memory_allocated. See cpuCache() for its cap.
   */
  cachedBytes: number;
}
/** Live tensors and bytes, per device, and the allocator's cache. Tests compare the live part against a baseline. */
export function memory(): MemoryInfo {
  const out: MemoryInfo = { tensors: 0, bytes: 0, devices: {}, cachedBytes: N.cacheStats().cachedBytes };
  for (const d of N.memory()) {
    out.tensors += d.tensors;
    out.bytes += d.bytes;
    out.devices[d.device] = { tensors: d.tensors, bytes: d.bytes };
  }
  return out;
}

/**
 * Returns the CPU memory that the caching allocator keeps for reuse to the system (PyTorch's
 * torch.cuda.empty_cache, for CPU tensors). The cache is capped by TORCH_RLHF_CPU_CACHE_MB
 * (default: 1/32 of physical memory, at most 1024; 0 turns the caching allocator off).
 */
export const emptyCache = (): void => N.emptyCache();

/** Freed CPU tensor memory the caching allocator holds for reuse, its cap, and the live blocks it counts. */
export const cpuCache = (): CpuCacheInfo => N.cacheStats();

export interface VersionInfo {
  /** The libtorch release the addon was compiled against ('2.13.0'). */
  libtorch: string;
  /** Whether that libtorch has CUDA (the device may still be absent: see cuda.isAvailable()). */
  cuda: boolean;
  /** The binary's build tag, `<version>-<variant>` ('2.13.0-cpu', '2.14.1-cu130'). */
  build: string;
  /** The folder of the libtorch libraries in use, and how the loader found it. */
  libtorchDir: string;
  libtorchSource: string;
  /** The addon file that was loaded. */
  addon: string;
  /** libtorch's parallel backend and thread counts (at::get_parallel_info). */
  parallel: string;
}
/** The libtorch this addon runs on, and where it came from. */
export const version = (): VersionInfo => {
  const v = N.version();
  return {
    libtorch: v.libtorch,
    cuda: v.cuda,
    build: v.build,
    libtorchDir: libtorch.libDir,
    libtorchSource: libtorch.source,
    addon: addonFile,
    parallel: v.parallel,
  };
};
