// Streaming JSONL (one JSON value per line) for datasets that may not fit in memory: lines are
// read one at a time through node:readline, so memory stays constant whatever the file size.
// Line numbers are 1-based physical lines, blank lines included, so that an error's file:line
// points at the right place in an editor.
import { createReadStream, promises as fsp } from 'node:fs';
import { createInterface } from 'node:readline';

export interface JsonlLine {
  /** 1-based line number in the file. */
  line: number;
  value: unknown;
}

export interface ReadJsonlOptions {
  /**
   * Called for each line that is not valid JSON, which is then skipped. Without it such a line
   * throws `${path}:${line}: invalid JSON (…)`. `reason` is that message without the location.
   */
  onInvalidJson?: (line: number, reason: string) => void;
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
  const stream = handle.createReadStream({ encoding: 'utf8' });
  // crlfDelay: Infinity keeps "\r\n" split across two chunks one line end, not two.
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of lines) {
      line++;
      // Node's UTF-8 decoder keeps the BOM; JSON.parse would reject it.
      const text = line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        const reason = `invalid JSON (${(e as Error).message})`;
        if (options.onInvalidJson === undefined) throw new Error(`${path}:${line}: ${reason}`);
        options.onInvalidJson(line, reason);
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
    lines.close();
    stream.destroy();
    await handle.close().catch(() => undefined);
  }
}
