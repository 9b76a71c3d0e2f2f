// rankingPairs: every pair of a ranking (best first) counted, ties counted as wrong.
import { describe, it, expect } from 'vitest';
import { rankingPairs } from '../src/trainers/ranking-accuracy.js';

describe('rankingPairs', () => {
  it('counts the pairs of a ranking and the ones ordered right', () => {
    expect(rankingPairs([2, 1])).toEqual({ pairs: 1, correct: 1 });
    expect(rankingPairs([1, 2])).toEqual({ pairs: 1, correct: 0 });
    expect(rankingPairs([3, 1, 2])).toEqual({ pairs: 3, correct: 2 });
    expect(rankingPairs([1, 1])).toEqual({ pairs: 1, correct: 0 });
    expect(rankingPairs([5])).toEqual({ pairs: 0, correct: 0 });
  });
});
