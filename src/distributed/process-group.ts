// A process group over torch.distributed's engine (c10d, native/c10d.h): rendezvous through a
// TCPStore, Gloo for CPU tensors and NCCL for CUDA tensors (the CUDA variant), and the
// collectives data-parallel training needs — allReduce, broadcast, allGather, barrier — each
// returning a Work whose wait() settles off the JS thread, with a timeout. It joins the
// environment contract of torchrun, Slurm and Kubernetes' PyTorchJob (RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so the trainers run wherever PyTorch's do. Like
// torch.distributed there is one default group per process (initProcessGroup).
import { N, type GroupHandle, type WorkHandle } from '../native.js';
import { cuda } from '../tensor/runtime.js';
import { Tensor } from '../tensor/tensor.js';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

export interface ProcessGroupOptions {
  /** This process's rank in [0, worldSize). Default: RANK (or SLURM_PROCID). */
  rank?: number;
  /** Processes in the group. Default: WORLD_SIZE (or SLURM_NTASKS). */
  worldSize?: number;
  /** Rank on this node, for the CUDA device. Default: LOCAL_RANK (or SLURM_LOCALID), else 0. */
  localRank?: number;
  /** Where rank 0 (or torchrun's agent) hosts the TCPStore. Default: MASTER_ADDR, else 127.0.0.1. */
  masterAddr?: string;
  /** Default: MASTER_PORT, else 29500 (torchrun's default). */
  masterPort?: number;
  /** 'gloo' (CPU tensors) or 'nccl' (CUDA tensors); default gloo, nccl when the tensors live on CUDA. */
  backend?: Backend;
  /**
   * How long one collective may take before every rank fails, naming the rank that stopped. Default 1800 s
   * (TrainingArguments' ddp_timeout).
   */
  timeoutMs?: number;
  /** How long ranks wait for one another to join. Default: timeoutMs. */
  joinTimeoutMs?: number;
  /** How often each rank proves it is alive (the failure diagnosis waits 3 beats). Default 500 ms. */
  heartbeatMs?: number;
}

/** The launch contract, as torchrun (and our launcher) sets it; null when the process was not launched as part of a group. */
export interface LaunchEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /** torchrun's agent hosts the store (TORCHELASTIC_USE_AGENT_STORE=True); else rank 0 does. */
  agentStore: boolean;
  /** torchrun's restart count: each restart rendezvouses under fresh keys. */
  restart: number;
}

function intVar(env: NodeJS.ProcessEnv, names: string[]): number | undefined {
  for (const name of names) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (!/^\d+$/.test(v.trim())) throw new Error(`distributed: ${name} must be a non-negative integer, got '${v}'`);
    return Number(v);
  }
  return undefined;
}

/** Reads torchrun's environment (RANK, WORLD_SIZE, …), or Slurm's (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) without it. */
export function launchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | null {
  const torchrun = env.WORLD_SIZE !== undefined && env.WORLD_SIZE !== '';
  const worldSize = torchrun ? intVar(env, ['WORLD_SIZE']) : env.MASTER_ADDR ? intVar(env, ['SLURM_NTASKS']) : undefined;
  if (worldSize === undefined) return null;
  const rank = torchrun ? intVar(env, ['RANK']) : intVar(env, ['SLURM_PROCID']);
  if (rank === undefined) throw new Error('distributed: WORLD_SIZE is set but RANK is not (torchrun sets both)');
  return {
    rank,
    worldSize,
    localRank: (torchrun ? intVar(env, ['LOCAL_RANK']) : intVar(env, ['SLURM_LOCALID'])) ?? 0,
    masterAddr: env.MASTER_ADDR || '127.0.0.1',
    masterPort: intVar(env, ['MASTER_PORT']) ?? 29500,
    agentStore: env.TORCHELASTIC_USE_AGENT_STORE === 'True',
    restart: intVar(env, ['TORCHELASTIC_RESTART_COUNT']) ?? 0,
  };
}

