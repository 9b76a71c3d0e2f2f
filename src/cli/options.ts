// Every field of a trainer config as a kebab-case flag (--learning-rate, --kl-coef), from the
// config's field table (its help, type and default, or how the default is derived), plus
// --config file.json; flags override the file, the file overrides the defaults. Also the flags
// several commands share, declared once here.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describeDefault, flagType, type Field } from '../trainers/config-fields.js';

export const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** The key commander stores a flag's value under: '--ptx-data' → 'ptxData'. */
export const optionKey = (flag: string): string => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** --skip-invalid, declared once for every command that reads data files (and honoured by each). */
export function addSkipInvalidFlag(cmd: Command): Command {
  return cmd.option('--skip-invalid', 'skip and count malformed lines (invalid UTF-8 or JSON, bad records) instead of stopping');
}

/** A config's field table (sftFields, ppoFields, …). */
type ConfigFields = Readonly<Record<string, Field<unknown>>>;

/**
 * Adds one `--flag <value>` per field of a config's table (except the ones listed in `skip`):
 * its help, the config field it sets, and its default, or how the default is derived.
 */
export function addConfigFlags(cmd: Command, name: string, fields: ConfigFields, skip: string[] = []): Command {
  for (const [k, f] of Object.entries(fields)) {
    if (skip.includes(k)) continue;
    const kind = flagType(f) === 'boolean' ? 'true|false' : flagType(f);
    const dflt = describeDefault(f);
    const where = `${name}.${k}${dflt === null ? '' : `, default: ${dflt}`}`;
    cmd.option(`--${kebab(k)} <${kind === 'text' ? 'value' : kind}>`, `${f.help} (${where})`);
  }
  return cmd.option('--config <file.json>', `a JSON file of ${name} fields (flags override it)`);
}

/** The config fields given on the command line or in --config, typed after their declarations. */
export function configFromFlags(opts: Record<string, unknown>, fields: ConfigFields, name: string): Record<string, unknown> {
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
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile))
      throw new Error(`${opts.config}: expected a JSON object of ${name} fields`);
  }
  const out: Record<string, unknown> = { ...fromFile };
  for (const [k, f] of Object.entries(fields)) {
    const raw = opts[k];
    if (raw === undefined) continue;
    const flag = `--${kebab(k)}`;
    const type = flagType(f);
    if (type === 'number') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new Error(`${flag} expects a number, got '${String(raw)}'`);
      out[k] = n;
    } else if (type === 'boolean') {
      // resumeFromCheckpoint also takes a checkpoint directory.
      if (k === 'resumeFromCheckpoint' && raw !== 'true' && raw !== 'false') out[k] = raw;
      else if (raw !== 'true' && raw !== 'false') throw new Error(`${flag} expects true or false, got '${String(raw)}'`);
      else out[k] = raw === 'true';
    } else out[k] = raw;
  }
  return out;
}
