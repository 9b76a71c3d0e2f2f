// What the training loops share about a data-parallel run's state: each rank samples with its
// own seed, and a checkpoint (written by rank 0 alone) records the world size and every rank's
// generator, so that resuming at the same world size continues each rank exactly, and resuming
// at another is refused instead of silently diverging.
import { restoreRng } from '../trainers/checkpoint.js';
import type { DataParallel } from './ddp.js';

/** The seed of this rank's sampling (rank 0 keeps the run's seed, as a single process would). */
export const rankSeed = (seed: number, dp: DataParallel | null): number => seed + (dp?.rank ?? 0);

/** Whether this process writes the run's files (rank 0, or a single process). */
export const writesFiles = (dp: DataParallel | null): boolean => dp === null || dp.isMain;

/** The checkpoint fields of a data-parallel run (a collective: every rank calls it at the same step). */
export async function distributedCheckpointState(dp: DataParallel | null): Promise<Record<string, unknown>> {
  if (!dp) return {};
  return { worldSize: dp.worldSize, rngStates: await dp.gatherRngStates() };
}

/** Restores this rank's generator from a checkpoint, refusing one written at another world size. */
export function restoreDistributedRng(
  dir: string,
  extra: Record<string, unknown> | undefined,
  rngState: string,
  dp: DataParallel | null,
): void {
  const saved = typeof extra?.worldSize === 'number' ? extra.worldSize : 1;
  const now = dp?.worldSize ?? 1;
  if (saved !== now)
    throw new Error(
      `${dir}: this checkpoint was written by a run of ${saved} process(es); an exact resume needs the same world size, and this ` +
        `run has ${now}`,
    );
  const states = extra?.rngStates;
  restoreRng(dp && Array.isArray(states) && typeof states[dp.rank] === 'string' ? (states[dp.rank] as string) : rngState);
}
