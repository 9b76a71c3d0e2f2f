// What the commands read from their flags: the option values, the files they name (an error
// naming the flag when one is missing), the data files through their loaders (honouring
// --skip-invalid and saying what was skipped), and a run's summary line and its notes.
import { existsSync } from 'node:fs';
import type { LoadDatasetOptions, LoadedDataset, SkippedLine } from '../data/datasets.js';
import { hasEmptyAnswer, type PreferenceExample, type PreferencePair, type SFTExample } from '../data/formats.js';
import { launchEnv } from '../distributed/process-group.js';
import { optionKey } from './options.js';

export type Opts = Record<string, unknown>;
export const str = (o: Opts, k: string): string => o[k] as string;

export function requireFile(path: string, flag: string): string {
  if (!existsSync(path)) throw new Error(`${flag}: ${path}: no such file or directory`);
  return path;
}

/** Says how many lines of a data file were skipped, and the first one's reason. */
export function reportSkipped(skipped: SkippedLine[], path: string): void {
  if (skipped.length)
    console.error(`rlhf: skipped ${skipped.length} invalid line(s) of ${path} (first: line ${skipped[0]!.line}: ${skipped[0]!.reason})`);
}

/** ', 3 with an empty answer' for the run's summary line (accepted, as in TRL, but worth seeing). */
export function emptyNote(examples: readonly (SFTExample | PreferenceExample | PreferencePair)[]): string {
  const n = examples.filter(hasEmptyAnswer).length;
  return n ? ` (${n} with an empty answer)` : '';
}

/** The examples of the data file given with `flag`, honouring --skip-invalid and saying what it skipped. */
export async function loadData<T>(
  load: (path: string, options: LoadDatasetOptions) => Promise<LoadedDataset<T>>,
  o: Opts,
  flag: string,
): Promise<T[]> {
  const data = await load(requireFile(str(o, optionKey(flag)), flag), { skipInvalid: !!o.skipInvalid });
  reportSkipped(data.skipped, data.path);
  return data.examples;
}

/**
 * A training command's summary line (stderr), once per run: a data-parallel run's ranks all
 * read the same data and write to the same run directory, so rank 0 speaks for them.
 */
export function runSummary(line: string): void {
  if ((launchEnv()?.rank ?? 0) === 0) console.error(line);
}
