// A reward model's accuracy on rankings: over every pair of answers of a ranking (best first),
// how often the better one scores higher. `rlhf score` reports it on preference files; a tie
// counts as wrong, as the training metric (r_better − r_worse > 0) counts it.

/** The pairs of a ranking's scores (best answer first) and how many of them are ordered right. */
export function rankingPairs(scores: readonly number[]): { pairs: number; correct: number } {
  let pairs = 0,
    correct = 0;
  for (let i = 0; i < scores.length; i++) {
    for (let j = i + 1; j < scores.length; j++) {
      pairs++;
      if (scores[i]! > scores[j]!) correct++;
    }
  }
  return { pairs, correct };
}
