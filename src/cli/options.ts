// Every field of a trainer config as a kebab-case flag (--learning-rate, --kl-coef), plus
// --config file.json; flags override the file, the file overrides the defaults. Also the flags
// several commands share, declared once here.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';

export const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** The key commander stores a flag's value under: '--ptx-data' → 'ptxData'. */
export const optionKey = (flag: string): string => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** --skip-invalid, declared once for every command that reads data files (and honoured by each). */
export function addSkipInvalidFlag(cmd: Command): Command {
  return cmd.option('--skip-invalid', 'skip and count malformed lines (invalid UTF-8 or JSON, bad records) instead of stopping');
}

/** Adds one `--flag <value>` per field of `defaults` (except the ones listed in `skip`). */
export function addConfigFlags(cmd: Command, name: string, defaults: Record<string, unknown>, skip: string[] = []): Command {
  for (const [k, v] of Object.entries(defaults)) {
    if (skip.includes(k)) continue;
    const kind = typeof v === 'boolean' ? 'true|false' : typeof v === 'number' ? 'number' : 'value';
    cmd.option(`--${kebab(k)} <${kind}>`, `${name}.${k} (default: ${JSON.stringify(v)})`);
  }
  return cmd.option('--config <file.json>', `a JSON file of ${name} fields (flags override it)`);
}

/** The config fields given on the command line or in --config, typed after the defaults. */
export function configFromFlags(opts: Record<string, unknown>, defaults: Record<string, unknown>, name: string): Record<string, unknown> {
  let fromFile: Record<string, unknown> = {};
  if (typeof opts.config === 'string') {
    let text: string;
    try {
      text = readFileSync(opts.config, 'utf8');
    } catch {
      throw new Error(`${opts.config}: cannot read the config file`);
    }
    try {
      fromFile = JSON.parse(text);
    } catch (err) {
      throw new Error(`${opts.config}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) throw new Error(`${opts.config}: expected a JSON object of ${name} fields`);
  }
  const out: Record<string, unknown> = { ...fromFile };
  for (const [k, dflt] of Object.entries(defaults)) {
    const raw = opts[k];
    if (raw === undefined) continue;
    const flag = `--${kebab(k)}`;
    if (typeof dflt === 'number') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new Error(`${flag} expects a number, got '${String(raw)}'`);
      out[k] = n;
    } else if (typeof dflt === 'boolean') {
      // resumeFromCheckpoint also takes a checkpoint directory.
      if (k === 'resumeFromCheckpoint' && raw !== 'true' && raw !== 'false') out[k] = raw;
      else if (raw !== 'true' && raw !== 'false') throw new Error(`${flag} expects true or false, got '${String(raw)}'`);
      else out[k] = raw === 'true';
    } else out[k] = raw;
  }
  return out;
}
