// Durable appends to a log file (the rankings `rlhf label` collects): each line is written with
// one write(2), then fsynced before the caller is told it is saved, so a crash or a kill -9 loses
// at most the line being written. A line torn by a crash mid-write is the file's last, without
// its newline; dropTornTail cuts it off when the file is opened again.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Appends `line` and a newline to `path` and fsyncs it (and, when the file is new, its directory). */
export function appendLineDurable(path: string, line: string): void {
  if (line.includes('\n')) throw new Error(`appendLineDurable: the line must not contain a newline`);
  const created = !existsSync(path);
  const fd = openSync(path, 'a');
  try {
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (created) fsyncDir(dirname(path));
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems cannot fsync a directory; the file's own data is synced regardless.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The complete lines of `path` (none when it does not exist), after cutting off a torn last line. Returns how many bytes were cut. */
export function dropTornTail(path: string): { lines: string[]; cut: number } {
  if (!existsSync(path)) return { lines: [], cut: 0 };
  const buf = readFileSync(path);
  const end = buf.lastIndexOf(0x0a) + 1;
  if (end < buf.length) truncateSync(path, end);
  const lines = buf.subarray(0, end).toString('utf8').split('\n');
  lines.pop();
  return { lines, cut: buf.length - end };
}
