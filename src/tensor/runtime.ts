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
 * The per-thread modes that decide what an op records: grad mode and autocast (per device type).
 * An async computation (the training forward and backward, which await the compute thread)
 * captures them at its start and runs each of its synchronous parts, and each native call it
 * starts, under them (`withModes`): between its awaits other code runs on the JS thread under
 * its own modes. The native async calls carry the modes they were started under to the compute
 * thread (binding/promise_worker.h).
 */
export interface ThreadModes {
  grad: boolean;
  /** Per device type: [enabled, dtype]. */
  autocast: { cpu: [boolean, string]; cuda: [boolean, string] | null };
}

/** The modes in effect now. */
export function currentModes(): ThreadModes {
  const read = (d: 'cpu' | 'cuda'): [boolean, string] => {
    const was = N.setAutocast(d, false);
    N.setAutocast(d, was[0], was[1]);
    return was;
  };
  return { grad: N.isGradEnabled(), autocast: { cpu: read('cpu'), cuda: N.cudaIsAvailable() ? read('cuda') : null } };
}

/**
 * Runs fn's synchronous part under `modes` and restores the current ones: the part of an async
 * function before its first await, or a native call that returns a Promise (the call captured
 * them). Unlike noGrad and autocast, a Promise result is allowed for that reason.
 */
export function withModes<T>(modes: ThreadModes, fn: () => T): T {
  const grad = N.setGradEnabled(modes.grad);
  const cpu = N.setAutocast('cpu', ...modes.autocast.cpu);
  const cudaModes = modes.autocast.cuda;
  const cudaPrev = cudaModes ? N.setAutocast('cuda', ...cudaModes) : null;
  try {
    return fn();
  } finally {
    if (cudaPrev) N.setAutocast('cuda', ...cudaPrev);
    N.setAutocast('cpu', ...cpu);
    N.setGradEnabled(grad);
  }
}

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

/** Starts async fn without autograd (as noGrad, which takes synchronous code only): it captures the mode at its start (see ThreadModes). */
export function noGradAsync<T>(fn: () => Promise<T>): Promise<T> {
  return withModes({ ...currentModes(), grad: false }, fn);
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
