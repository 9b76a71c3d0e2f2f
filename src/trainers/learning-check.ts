// Did the run learn anything? A trainer that finished without error may still have learned
// nothing (a learning rate far too low for a model trained from scratch, too few steps, data the
// model cannot fit), and its rising-looking logs will not say so. Each stage checks its own
// evidence against what chance gives, at its end:
// - SFT: the held-out loss (the training loss without a held-out set) against a unigram model of
//   the answer tokens (and a uniform one);
// - RM: held-out accuracy against 50 %, within the noise of the eval set's size;
// - DPO: held-out reward accuracy against 50 %, the same way;
// - PPO, GRPO and RLOO: the reward over the run, flat or falling (while the KL rises, where one
//   is measured).
// A finding is a warning with what to try, never an error: the run and its files stay as they are.
import { writeJsonAtomic } from '../io/atomic.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { IGNORE_INDEX, type LabeledSequence } from './tokenize.js';

const TRY = 'Try more epochs (--num-train-epochs), a higher learning rate (--learning-rate) or more data.';

/**
 * Cross-entropy (nats per token) on `evalSeqs`' labeled tokens of the unigram model of
 * `trainSeqs`' labeled tokens, add-one smoothed over a vocabulary of `vocabSize`.
 */
export function unigramLoss(trainSeqs: readonly LabeledSequence[], evalSeqs: readonly LabeledSequence[], vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  let total = vocabSize;
  // Label j is predicted from position j − 1, so a sequence's first label scores nothing (as in the loss).
  const targets = (s: LabeledSequence) => s.labels.slice(1).filter((t) => t !== IGNORE_INDEX);
  for (const s of trainSeqs)
    for (const t of targets(s)) {
      counts[t]! += 1;
      total += 1;
    }
  let nll = 0;
  let n = 0;
  for (const s of evalSeqs)
    for (const t of targets(s)) {
      nll -= Math.log(counts[t]! / total);
      n += 1;
    }
  return n === 0 ? Number.NaN : nll / n;
}

/**
 * SFT: a loss no better than the unigram model's (by 1 %) learned nothing beyond token
 * frequencies. The held-out loss where there is a held-out set; without one (evalFraction 0, no
 * evalDataset) the training loss, against the unigram model of the same answers, and the finding
 * says which it is.
 */
export function sftFinding(loss: number | undefined, unigram: number, vocabSize: number, heldOut = true): string | null {
  if (loss === undefined || !Number.isFinite(loss) || !Number.isFinite(unigram)) return null;
  if (loss < unigram * 0.99) return null;
  const which = heldOut ? 'held-out loss' : 'training loss (there is no held-out set)';
  return (
    `the model learned nothing beyond token frequencies: its ${which} ${loss.toFixed(3)} is no better than a unigram ` +
    `model's ${unigram.toFixed(3)} (uniform over the vocabulary: ${Math.log(vocabSize).toFixed(3)}). ${TRY}`
  );
}

/** Two standard errors of a proportion at 50 % over `n` samples: accuracy inside 50 % ± this is chance. */
export const chanceBand = (n: number): number => 2 * Math.sqrt(0.25 / Math.max(n, 1));

/** RM and DPO: held-out (reward) accuracy within the noise of 50 %, or below it. */
export function accuracyFinding(what: string, accuracy: number | undefined, n: number): string | null {
  if (accuracy === undefined || !Number.isFinite(accuracy) || n === 0) return null;
  if (accuracy > 0.5 + chanceBand(n)) return null;
  return (
    `${what} ${(accuracy * 100).toFixed(1)} % on ${n} held-out examples is at chance (50 % ± ` +
    `${(chanceBand(n) * 100).toFixed(1)}). ${TRY}`
  );
}

/**
 * PPO, GRPO, RLOO: the mean reward of the last quarter of the logged steps against the first
 * quarter's. Flat (a rise within two standard errors) or falling is a finding; where a KL is
 * logged, only when the KL rose meanwhile (the policy moved, the reward did not follow).
 */
export function rewardTrendFinding(history: readonly Record<string, number>[], rewardKey: string, klKey: string | null): string | null {
  const series = (k: string) => history.map((h) => h[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const rewards = series(rewardKey);
  if (rewards.length < 8) return null;
  const q = Math.floor(rewards.length / 4);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [first, last] = [rewards.slice(0, q), rewards.slice(-q)];
  const sd = Math.sqrt(mean([...first, ...last].map((x) => (x - mean([...first, ...last])) ** 2)));
  const rise = mean(last) - mean(first);
  if (rise > 2 * (sd / Math.sqrt(q))) return null;
  const kls = klKey ? series(klKey) : [];
  const klRose = kls.length >= 2 * q && mean(kls.slice(-q)) > mean(kls.slice(0, q));
  if (kls.length >= 2 * q && !klRose) return null;
  const trend = `the reward went from ${mean(first).toFixed(3)} to ${mean(last).toFixed(3)} (first and last quarter of the run)`;
  return (
    `${trend}${klRose ? ` while the KL rose to ${mean(kls.slice(-q)).toFixed(3)}` : ''}: the policy learned nothing the ` +
    'reward values. Try a higher learning rate (--learning-rate), more steps, or a reward that tells samples apart.'
  );
}

/** Prints a finding as a warning and records it in the run directory's warnings.json (for the report); null does nothing. */
export async function reportFinding(stage: string, finding: string | null, outputDir: string | null): Promise<string[]> {
  // A run directory used again keeps no finding of an earlier run.
  if (outputDir !== null) rmSync(join(outputDir, 'warnings.json'), { force: true });
  if (finding === null) return [];
  const line = `warning: ${stage} ${finding}`;
  process.stderr.write(`${line}\n`);
  if (outputDir !== null) await writeJsonAtomic(join(outputDir, 'warnings.json'), { stage, warnings: [finding] });
  return [finding];
}
