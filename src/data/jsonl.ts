// Streaming JSONL (one JSON value per line) for datasets that may not fit in memory: lines are
// read one at a time, so memory stays constant whatever the file size. Line numbers are 1-based
// physical lines, blank lines included, so that an error's file:line points at the right place in
// an editor. Lines are split from the raw bytes and each is decoded strictly: Node's streaming
// decoder would turn invalid UTF-8 (a Latin-1 file, a cut character) into U+FFFD silently, and
// the damaged text would be trained on.
import { promises as fsp } from 'node:fs';

export interface JsonlLine {
  /** 1-based line number in the file. */
  line: number;
  value: unknown;
}

export interface ReadJsonlOptions {
  /**
   * Called for each line that cannot be read, which is then skipped: invalid UTF-8 or invalid
   * JSON. Without it such a line throws `${path}:${line}: invalid UTF-8 (…)` or
   * `${path}:${line}: invalid JSON (…)`. `reason` is that message without the location.
   */
  onInvalidLine?: (line: number, reason: string) => void;
}

const INVALID_UTF8 = 'invalid UTF-8 (is the file in another encoding, such as Latin-1?)';

/**
 * The lines of a byte stream without their ends, which are "\n", "\r\n" or a lone "\r" (as
 * node:readline splits). A line may span chunks; "\r\n" may be split between two.
 */
async function* byteLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
  let pending: Buffer[] = []; // the start of a line that began in earlier chunks
  let afterCR = false; // the previous chunk ended with "\r": a "\n" first in this one is its pair
  for await (const chunk of chunks) {
    let start = afterCR && chunk[0] === 0x0a ? 1 : 0;
    afterCR = false;
    // The next "\n" and "\r", each searched again only once passed (-1: none left in the chunk).
    let lf = chunk.indexOf(0x0a, start);
    let cr = chunk.indexOf(0x0d, start);
    for (;;) {
      if (lf !== -1 && lf < start) lf = chunk.indexOf(0x0a, start);
      if (cr !== -1 && cr < start) cr = chunk.indexOf(0x0d, start);
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      if (end === -1) break;
      pending.push(chunk.subarray(start, end));
      yield pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      pending = [];
      start = end + 1;
      if (end === cr) {
        if (end + 1 === chunk.length) afterCR = true;
        else if (chunk[end + 1] === 0x0a) start++;
      }
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) yield Buffer.concat(pending);
}

/** Opens `path` up front, so a missing or unreadable file fails with its name before any line. */
async function openForReading(path: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(path, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new Error(`Cannot read JSONL file ${path}: ${why}`, { cause: e });
  }
}

/**
 * Yields `{ line, value }` for each non-blank line of a JSONL file. Accepts a UTF-8 BOM, CRLF
 * line ends and a last line without a newline; blank or whitespace-only lines are skipped.
 */
export async function* readJsonl(path: string, options: ReadJsonlOptions = {}): AsyncGenerator<JsonlLine, void, undefined> {
  const handle = await openForReading(path);
  const stream = handle.createReadStream();
  // fatal: invalid bytes throw instead of becoming U+FFFD; ignoreBOM: the BOM is dropped below,
  // on the first line only (elsewhere U+FEFF is content, and bad JSON).
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const invalid = (line: number, reason: string): void => {
    if (options.onInvalidLine === undefined) throw new Error(`${path}:${line}: ${reason}`);
    options.onInvalidLine(line, reason);
  };
  let line = 0;
  try {
    for await (const bytes of byteLines(stream)) {
      line++;
      let raw: string;
      try {
        raw = decoder.decode(bytes);
      } catch {
        invalid(line, INVALID_UTF8);
        continue;
      }
      const text = line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        invalid(line, `invalid JSON (${(e as Error).message})`);
        continue;
      }
      yield { line, value };
    }
  } catch (e) {
    // Read errors after opening (e.g. the path is a directory) surface here without a name.
    if (e instanceof Error && (e as NodeJS.ErrnoException).code !== undefined) {
      throw new Error(`Cannot read JSONL file ${path}: ${e.message}`, { cause: e });
    }
    throw e;
  } finally {
    // Also runs when the consumer stops early (break/return), so the file is never left open.
    stream.destroy();
    await handle.close().catch(() => undefined);
  }
}
