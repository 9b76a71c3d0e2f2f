// Data parallelism for the training loops (what torch's DistributedDataParallel and
// DistributedSampler do): parameters start equal because rank 0 broadcasts them; each rank
// takes its own shard of every global batch; after backward the gradients are averaged across
// ranks in flat buckets of about 25 MB (DDP's bucket_cap_mb), all buckets in flight at once;
// metrics are averaged, weighted by each rank's share. The all-reduce runs after backward rather
// than overlapping it: backward is one native call, and our autograd exposes no per-parameter
// hooks to start a bucket while the rest of the graph still runs.
import { captureRng } from '../trainers/checkpoint.js';
import { fromBytes, toBytes } from '../tensor/bytes.js';
import { empty, tensor } from '../tensor/creation.js';
import { noGrad } from '../tensor/runtime.js';
import { dispose, tidy, keep } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { ITEM_SIZE } from '../tensor/types.js';
import { getProcessGroup, initProcessGroup, launchEnv, type ProcessGroup } from './process-group.js';

/** DDP's default bucket size. */
export const BUCKET_CAP_MB = 25;

/**
 * This rank's share of one global batch, as DistributedSampler deals it: the batch is padded to
 * a multiple of the world size by repeating its first items, then rank r takes items r, r + W, ….
 */
export function shardBatch<T>(items: T[], rank: number, worldSize: number): T[] {
  if (worldSize === 1) return items;
  const padded = [...items];
  for (let i = 0; padded.length % worldSize !== 0; i++) padded.push(items[i % items.length]!);
  return padded.filter((_, i) => i % worldSize === rank);
}

/** Groups of tensors of one dtype and device, in the given order, each about capBytes. */
export function bucketsOf(tensors: Tensor[], capBytes: number): number[][] {
  const buckets: number[][] = [];
  const open = new Map<string, { ids: number[]; bytes: number }>();
  tensors.forEach((t, i) => {
    const key = `${t.dtype}@${t.device}`;
    const bytes = t.numel() * ITEM_SIZE[t.dtype];
    let b = open.get(key);
    if (b && b.bytes + bytes > capBytes && b.ids.length > 0) {
      buckets.push(b.ids);
      b = undefined;
    }
    b ??= { ids: [], bytes: 0 };
    b.ids.push(i);
    b.bytes += bytes;
    open.set(key, b);
  });
  for (const b of open.values()) if (b.ids.length) buckets.push(b.ids);
  return buckets;
}

