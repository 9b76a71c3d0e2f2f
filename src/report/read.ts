// Reads what a training run leaves in its directory (metrics, samples, configs, the demo's
// comparison and summary) into plain values. Errors name the file, and the line for JSONL,
// because a report is usually built long after the run and the reader has to find the culprit.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

/** One logged step: `step` plus its numeric metrics (null where the writer logged NaN/Infinity). */
export interface MetricRow {
  step: number;
  values: Record<string, number | null>;
}

/** One line of a PPO run's samples.jsonl. */
export interface Sample {
  iteration: number;
  prompt: string;
  answer: string;
  score: number | null;
}

/** One line of the demo's comparison.jsonl: the same held-out prompt answered before and after PPO. */
export interface Comparison {
  prompt: string;
  sft: string;
  ppo: string;
  sftScore: number | null;
  ppoScore: number | null;
}

export interface ConfigFile {
  file: string;
  /** `sft`, `reward`, `ppo`, … — the part of `<stage>_config.json` before `_config`. */
  stage: string;
  value: unknown;
}

/** Everything found in one run directory; only `dir` is always set. */
export interface RunFiles {
  dir: string;
  metrics?: { file: string; rows: MetricRow[] };
  samples?: { file: string; rows: Sample[] };
  /** The online trainers' held-out answers (eval_samples.jsonl): the same prompts at each evaluation. */
  evalSamples?: { file: string; rows: Sample[] };
  /** The reward model's scores of its held-out rankings, best answer first (eval_scores.jsonl). */
  evalScores?: { file: string; rows: number[][] };
  comparison?: { file: string; rows: Comparison[] };
  summary?: { file: string; value: Record<string, unknown> };
  /** The trainer's findings that the run learned nothing (warnings.json, src/trainers/learning-check.ts). */
  warnings?: { file: string; stage: string; messages: string[] };
  configs: ConfigFile[];
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: cannot be read (${(err as Error).message})`);
  }
}

/**
 * Parses every non-blank line as a JSON object and hands it to `convert`; errors say file:line.
 * An unparsable last line without its newline is a write cut short by a kill: a run killed
 * mid-step is still worth a report, so that line is skipped with a warning.
 */
function parseJsonl<T>(file: string, text: string, convert: (obj: Record<string, unknown>, where: string) => T): T[] {
  const rows: T[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const where = `${file}:${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      if (i === lines.length - 1) {
        console.warn(`${where}: skipped an unfinished last line (the run stopped while writing it)`);
        break;
      }
      throw new Error(`${where}: malformed JSON line (${(err as Error).message})`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
      throw new Error(`${where}: expected a JSON object, got ${Array.isArray(obj) ? 'an array' : JSON.stringify(obj)}`);
    rows.push(convert(obj as Record<string, unknown>, where));
  }
  return rows;
}

function requireNumber(obj: Record<string, unknown>, key: string, where: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where}: "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}
function requireString(obj: Record<string, unknown>, key: string, where: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new Error(`${where}: "${key}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}
// Scores may be missing or null: JSON has no NaN, so a NaN score arrives as null.
function optionalNumber(obj: Record<string, unknown>, key: string, where: string): number | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number') throw new Error(`${where}: "${key}" must be a number or null, got ${JSON.stringify(v)}`);
  return v;
}

function metricRow(obj: Record<string, unknown>, where: string): MetricRow {
  const step = requireNumber(obj, 'step', where);
  const values: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'step') continue;
    // Strings and nested values are not plottable; null is a NaN the writer could not encode.
    if (typeof v === 'number') values[k] = Number.isFinite(v) ? v : null;
    else if (v === null) values[k] = null;
  }
  return { step, values };
}

function sampleRow(obj: Record<string, unknown>, where: string): Sample {
  return {
    iteration: requireNumber(obj, 'iteration', where),
    prompt: requireString(obj, 'prompt', where),
    answer: requireString(obj, 'answer', where),
    score: optionalNumber(obj, 'score', where),
  };
}

function scoresRow(obj: Record<string, unknown>, where: string): number[] {
  const v = obj.scores;
  if (!Array.isArray(v) || v.length < 2 || !v.every((x) => typeof x === 'number'))
    throw new Error(`${where}: "scores" must be an array of 2 or more numbers, got ${JSON.stringify(v)}`);
  return v as number[];
}

function comparisonRow(obj: Record<string, unknown>, where: string): Comparison {
  return {
    prompt: requireString(obj, 'prompt', where),
    sft: requireString(obj, 'sft', where),
    ppo: requireString(obj, 'ppo', where),
    sftScore: optionalNumber(obj, 'sftScore', where),
    ppoScore: optionalNumber(obj, 'ppoScore', where),
  };
}

async function readJsonFile(file: string): Promise<unknown> {
  const text = await readIfPresent(file);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: malformed JSON (${(err as Error).message})`);
  }
}

/** A JSONL file of the run directory, its rows converted (errors name file:line); undefined when it is not there. */
async function readJsonlIn<T>(
  dir: string,
  name: string,
  convert: (obj: Record<string, unknown>, where: string) => T,
): Promise<{ file: string; rows: T[] } | undefined> {
  const file = join(dir, name);
  const text = await readIfPresent(file);
  return text === undefined ? undefined : { file, rows: parseJsonl(file, text, convert) };
}

/** Reads one run directory. A missing metrics.jsonl is not an error here; the caller decides. */
export async function readRunFiles(dir: string): Promise<RunFiles> {
  const run: RunFiles = { dir, configs: [] };

  const metrics = await readJsonlIn(dir, 'metrics.jsonl', metricRow);
  if (metrics) run.metrics = metrics;
  const samples = await readJsonlIn(dir, 'samples.jsonl', sampleRow);
  if (samples) run.samples = samples;
  const evalSamples = await readJsonlIn(dir, 'eval_samples.jsonl', sampleRow);
  if (evalSamples) run.evalSamples = evalSamples;
  const evalScores = await readJsonlIn(dir, 'eval_scores.jsonl', scoresRow);
  if (evalScores) run.evalScores = evalScores;
  const comparison = await readJsonlIn(dir, 'comparison.jsonl', comparisonRow);
  if (comparison) run.comparison = comparison;

  const summaryFile = join(dir, 'summary.json');
  const summary = await readJsonFile(summaryFile);
  if (summary !== undefined) {
    if (summary === null || typeof summary !== 'object' || Array.isArray(summary))
      throw new Error(`${summaryFile}: expected a JSON object of name → value`);
    run.summary = { file: summaryFile, value: summary as Record<string, unknown> };
  }

  const warningsFile = join(dir, 'warnings.json');
  const warnings = await readJsonFile(warningsFile);
  if (warnings !== undefined) {
    const w = warnings as { stage?: unknown; warnings?: unknown };
    if (
      typeof w !== 'object' ||
      w === null ||
      typeof w.stage !== 'string' ||
      !Array.isArray(w.warnings) ||
      !w.warnings.every((m) => typeof m === 'string')
    )
      throw new Error(`${warningsFile}: expected {stage, warnings: [text, …]}`);
    run.warnings = { file: warningsFile, stage: w.stage, messages: w.warnings as string[] };
  }

  const names = (await fsp.readdir(dir)).filter((n) => /^[A-Za-z0-9-]+_config\.json$/.test(n)).sort();
  for (const name of names) {
    const file = join(dir, name);
    run.configs.push({ file, stage: name.slice(0, -'_config.json'.length), value: await readJsonFile(file) });
  }
  return run;
}
