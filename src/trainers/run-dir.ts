// A run directory's checkpoint folders on disk, and what killed runs leave behind in it.
// A checkpoint is written into .checkpoint-N.tmp-PID/ and renamed into place as checkpoint-N/,
// with trainer_state.json written last; a checkpoint-N/ without it or its weights is an
// interrupted delete, which resume must never load and rotation must not leave behind.
// Replacing an existing checkpoint-N moves the old one aside to .checkpoint-N.old-PID/ until
// the new one is in place, so a kill at any moment leaves checkpoint-N or its aside copy, which
// the next start puts back. Temporaries carry their writer's process id: at start, those of dead
// processes are deleted (a killed save leaves hundreds of MB) and those of live ones left alone.
import { existsSync, readdirSync, renameSync, rmSync, type Dirent } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { tempFileOwner } from '../io/atomic.js';

const CHECKPOINT = /^checkpoint-(\d+)$/;
const CHECKPOINT_TEMP = /^\.(checkpoint-\d+)\.(tmp|old)-(\d+)$/;
/** Written last into a checkpoint, deleted first from one (see removeCheckpoint). */
const MARKER = 'trainer_state.json';
const REQUIRED = ['optimizer.safetensors', MARKER];
/** The model's weights: the full model, or (training a LoRA adapter) PEFT's adapter file. */
const WEIGHTS = ['model.safetensors', 'adapter_model.safetensors'];

/** Whether `dir` holds everything loadCheckpoint reads. */
export function isCompleteCheckpoint(dir: string): boolean {
  return REQUIRED.every((f) => existsSync(join(dir, f))) && WEIGHTS.some((f) => existsSync(join(dir, f)));
}

/** Every checkpoint-N folder of `outputDir`, complete or not, oldest first. */
function checkpointFolders(outputDir: string): { step: number; dir: string }[] {
  if (!existsSync(outputDir)) return [];
  return readdirSync(outputDir)
    .map((name) => ({ m: CHECKPOINT.exec(name), name }))
    .filter((x) => x.m !== null)
    .map((x) => ({ step: Number(x.m![1]), dir: join(outputDir, x.name) }))
    .sort((a, b) => a.step - b.step);
}

/** The complete checkpoints of `outputDir`, oldest first. */
export function listCheckpoints(outputDir: string): { step: number; dir: string }[] {
  return checkpointFolders(outputDir).filter((c) => isCompleteCheckpoint(c.dir));
}

/** The folder a checkpoint is written into before installCheckpoint renames it into place. */
export function checkpointTempDir(dir: string): string {
  return join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
}

/** Deletes a checkpoint folder, its marker first, so that a kill midway leaves it visibly incomplete. */
export function removeCheckpoint(dir: string): void {
  rmSync(join(dir, MARKER), { force: true });
  rmSync(dir, { recursive: true, force: true });
}

/** The moments between the renames of installCheckpoint (where a test may kill the process). */
export type InstallStep = 'aside' | 'installed';

/**
 * Renames the finished folder `tmp` to `dir`. An existing `dir` is moved aside first and deleted
 * only once its successor is in place, so there is never a moment without one of the two.
 */
export function installCheckpoint(tmp: string, dir: string, onStep?: (step: InstallStep) => void): void {
  const aside = join(dirname(dir), `.${basename(dir)}.old-${process.pid}`);
  const replacing = existsSync(dir);
  if (replacing) {
    rmSync(aside, { recursive: true, force: true }); // rename cannot replace a folder that holds files
    renameSync(dir, aside);
    onStep?.('aside');
  }
  try {
    renameSync(tmp, dir);
  } catch (err) {
    if (replacing) renameSync(aside, dir);
    throw err;
  }
  onStep?.('installed');
  if (replacing) removeCheckpoint(aside);
}

/** Deletes incomplete checkpoint folders, and all but the newest `keepLast` complete ones (0: keep all). */
export function rotateCheckpoints(outputDir: string, keepLast: number): void {
  for (const c of checkpointFolders(outputDir)) if (!isCompleteCheckpoint(c.dir)) removeCheckpoint(c.dir);
  if (keepLast > 0) for (const old of listCheckpoints(outputDir).slice(0, -keepLast)) removeCheckpoint(old.dir);
}

/** Whether process `pid` exists; EPERM means it does, under another user. */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Tidies what killed runs left in `outputDir` before a run starts: a checkpoint moved aside and
 * never replaced is put back; their temporary folders and files, and incomplete checkpoint
 * folders, are deleted. The temporaries of live processes (a run still saving) are left alone.
 */
export function recoverRunDir(outputDir: string): void {
  if (!existsSync(outputDir)) return;
  for (const name of readdirSync(outputDir)) {
    const m = CHECKPOINT_TEMP.exec(name);
    if (!m || isAlive(Number(m[3]))) continue;
    const path = join(outputDir, name);
    const target = join(outputDir, m[1]!);
    // An aside copy is the last good checkpoint-N when its successor never arrived.
    if (m[2] === 'old' && isCompleteCheckpoint(path) && !isCompleteCheckpoint(target)) {
      removeCheckpoint(target);
      renameSync(path, target);
    } else removeCheckpoint(path);
  }
  rotateCheckpoints(outputDir, 0);
  removeStaleTempFiles(outputDir);
}

/** Deletes the atomic writer's temporary files of dead processes in `dir` and its subfolders. */
function removeStaleTempFiles(dir: string): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // deleted meanwhile, or unreadable: nothing of ours to tidy there
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) removeStaleTempFiles(path);
    else {
      const owner = tempFileOwner(e.name);
      if (owner !== null && !isAlive(owner)) rmSync(path, { force: true });
    }
  }
}
