// Atomic file replacement: write a temporary file beside the target, fsync it, rename it
// over the target. A crash or error at any point leaves either the old file or the new one,
// never a torn mix, which matters for checkpoints that take minutes to produce.
import { closeSync, fsyncSync, openSync, promises as fsp, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

// One write(2) moves at most ~2 GiB on Linux, so large buffers go out in slices.
const MAX_WRITE = 1 << 30;

/** A unique sibling of `path`: same directory, so the rename stays on one filesystem. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

// tempPathFor puts the writer's process id in the name, so that a later process can tell the
// leftovers of a killed writer (safe to delete) from a write still in progress.
const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/** The process id that wrote a temporary file of ours named `name`, or null when it is not one. */
export function tempFileOwner(name: string): number | null {
  const m = TEMP_NAME.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * The chunks of `data`, checked one by one as they are written. An iterable is read lazily, so a
 * writer can make each chunk only when it is due (a checkpoint's tensors one at a time, instead
 * of every tensor's bytes at once beside the tensors themselves).
 */
function* toChunks(data: Uint8Array | Iterable<Uint8Array>): Generator<Uint8Array> {
  let i = 0;
  for (const c of data instanceof Uint8Array ? [data] : data) {
    if (!(c instanceof Uint8Array))
      throw new TypeError(`writeFileAtomic: chunk ${i} must be a Uint8Array, got ${c === null ? 'null' : typeof c}`);
    yield c;
    i++;
  }
}

/**
 * Replaces `path` with `data` (one buffer, or chunks written back to back, made as they are due) atomically.
 * On failure the temporary file is removed and an existing `path` is left untouched.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | Iterable<Uint8Array>): Promise<void> {
  const chunks = toChunks(data);
  const tmp = tempPathFor(path);
  // 'wx' fails rather than reuse a file someone else is writing.
  const fh = await fsp.open(tmp, 'wx');
  try {
    try {
      for (const chunk of chunks) {
        for (let off = 0; off < chunk.byteLength; ) {
          const { bytesWritten } = await fh.write(chunk, off, Math.min(chunk.byteLength - off, MAX_WRITE));
          off += bytesWritten;
        }
      }
      await fh.sync(); // data on disk before the rename makes it visible
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dirname(path));
}

/** Synchronous twin of {@link writeFileAtomic}. */
export function writeFileAtomicSync(path: string, data: Uint8Array | Iterable<Uint8Array>): void {
  const chunks = toChunks(data);
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'wx');
  try {
    try {
      for (const chunk of chunks) {
        for (let off = 0; off < chunk.byteLength; ) off += writeSync(fd, chunk, off, Math.min(chunk.byteLength - off, MAX_WRITE));
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the original error is the one worth reporting
    }
    throw err;
  }
  syncDirectorySync(dirname(path));
}

// The rename is durable only once the directory entry is on disk. Some platforms and
// filesystems (Windows, some network mounts) cannot fsync a directory; the file itself
// is already complete by then, so that is not worth failing the write for.
async function syncDirectory(dir: string): Promise<void> {
  try {
    const dh = await fsp.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // best effort, see above
  }
}
function syncDirectorySync(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // best effort, see above
  }
}

function jsonBytes(value: unknown): Uint8Array {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) throw new TypeError(`writeJsonAtomic: ${typeof value} cannot be written as JSON`);
  return Buffer.from(text + '\n', 'utf8');
}

/** Writes `value` as pretty-printed JSON plus a trailing newline, atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, jsonBytes(value));
}

/** Synchronous twin of {@link writeJsonAtomic}. */
export function writeJsonAtomicSync(path: string, value: unknown): void {
  writeFileAtomicSync(path, jsonBytes(value));
}
