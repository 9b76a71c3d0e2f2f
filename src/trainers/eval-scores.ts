// The reward model's scores of its held-out rankings at the end of training, best answer first,
// in eval_scores.jsonl: `rlhf report` draws the distribution of the chosen answers' scores
// against the rejected ones' (how far apart the model holds them, not only how often it orders
// them right).
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';

/** Writes one line {scores: [best, …, worst]} per held-out ranking (nothing when there are none). */
export function writeEvalScores(outputDir: string, rankings: readonly number[][]): void {
  if (rankings.length === 0) return;
  writeFileAtomicSync(
    join(outputDir, 'eval_scores.jsonl'),
    Buffer.from(rankings.map((scores) => `${JSON.stringify({ scores })}\n`).join(''), 'utf8'),
  );
}
