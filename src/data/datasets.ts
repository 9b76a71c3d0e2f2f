// Loading a JSONL dataset for one RLHF stage: stream the file, validate each record, and
// either stop at the first bad line (the default: bad data should be fixed, not trained on) or,
// with skipInvalid, skip bad lines while reporting every one, so nothing vanishes silently.
import { readJsonl } from './jsonl.js';
import { exampleParsers, type PreferenceExample, type PreferencePair, type PromptExample, type SFTExample } from './formats.js';
import { mulberry32, shuffle } from './random.js';

export interface LoadDatasetOptions {
  /** Skip invalid lines (invalid UTF-8, bad JSON or a bad record) and list them in `skipped` instead of throwing. Default false. */
  skipInvalid?: boolean;
}

export interface SkippedLine {
  /** 1-based line number in the file. */
  line: number;
  /** Why it was skipped, e.g. "field 'completion' must be a non-empty string (missing)". */
  reason: string;
}

export interface LoadedDataset<T> {
  examples: T[];
  skipped: SkippedLine[];
  path: string;
}

/**
 * Streams the valid records of a JSONL file as `{ line, example }`, for callers that work line by
 * line. A bad line (invalid UTF-8, bad JSON, a bad record) throws `${path}:${line}: reason`, or
 * with skipInvalid is added to `skipped` and passed over.
 */
export async function* readExamples<T>(
  path: string,
  parse: (value: unknown) => T,
  options: LoadDatasetOptions,
  skipped: SkippedLine[],
): AsyncGenerator<{ line: number; example: T }, void, undefined> {
  const skipInvalid = options.skipInvalid ?? false;
  const skip = (line: number, reason: string): void => {
    skipped.push({ line, reason });
  };
  for await (const { line, value } of readJsonl(path, skipInvalid ? { onInvalidLine: skip } : {})) {
    let example: T;
    try {
      example = parse(value);
    } catch (e) {
      const reason = (e as Error).message;
      if (!skipInvalid) throw new Error(`${path}:${line}: ${reason}`);
      skip(line, reason);
      continue;
    }
    yield { line, example };
  }
}

async function loadDataset<T>(path: string, parse: (value: unknown) => T, options: LoadDatasetOptions): Promise<LoadedDataset<T>> {
  const examples: T[] = [];
  const skipped: SkippedLine[] = [];
  for await (const { example } of readExamples(path, parse, options, skipped)) examples.push(example);
  if (examples.length === 0) {
    const first = skipped[0];
    const why =
      first === undefined
        ? 'it is empty or has only blank lines'
        : `all ${skipped.length} non-blank lines are invalid (first, line ${first.line}: ${first.reason})`;
    throw new Error(`${path}: no examples; ${why}`);
  }
  return { examples, skipped, path };
}

/** Loads SFT data: {prompt, completion} or {messages: [...]} per line. */
export function loadSFTDataset(path: string, options: LoadDatasetOptions = {}): Promise<LoadedDataset<SFTExample>> {
  return loadDataset(path, exampleParsers.sft, options);
}

/** Loads reward-model data: {prompt, chosen, rejected} or {prompt, completions: [best, …, worst]} per line. */
export function loadPreferenceDataset(path: string, options: LoadDatasetOptions = {}): Promise<LoadedDataset<PreferenceExample>> {
  return loadDataset(path, exampleParsers.preference, options);
}

/** Loads DPO pairs: {prompt, chosen, rejected} as texts or messages, or {chosen, rejected} conversations, per line. */
export function loadPreferencePairDataset(path: string, options: LoadDatasetOptions = {}): Promise<LoadedDataset<PreferencePair>> {
  return loadDataset(path, exampleParsers.pair, options);
}

/** Loads PPO prompts: {prompt} per line. */
export function loadPromptDataset(path: string, options: LoadDatasetOptions = {}): Promise<LoadedDataset<PromptExample>> {
  return loadDataset(path, exampleParsers.prompt, options);
}

/**
 * Splits examples into train and eval after a shuffle seeded by `seed` (same seed, same split).
 * About evalFraction of them go to eval, but train always keeps at least one, and eval gets at
 * least one when evalFraction > 0 and there are two or more. The input array is not modified.
 */
export function splitDataset<T>(examples: T[], evalFraction: number, seed: number): { train: T[]; eval: T[] } {
  if (!(evalFraction >= 0 && evalFraction < 1)) throw new RangeError(`splitDataset: evalFraction must be in [0, 1), got ${evalFraction}`);
  if (examples.length === 0) throw new Error('splitDataset: there are no examples to split');
  const n = examples.length;
  let evalCount = Math.round(n * evalFraction);
  if (evalFraction > 0 && n >= 2) evalCount = Math.max(evalCount, 1);
  evalCount = Math.min(evalCount, n - 1);
  const order = shuffle([...examples], mulberry32(seed));
  return { train: order.slice(evalCount), eval: order.slice(0, evalCount) };
}