/** One collective in flight. Its tensor must not be read or written until wait() settles. */
export class Work<T = void> {
  #promise: Promise<T> | null = null;
  constructor(
    private readonly handle: WorkHandle,
    private readonly settle: (outputs: Tensor[]) => T,
  ) {}
  /** Resolves when the collective is done everywhere; rejects, naming the rank that stopped, when it fails or times out. */
  wait(): Promise<T> {
    this.#promise ??= N.distWait(this.handle).then((hs) => this.settle(hs.map((h) => new Tensor(h))));
    return this.#promise;
  }
}

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly backend: Backend;
  #handle: GroupHandle | null;

  private constructor(handle: GroupHandle, localRank: number) {
    this.#handle = handle;
    const info = N.distInfo(handle);
    this.rank = info.rank;
    this.worldSize = info.worldSize;
    this.backend = info.backend as Backend;
    this.localRank = localRank;
  }

  /** Joins a group: the options, else the launch environment, else a group of one. Resolves once every rank has joined. */
  static async init(options: ProcessGroupOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<ProcessGroup> {
    const le = launchEnv(env);
    const timeoutMs = options.timeoutMs ?? 1_800_000;
    const o = {
      rank: options.rank ?? le?.rank ?? 0,
      worldSize: options.worldSize ?? le?.worldSize ?? 1,
      masterAddr: options.masterAddr ?? le?.masterAddr ?? '127.0.0.1',
      masterPort: options.masterPort ?? le?.masterPort ?? 29500,
    };
    const backend: Backend = options.backend ?? 'gloo';
    if (backend === 'nccl' && !cuda.isAvailable())
      throw new Error('distributed: the nccl backend needs CUDA, and none is available here; use gloo');
    const handle = await N.distInit({
      ...o,
      backend,
      hostStore: !(le?.agentStore ?? false),
      prefix: `torch_rlhf/${le?.restart ?? 0}/`,
      timeoutMs,
      joinTimeoutMs: options.joinTimeoutMs ?? timeoutMs,
      heartbeatMs: options.heartbeatMs ?? 500,
      glooInterface: env.GLOO_SOCKET_IFNAME ?? '',
    });
    return new ProcessGroup(handle, options.localRank ?? le?.localRank ?? 0);
  }

  private get handle(): GroupHandle {
    if (this.#handle === null) throw new Error('distributed: the process group was destroyed');
    return this.#handle;
  }

  /** Reduces `t` in place across ranks ('avg' divides the sum by the world size). */
  allReduce(t: Tensor, op: ReduceOp = 'sum'): Work {
    return new Work(N.distAllReduce(this.handle, t.handle, { op }), () => undefined);
  }
  /** Overwrites `t` on every rank with root's. */
  broadcast(t: Tensor, root = 0): Work {
    return new Work(N.distBroadcast(this.handle, t.handle, { root }), () => undefined);
  }
  /** Every rank's `t`, in rank order (new tensors, the caller's to dispose). */
  allGather(t: Tensor): Work<Tensor[]> {
    return new Work(N.distAllGather(this.handle, t.handle), (outs) => outs);
  }
  barrier(): Work {
    return new Work(N.distBarrier(this.handle), () => undefined);
  }
  /** Stops the heartbeat and closes the connections; collectives afterwards throw. */
  destroy(): void {
    if (this.#handle === null) return;
    N.distDestroy(this.#handle);
    this.#handle = null;
  }
}

let defaultGroup: ProcessGroup | null = null;
let joining: Promise<ProcessGroup> | null = null;

/** Joins the default group (torch.distributed.init_process_group); later calls return the same group. */
export function initProcessGroup(options: ProcessGroupOptions = {}): Promise<ProcessGroup> {
  joining ??= ProcessGroup.init(options).then(
    (g) => (defaultGroup = g),
    (err: unknown) => {
      joining = null;
      throw err;
    },
  );
  return joining;
}
/** The default group, or null when none was joined. */
export const getProcessGroup = (): ProcessGroup | null => defaultGroup;
export function destroyProcessGroup(): void {
  defaultGroup?.destroy();
  defaultGroup = null;
  joining = null;
}

/** At the end of a data-parallel run: waits for every rank to get here, then destroys the default group (a no-op without one). */
export async function closeProcessGroup(): Promise<void> {
  const g = defaultGroup;
  if (!g) return;
  try {
    await g.barrier().wait();
  } finally {
    destroyProcessGroup();
  }
}
