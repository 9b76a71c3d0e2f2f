// "Did you mean …?" for a misspelt config field: TRL's and the CLI's snake_case or kebab-case
// names (output_dir, learning-rate) map to the camelCase field, a small typo to the closest name
// by edit distance, and TRL's names for what is spelt otherwise here (bf16, assistant_only_loss,
// per_device_train_batch_size) to the field that does it, so a config error says what to write.
import { closest, distance } from 'fastest-levenshtein';

const folded = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');

/** TRL / transformers field names (folded) that have another name here: the field, and what to write. */
const TRL_NAMES: Record<string, { field: string; write: string }> = {
  bf16: {
    field: 'mixedPrecision',
    write:
      "mixedPrecision: 'bf16' (autocast in bfloat16 with float32 master weights, as TRL's bf16: true; dtype: 'bfloat16' holds " +
      'the weights in it)',
  },
  fp16: { field: 'mixedPrecision', write: "mixedPrecision: 'bf16' (float16 autocast is not supported)" },
  assistantonlyloss: {
    field: 'completionOnlyLoss',
    write:
      "completionOnlyLoss: true (the default): the loss on the answer only, and a conversation's answer is its last assistant " +
      'turn (a loss on every assistant turn is not supported)',
  },
  perdevicetrainbatchsize: { field: 'batchSize', write: 'batchSize (per process; with data parallelism each rank takes that many)' },
  torchdtype: { field: 'dtype', write: 'dtype' },
};

/**
 * ` (did you mean 'outputDir'?)` for the known name closest to `name`, ` (TRL's bf16: write …)`
 * for a TRL name spelt otherwise here, or '' when none is close.
 */
export function didYouMean(name: string, known: readonly string[]): string {
  if (known.length === 0) return '';
  const trl = TRL_NAMES[folded(name)];
  if (trl && known.includes(trl.field)) return ` (TRL's ${name}: write ${trl.write})`;
  const same = known.find((k) => folded(k) === folded(name));
  const best = same ?? closest(name, [...known]);
  const close = same !== undefined || distance(folded(name), folded(best)) <= Math.max(1, Math.floor(name.length / 4));
  return close ? ` (did you mean '${best}'?)` : '';
}
