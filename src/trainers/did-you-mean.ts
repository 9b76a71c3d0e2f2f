// "Did you mean …?" for a misspelt config field: TRL's and the CLI's snake_case or kebab-case
// names (output_dir, learning-rate) map to the camelCase field, and a small typo to the closest
// name by edit distance, so a config error says what to write instead.
import { closest, distance } from 'fastest-levenshtein';

const folded = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');

/** ` (did you mean 'outputDir'?)` for the known name closest to `name`, or '' when none is close. */
export function didYouMean(name: string, known: readonly string[]): string {
  if (known.length === 0) return '';
  const same = known.find((k) => folded(k) === folded(name));
  const best = same ?? closest(name, [...known]);
  const close = same !== undefined || distance(folded(name), folded(best)) <= Math.max(1, Math.floor(name.length / 4));
  return close ? ` (did you mean '${best}'?)` : '';
}