/** One DataParallel per process group, so that the bucket buffers outlive a train() call. */
const perGroup = new WeakMap<ProcessGroup, DataParallel>();

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  /**
   * The flat bucket buffers of the last bucket layout (which tensors, in which order), kept
   * from step to step as DDP keeps its buckets: allocating ~25 MB buffers afresh every step
   * cost page faults, measured at 350 ms a step of a 6×384 model's 43 MB of gradients with 2
   * ranks on 2 cores, 10 times the collective itself.
   */
  private buffers: { key: string; flats: Tensor[] } | null = null;

  constructor(
    readonly group: ProcessGroup,
    private readonly bucketCapBytes = BUCKET_CAP_MB * 2 ** 20,
  ) {
    this.rank = group.rank;
    this.worldSize = group.worldSize;
  }

  /**
   * The data-parallel context of a training run on `device`: the default process group when one
   * was joined (initProcessGroup), else one joined from the launch environment (torchrun's
   * WORLD_SIZE > 1; NCCL for a CUDA device, else Gloo; TORCH_RLHF_DDP_TIMEOUT seconds per
   * collective, default 1800, and at least 2 minutes to join), else null: a single process.
   */
  static async fromEnvironment(device = 'cpu', env: NodeJS.ProcessEnv = process.env): Promise<DataParallel | null> {
    let group = getProcessGroup();
    if (!group) {
      const le = launchEnv(env);
      if (!le || le.worldSize === 1) return null;
      const raw = env.TORCH_RLHF_DDP_TIMEOUT;
      const seconds = raw === undefined || raw === '' ? 1800 : Number(raw);
      if (!(seconds > 0)) throw new Error(`distributed: TORCH_RLHF_DDP_TIMEOUT must be a positive number of seconds, got '${raw}'`);
      // Starting up (loading libtorch, the model, the data) may take longer than a collective is allowed to: the join
      // waits at least 2 minutes.
      const timeoutMs = Math.round(seconds * 1000);
      group = await initProcessGroup({
        timeoutMs,
        joinTimeoutMs: Math.max(timeoutMs, 120_000),
        backend: device.startsWith('cuda') ? 'nccl' : 'gloo',
      });
    }
    if (group.worldSize === 1) return null;
    let dp = perGroup.get(group);
    if (!dp) perGroup.set(group, (dp = new DataParallel(group)));
    return dp;
  }

  /** Rank 0 writes checkpoints, logs and reports. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  shard<T>(items: T[]): T[] {
    return shardBatch(items, this.rank, this.worldSize);
  }

  /** Makes every rank's parameters rank 0's. */
  async broadcastParameters(params: Tensor[]): Promise<void> {
    await this.bucketed(params, (flat) => this.group.broadcast(flat, 0));
  }

  /**
   * Averages the parameters' gradients across ranks, in place. A parameter that got no gradient
   * on some rank counts zero there; one that got none anywhere keeps none (AdamW skips it).
   */
  async allReduceGradients(params: Tensor[]): Promise<void> {
    const has = tensor(
      params.map((p) => (p.grad ? 1 : 0)),
      { dtype: 'float32' },
    );
    try {
      await this.group.allReduce(has, 'max').wait();
      const flags = has.tolist() as number[];
      const used = params.filter((_, i) => flags[i]! > 0);
      noGrad(() => {
        for (const p of used)
          if (!p.grad) {
            const zero = tidy(() => p.detach().mul(0));
            p.grad = zero;
            zero.dispose();
          }
      });
      await this.bucketed(
        used.map((p) => p.grad!),
        (flat) => this.group.allReduce(flat, 'avg'),
      );
    } finally {
      has.dispose();
    }
  }

  /** Flattens tensors into buckets, runs one collective per bucket (all in flight), copies the results back. */
  private async bucketed(tensors: Tensor[], collective: (flat: Tensor) => { wait(): Promise<void> }): Promise<void> {
    const order = [...tensors.keys()].reverse(); // DDP buckets in reverse order: the last layers' gradients are ready first
    const buckets = bucketsOf(
      order.map((i) => tensors[i]!),
      this.bucketCapBytes,
    ).map((b) => b.map((j) => tensors[order[j]!]!));
    const flats = this.flatBuffers(buckets);
    const pieces = (k: number, fn: (t: Tensor, piece: Tensor) => void) =>
      noGrad(() => {
        let offset = 0;
        for (const t of buckets[k]!) {
          tidy(() => fn(t.detach(), flats[k]!.narrow(0, offset, t.numel()).view(t.shape)));
          offset += t.numel();
        }
      });
    buckets.forEach((_, k) => pieces(k, (t, piece) => void piece.copy_(t)));
    await Promise.all(flats.map((f) => collective(f).wait()));
    buckets.forEach((_, k) => pieces(k, (t, piece) => void t.copy_(piece)));
  }

  /** The flat buffers for these buckets: the kept ones when the layout is the last one's. */
  private flatBuffers(buckets: Tensor[][]): Tensor[] {
    const key = buckets.map((b) => b.map((t) => `${t.dtype}@${t.device}:${t.numel()}`).join(',')).join('|');
    if (this.buffers?.key !== key) {
      this.release();
      const flats = buckets.map((b) => keep(empty([b.reduce((n, t) => n + t.numel(), 0)], { dtype: b[0]!.dtype, device: b[0]!.device })));
      this.buffers = { key, flats };
    }
    return this.buffers.flats;
  }

  /** Frees the bucket buffers (they are made again at the next collective that needs them). */
  release(): void {
    if (this.buffers) dispose(this.buffers.flats);
    this.buffers = null;
  }

  /** The sums of these numbers across ranks. */
  async sum(values: number[]): Promise<number[]> {
    if (values.length === 0) return [];
    const t = tensor(values, { dtype: 'float64' });
    try {
      await this.group.allReduce(t, 'sum').wait();
      return t.tolist() as number[];
    } finally {
      t.dispose();
    }
  }

  /** Metrics averaged across ranks, each rank's weighted by `weight` (its examples or tokens). Every rank must pass the same keys. */
  async reduceMetrics(metrics: Record<string, number>, weight = 1): Promise<Record<string, number>> {
    const keys = Object.keys(metrics).sort();
    const sums = await this.sum([weight, ...keys.map((k) => metrics[k]! * weight)]);
    const total = sums[0]!;
    return Object.fromEntries(keys.map((k, i) => [k, total > 0 ? sums[i + 1]! / total : metrics[k]!]));
  }

  /** Every rank's CPU generator state (base64, as captureRng), in rank order, so that rank 0 can checkpoint them all. */
  async gatherRngStates(): Promise<string[]> {
    const mine = new Uint8Array(Buffer.from(captureRng(), 'base64'));
    const t = fromBytes(mine, 'uint8', [mine.length]);
    try {
      const all = await this.group.allGather(t).wait();
      try {
        return all.map((x) => Buffer.from(toBytes(x)).toString('base64'));
      } finally {
        dispose(all);
      }
    } finally {
      t.dispose();
    }
  }

  async barrier(): Promise<void> {
    await this.group.barrier().wait();
  }
}
