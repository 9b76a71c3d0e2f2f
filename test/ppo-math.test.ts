// The PPO arithmetic checked against hand-computed values: every expectation below is written
// out as literal numbers or plain JS loops, never by calling the function under test.
import { describe, it, expect } from 'vitest';
import { mulberry32 } from '../src/data/random.js';
import { torch, type Tensor } from '../src/index.js';
import {
  maskedMean,
  maskedVar,
  maskedWhiten,
  klPerToken,
  tokenRewards,
  gae,
  policyLoss,
  valueLoss,
  entropyFromLogits,
  explainedVariance,
  FixedKLController,
  AdaptiveKLController,
} from '../src/trainers/ppo-math.js';

const f64 = (data: number[] | number[][] | number[][][]): Tensor => torch.tensor(data, { dtype: 'float64' });
const rows = (t: Tensor): number[][] => t.tolist() as number[][];

/** Runs a case inside torch.tidy and checks the live tensor count is back at its baseline. */
function checked(fn: () => void): void {
  const base = torch.memory().tensors;
  torch.tidy(fn);
  expect(torch.memory().tensors).toBe(base);
}

function expectRowsClose(actual: number[][], expected: number[][], digits = 10): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, b) => {
    expect(row.length).toBe(expected[b]!.length);
    row.forEach((v, t) => {
      if (!Number.isFinite(v) || Math.abs(v - expected[b]![t]!) >= 0.5 * 10 ** -digits) {
        throw new Error(`[${b}][${t}]: got ${v}, expected ${expected[b]![t]} (digits ${digits})`);
      }
    });
  });
}

// B=3 responses of lengths 4, 2, 1 in T=4 (right-padded).
const LENGTHS = [4, 2, 1];
const MASK = [
  [1, 1, 1, 1],
  [1, 1, 0, 0],
  [1, 0, 0, 0],
];
// Real entries 1..7: mean 4, Σ(x−4)² = 9+4+1+0+1+4+9 = 28, biased var 28/7 = 4, unbiased 28/6.
const X = [
  [1, 2, 3, 4],
  [5, 6, 99, 99],
  [7, -50, -50, -50],
];
const X_OTHER_PAD = [
  [1, 2, 3, 4],
  [5, 6, -1e6, 3.5],
  [7, 1e5, 0, -123],
];

describe('maskedMean / maskedVar / maskedWhiten', () => {
  it('maskedMean over all entries and along dim 1, ignoring padding', () => {
    checked(() => {
      const mask = f64(MASK);
      expect(maskedMean(f64(X), mask).item()).toBeCloseTo(4, 12);
      expect(maskedMean(f64(X_OTHER_PAD), mask).item()).toBeCloseTo(4, 12);
      expect(maskedMean(f64(X), mask, 1).tolist()).toEqual([2.5, 5.5, 7]);
      expect(maskedMean(f64(X_OTHER_PAD), mask, 1).tolist()).toEqual([2.5, 5.5, 7]);
      // An integer / bool mask works the same.
      expect(maskedMean(f64(X), torch.tensor(MASK).to('bool')).item()).toBeCloseTo(4, 12);
    });
  });

  it('maskedVar: unbiased 28/6 and biased 28/7, padding ignored', () => {
    checked(() => {
      const mask = f64(MASK);
      expect(maskedVar(f64(X), mask).item()).toBeCloseTo(28 / 6, 12);
      expect(maskedVar(f64(X), mask, true).item()).toBeCloseTo(28 / 6, 12);
      expect(maskedVar(f64(X), mask, false).item()).toBeCloseTo(4, 12);
      expect(maskedVar(f64(X_OTHER_PAD), mask).item()).toBeCloseTo(28 / 6, 12);
      expect(maskedVar(f64(X_OTHER_PAD), mask, false).item()).toBeCloseTo(4, 12);
      // A second hand case: real entries 2, 4, 9 → mean 5, Σ(x−5)² = 9+1+16 = 26.
      const m2 = f64([
        [1, 1],
        [1, 0],
      ]);
      expect(
        maskedVar(
          f64([
            [2, 4],
            [9, 1000],
          ]),
          m2,
        ).item(),
      ).toBeCloseTo(13, 12);
      expect(
        maskedVar(
          f64([
            [2, 4],
            [9, 1000],
          ]),
          m2,
          false,
        ).item(),
      ).toBeCloseTo(26 / 3, 12);
    });
  });

  it('maskedVar refuses an unbiased variance of one entry', () => {
    checked(() => {
      expect(() => maskedVar(f64([[3, 4]]), f64([[1, 0]]))).toThrow(/two/);
      expect(maskedVar(f64([[3, 4]]), f64([[1, 0]]), false).item()).toBe(0);
    });
  });

  // shiftMean=true: (x − 4)/√(28/6), mean 0 and unbiased var 1 over the mask; false adds the mean (4) back.
  it.each([
    { shiftMean: true, mean: 0 },
    { shiftMean: false, mean: 4 },
  ])('maskedWhiten(shiftMean=$shiftMean): mean $mean and unbiased var 1 over the mask; padding does not move it', ({ shiftMean, mean }) => {
    checked(() => {
      const mask = f64(MASK);
      const sd = Math.sqrt(28 / 6 + 1e-8);
      const w = rows(maskedWhiten(f64(X), mask, shiftMean));
      const w2 = rows(maskedWhiten(f64(X_OTHER_PAD), mask, shiftMean));
      if (shiftMean) expect(rows(maskedWhiten(f64(X), mask))).toEqual(w); // the default
      const real: number[] = [];
      for (let b = 0; b < 3; b++) {
        for (let t = 0; t < LENGTHS[b]!; t++) {
          expect(w[b]![t]).toBeCloseTo((X[b]![t]! - 4) / sd + mean, 10);
          expect(w2[b]![t]).toBeCloseTo(w[b]![t]!, 12);
          real.push(w[b]![t]!);
        }
      }
      const realMean = real.reduce((s, v) => s + v, 0) / real.length;
      const uvar = real.reduce((s, v) => s + (v - realMean) ** 2, 0) / (real.length - 1);
      expect(realMean).toBeCloseTo(mean, 10);
      expect(uvar).toBeCloseTo(1, 7);
    });
  });
});

describe('klPerToken', () => {
  const logp = [
    [-1, -2],
    [-0.5, -3],
  ];
  const ref = [
    [-1.5, -1],
    [-0.5, -2],
  ];

  it('k1 = logp − ref', () => {
    checked(() => {
      expectRowsClose(
        rows(klPerToken(f64(logp), f64(ref), 'k1')),
        [
          [0.5, -1],
          [0, -1],
        ],
        12,
      );
    });
  });

  it('k3 = exp(ref − logp) − 1 − (ref − logp)', () => {
    checked(() => {
      // d = ref − logp = [[−0.5, 1], [0, 1]]: e^−0.5 − 1 + 0.5 = 0.10653065971263342, e − 2 = 0.718281828459045.
      expectRowsClose(
        rows(klPerToken(f64(logp), f64(ref), 'k3')),
        [
          [0.10653065971263342, 0.718281828459045],
          [0, 0.718281828459045],
        ],
        12,
      );
    });
  });

  it('k3 is ≥ 0 and matches the formula on random inputs; k1 on the same', () => {
    checked(() => {
      const r = mulberry32(7);
      const lp: number[][] = [];
      const rf: number[][] = [];
      for (let b = 0; b < 8; b++) {
        lp.push(Array.from({ length: 25 }, () => -6 * r()));
        rf.push(Array.from({ length: 25 }, () => -6 * r()));
      }
      const k3 = rows(klPerToken(f64(lp), f64(rf), 'k3'));
      const k1 = rows(klPerToken(f64(lp), f64(rf), 'k1'));
      for (let b = 0; b < 8; b++) {
        for (let t = 0; t < 25; t++) {
          const d = rf[b]![t]! - lp[b]![t]!;
          expect(k3[b]![t]!).toBeGreaterThanOrEqual(0);
          expect(k3[b]![t]!).toBeCloseTo(Math.exp(d) - 1 - d, 10);
          expect(k1[b]![t]!).toBeCloseTo(-d, 12);
        }
      }
      // float32 too: never negative.
      const k3f = klPerToken(f64(lp).to('float32'), f64(rf).to('float32'), 'k3');
      expect(k3f.min().item()).toBeGreaterThanOrEqual(0);
    });
  });

  it('an unknown estimator throws', () => {
    checked(() => {
      expect(() => klPerToken(f64(logp), f64(ref), 'k2' as never)).toThrow(/k2/);
    });
  });
});

describe('tokenRewards', () => {
  it('−β·kl on real tokens, 0 on padding, the score at each row’s last real token', () => {
    checked(() => {
      const kl = f64([
        [0.1, 0.2, 0.3, 0.4],
        [0.5, -0.2, 9, 9],
        [1.0, 7, 7, 7],
      ]);
      const scores = f64([2, -1, 0.5]);
      const { rewards, nonScoreReward } = tokenRewards(scores, kl, f64(MASK), 0.1);
      expectRowsClose(
        rows(nonScoreReward),
        [
          [-0.01, -0.02, -0.03, -0.04],
          [-0.05, 0.02, 0, 0],
          [-0.1, 0, 0, 0],
        ],
        12,
      );
      // Last real tokens at 3, 1, 0: −0.04 + 2 = 1.96, 0.02 − 1 = −0.98, −0.1 + 0.5 = 0.4.
      expectRowsClose(
        rows(rewards),
        [
          [-0.01, -0.02, -0.03, 1.96],
          [-0.05, -0.98, 0, 0],
          [0.4, 0, 0, 0],
        ],
        12,
      );
    });
  });

  it('β = 0 leaves only the scores; a bool mask and float32 work', () => {
    checked(() => {
      const kl = torch.tensor([
        [0.1, 0.2, 0.3, 0.4],
        [0.5, -0.2, 9, 9],
        [1.0, 7, 7, 7],
      ]);
      const { rewards, nonScoreReward } = tokenRewards(torch.tensor([2, -1, 0.5]), kl, torch.tensor(MASK).to('bool'), 0);
      expectRowsClose(
        rows(rewards),
        [
          [0, 0, 0, 2],
          [0, -1, 0, 0],
          [0.5, 0, 0, 0],
        ],
        6,
      );
      expect(nonScoreReward.abs().sum().item()).toBe(0);
    });
  });
});

/** Reference GAE in plain JS: backwards over each row's real tokens only. */
function gaeRef(r: number[][], v: number[][], lengths: number[], gamma: number, lam: number): number[][] {
  return r.map((row, b) => {
    const L = lengths[b]!;
    const A = new Array<number>(row.length).fill(0);
    let next = 0;
    for (let t = L - 1; t >= 0; t--) {
      const vNext = t + 1 < L ? v[b]![t + 1]! : 0;
      const delta = row[t]! + gamma * vNext - v[b]![t]!;
      next = delta + gamma * lam * next;
      A[t] = next;
    }
    return A;
  });
}

describe('gae', () => {
  const R = [
    [0, 0, 0, 1],
    [0.5, 2, 9, 9],
    [3, 9, 9, 9],
  ];
  const V = [
    [0.5, 0.4, 0.3, 0.2],
    [1, 1.5, 9, 9],
    [2, 9, 9, 9],
  ];
  const R_PAD2 = [
    [0, 0, 0, 1],
    [0.5, 2, -4, 100],
    [3, -7, 0.25, 11],
  ];
  const V_PAD2 = [
    [0.5, 0.4, 0.3, 0.2],
    [1, 1.5, 42, -3],
    [2, 1e3, -1e3, 5],
  ];

  /**
   * GAE at (γ, λ) against the hand values `expected`: the plain-JS recursion, then the op on both
   * paddings (whatever sits past each row's length must not matter), its returns being A + V.
   */
  function expectGae(gamma: number, lambda: number, expected: number[][]): void {
    expectRowsClose(gaeRef(R, V, LENGTHS, gamma, lambda), expected, 12);
    for (const [r, v] of [
      [R, V],
      [R_PAD2, V_PAD2],
    ]) {
      const { advantages, returns } = gae(f64(r!), f64(v!), f64(MASK), gamma, lambda);
      expectRowsClose(rows(advantages), expected, 10);
      const ret = rows(returns);
      for (let b = 0; b < 3; b++) for (let t = 0; t < LENGTHS[b]!; t++) expect(ret[b]![t]).toBeCloseTo(expected[b]![t]! + V[b]![t]!, 10);
    }
  }

  // The padding advantages must be 0 and whatever stands past each row's length ignored.
  it.each([
    {
      gamma: 1,
      lambda: 0.95,
      // Row 0: δ3 = 1 − 0.2 = 0.8; δ2 = δ1 = δ0 = −0.1;
      //   A3 = 0.8, A2 = −0.1 + 0.95·0.8 = 0.66, A1 = −0.1 + 0.95·0.66 = 0.527, A0 = −0.1 + 0.95·0.527 = 0.40065.
      // Row 1: δ1 = 2 − 1.5 = 0.5, δ0 = 0.5 + 1.5 − 1 = 1; A1 = 0.5, A0 = 1 + 0.95·0.5 = 1.475.
      // Row 2: δ0 = 3 − 2 = 1.
      expected: [
        [0.40065, 0.527, 0.66, 0.8],
        [1.475, 0.5, 0, 0],
        [1, 0, 0, 0],
      ],
    },
    {
      gamma: 0.9,
      lambda: 0.8,
      // Row 0: δ3 = 0.8, δ2 = 0.9·0.2 − 0.3 = −0.12, δ1 = 0.9·0.3 − 0.4 = −0.13, δ0 = 0.9·0.4 − 0.5 = −0.14; γλ = 0.72:
      //   A3 = 0.8, A2 = −0.12 + 0.576 = 0.456, A1 = −0.13 + 0.72·0.456 = 0.19832, A0 = −0.14 + 0.72·0.19832 = 0.0027904.
      // Row 1: δ1 = 0.5, δ0 = 0.5 + 0.9·1.5 − 1 = 0.85; A0 = 0.85 + 0.72·0.5 = 1.21.
      // Row 2: A0 = 1.
      expected: [
        [0.0027904, 0.19832, 0.456, 0.8],
        [1.21, 0.5, 0, 0],
        [1, 0, 0, 0],
      ],
    },
  ])('γ = $gamma, λ = $lambda by hand, on both paddings', ({ gamma, lambda, expected }) => {
    checked(() => expectGae(gamma, lambda, expected));
  });

  it('γ = 1, λ = 1: returns are the reward-to-go whatever the values', () => {
    checked(() => {
      const { advantages, returns } = gae(f64(R), f64(V), f64(MASK), 1, 1);
      const ret = rows(returns);
      const togo = [[1, 1, 1, 1], [2.5, 2], [3]];
      for (let b = 0; b < 3; b++) for (let t = 0; t < LENGTHS[b]!; t++) expect(ret[b]![t]).toBeCloseTo(togo[b]![t]!, 10);
      // and advantages = reward-to-go − V.
      expectRowsClose(
        rows(advantages),
        [
          [0.5, 0.6, 0.7, 0.8],
          [1.5, 0.5, 0, 0],
          [1, 0, 0, 0],
        ],
        10,
      );
    });
  });

  it('matches the plain-JS recursion on random data with random lengths', () => {
    checked(() => {
      const r = mulberry32(11);
      const B = 6;
      const T = 9;
      const lengths = Array.from({ length: B }, (_, b) => (b === 0 ? T : 1 + Math.floor(r() * T)));
      const rew = Array.from({ length: B }, () => Array.from({ length: T }, () => 2 * r() - 1));
      const val = Array.from({ length: B }, () => Array.from({ length: T }, () => 2 * r() - 1));
      const mask = lengths.map((L) => Array.from({ length: T }, (_, t) => (t < L ? 1 : 0)));
      for (const [g, l] of [
        [1, 0.95],
        [0.99, 0.9],
        [0.5, 0],
      ] as const) {
        const { advantages } = gae(f64(rew), f64(val), f64(mask), g, l);
        expectRowsClose(rows(advantages), gaeRef(rew, val, lengths, g, l), 10);
      }
    });
  });
});

describe('policyLoss', () => {
  // Five real tokens, ε = 0.2 (row 0 has four, row 1 one, the rest is padding):
  //   a) ρ = 1.1, A = 2   → inside the range: −2.2, not clipped
  //   b) ρ = 1.5, A = 1   → max(−1.5, −1.2) = −1.2, clipped
  //   c) ρ = 0.5, A = −1  → max(0.5, 0.8) = 0.8, clipped
  //   d) ρ = 1.5, A = −1  → max(1.5, 1.2) = 1.5, not clipped
  //   e) ρ = 0.5, A = 1   → max(−0.5, −0.8) = −0.5, not clipped
  // loss = (−2.2 − 1.2 + 0.8 + 1.5 − 0.5)/5 = −0.32, clipfrac 2/5, mean ratio 5.1/5 = 1.02.
  const ratios = [1.1, 1.5, 0.5, 1.5, 0.5];
  const old = [
    [-1, -2, -0.3, -1.2],
    [-0.7, -1, -1, -1],
  ];
  const logp = [
    [-1 + Math.log(1.1), -2 + Math.log(1.5), -0.3 + Math.log(0.5), -1.2 + Math.log(1.5)],
    [-0.7 + Math.log(0.5), 5, -9, 3], // wild padding
  ];
  const adv = [
    [2, 1, -1, -1],
    [1, 100, -100, 7],
  ];
  const mask = [
    [1, 1, 1, 1],
    [1, 0, 0, 0],
  ];

  it('the clipped surrogate, clipfrac, approxKl and mean ratio by hand', () => {
    checked(() => {
      const out = policyLoss(f64(logp), f64(old), f64(adv), f64(mask), 0.2);
      expect(out.loss.item()).toBeCloseTo(-0.32, 10);
      expect(out.clipfrac.item()).toBeCloseTo(0.4, 12);
      expect(out.ratio.item()).toBeCloseTo(1.02, 10);
      const kl = (0.5 * ratios.reduce((s, p) => s + Math.log(p) ** 2, 0)) / 5;
      expect(out.approxKl.item()).toBeCloseTo(kl, 10);
    });
  });

  it('each branch on its own', () => {
    checked(() => {
      const one = (rho: number, a: number) => policyLoss(f64([[Math.log(rho)]]), f64([[0]]), f64([[a]]), f64([[1]]), 0.2);
      const cases: [number, number, number, number][] = [
        [1.1, 2, -2.2, 0],
        [1.5, 1, -1.2, 1],
        [0.5, -1, 0.8, 1],
        [1.5, -1, 1.5, 0],
        [0.5, 1, -0.5, 0],
        [0.9, -3, 2.7, 0],
      ];
      for (const [rho, a, loss, cf] of cases) {
        const o = one(rho, a);
        expect(o.loss.item()).toBeCloseTo(loss, 10);
        expect(o.clipfrac.item()).toBe(cf);
        expect(o.ratio.item()).toBeCloseTo(rho, 12);
      }
    });
  });

  it('ratio 1 when logprobs equal old: loss = −mean(adv), no clipping, approxKl 0', () => {
    checked(() => {
      const lp = [
        [-1, -2, -3, -0.5],
        [-0.1, -0.2, 9, 9],
        [-4, 1, 1, 1],
      ];
      const a = [
        [1, 2, 3, 4],
        [-5, 6, 99, 99],
        [0.5, 7, 7, 7],
      ];
      const out = policyLoss(f64(lp), f64(lp), f64(a), f64(MASK), 0.2);
      // mean over the 7 real tokens: (1+2+3+4−5+6+0.5)/7 = 11.5/7.
      expect(out.loss.item()).toBeCloseTo(-11.5 / 7, 12);
      expect(out.clipfrac.item()).toBe(0);
      expect(out.approxKl.item()).toBe(0);
      expect(out.ratio.item()).toBeCloseTo(1, 12);
    });
  });
});

describe('valueLoss', () => {
  // ε_v = 0.2:
  //   a) V 1.0, V_old 0.9, R 2  → clip(V) = 1.0: (1)², (1)² → 1, not clipped
  //   b) V 1.5, V_old 1.0, R 2  → clip 1.2: 0.25 vs 0.64 → 0.64, clipped
  //   c) V 1.5, V_old 1.0, R 1  → clip 1.2: 0.25 vs 0.04 → 0.25
  //   d) V 0,   V_old 1.0, R 3  → clip 0.8: 9 vs 4.84 → 9
  //   e) V 0,   V_old 1.0, R −1 → clip 0.8: 1 vs 3.24 → 3.24, clipped
  // loss = ½·(1 + 0.64 + 0.25 + 9 + 3.24)/5 = ½·2.826 = 1.413; clipfrac 2/5.
  it('max of the clipped and unclipped squared errors, ½ factor, clipfrac, padding ignored', () => {
    checked(() => {
      const values = f64([
        [1, 1.5, 1.5, 0],
        [0, 50, -50, 3],
      ]);
      const oldValues = f64([
        [0.9, 1, 1, 1],
        [1, 0, 0, 0],
      ]);
      const returns = f64([
        [2, 2, 1, 3],
        [-1, -20, 20, 8],
      ]);
      const mask = f64([
        [1, 1, 1, 1],
        [1, 0, 0, 0],
      ]);
      const out = valueLoss(values, oldValues, returns, mask, 0.2);
      expect(out.loss.item()).toBeCloseTo(1.413, 10);
      expect(out.clipfrac.item()).toBeCloseTo(0.4, 12);
    });
  });

  it('values equal to the old values: plain ½·MSE, no clipping', () => {
    checked(() => {
      const v = f64([[1, 2, 3]]);
      const out = valueLoss(v, v, f64([[2, 2, 5]]), f64([[1, 1, 1]]), 0.2);
      expect(out.loss.item()).toBeCloseTo((0.5 * (1 + 0 + 4)) / 3, 12);
      expect(out.clipfrac.item()).toBe(0);
    });
  });
});

describe('entropyFromLogits', () => {
  it('uniform logits give log V, one-hot-ish logits give ~0, a 3-class case by hand', () => {
    checked(() => {
      const uni = rows(
        entropyFromLogits(
          f64([
            [
              [0, 0, 0, 0, 0],
              [3, 3, 3, 3, 3],
            ],
            [
              [-7, -7, -7, -7, -7],
              [100, 100, 100, 100, 100],
            ],
          ]),
        ),
      );
      for (const row of uni) for (const h of row) expect(h).toBeCloseTo(Math.log(5), 12);
      const peaked = rows(
        entropyFromLogits(
          f64([
            [
              [100, 0, 0, 0, 0],
              [0, 0, -60, 60, 0],
            ],
          ]),
        ),
      );
      for (const h of peaked[0]!) {
        expect(h).toBeGreaterThanOrEqual(-1e-12);
        expect(h).toBeCloseTo(0, 12);
      }
      // p = (1/6, 2/6, 3/6): H = ln6/6 + ln3/3 + ln2/2 = 1.0114042647073518; shifts leave it unchanged.
      const h3 = rows(
        entropyFromLogits(
          f64([
            [
              [0, Math.log(2), Math.log(3)],
              [10, 10 + Math.log(2), 10 + Math.log(3)],
            ],
          ]),
        ),
      );
      expect(h3[0]![0]).toBeCloseTo(1.0114042647073518, 12);
      expect(h3[0]![1]).toBeCloseTo(1.0114042647073518, 12);
      // two classes at p = (e/(1+e), 1/(1+e)) for logits (1, 0): H = ln(1+e) − e/(1+e).
      const h2 = entropyFromLogits(f64([[[1, 0]]])).item();
      expect(h2).toBeCloseTo(Math.log(1 + Math.E) - Math.E / (1 + Math.E), 12);
    });
  });
});

describe('explainedVariance', () => {
  it('perfect prediction → 1, the mean → 0, a hand case, padding ignored', () => {
    checked(() => {
      const mask = f64(MASK);
      const returns = f64(X);
      expect(explainedVariance(f64(X_OTHER_PAD), returns, mask)).toBeCloseTo(1, 12);
      // the masked mean of the returns is 4.
      expect(
        explainedVariance(
          f64([
            [4, 4, 4, 4],
            [4, 4, 0, 0],
            [4, 0, 0, 0],
          ]),
          returns,
          mask,
        ),
      ).toBeCloseTo(0, 12);
      // returns 1,2,3,4 vs values 1,2,3,3: residual (0,0,0,1), var 0.1875; var(R) = 1.25 → 1 − 0.15 = 0.85.
      expect(explainedVariance(f64([[1, 2, 3, 3, 70]]), f64([[1, 2, 3, 4, -9]]), f64([[1, 1, 1, 1, 0]]))).toBeCloseTo(0.85, 12);
      // constant returns: undefined.
      expect(explainedVariance(f64([[1, 2]]), f64([[3, 3]]), f64([[1, 1]]))).toBeNaN();
    });
  });
});

describe('KL controllers', () => {
  it('FixedKLController never changes', () => {
    const c = new FixedKLController(0.05);
    for (const kl of [0, 1, 100, -3]) c.update(kl, 512);
    expect(c.klCoef).toBe(0.05);
  });

  it('AdaptiveKLController: error clipped to ±0.2, multiplier 1 + error·n/horizon', () => {
    const c = new AdaptiveKLController(0.1, 6, 10000);
    // KL 9: error 0.5 → 0.2; ×(1 + 0.2·256/10000) = ×1.00512 → 0.100512.
    c.update(9, 256);
    expect(c.klCoef).toBeCloseTo(0.100512, 14);
    // KL 3: error −0.5 → −0.2; ×0.99488 → 0.100512·0.99488 = 0.09999737856.
    c.update(3, 256);
    expect(c.klCoef).toBeCloseTo(0.09999737856, 14);
    // KL 6.6: error 0.1 (unclipped); ×(1 + 0.1·1000/10000) = ×1.01 → 0.1009973523456.
    c.update(6.6, 1000);
    expect(c.klCoef).toBeCloseTo(0.1009973523456, 14);
    // KL on target: unchanged.
    c.update(6, 1000);
    expect(c.klCoef).toBeCloseTo(0.1009973523456, 14);
    // KL 0: error −1 → −0.2; ×(1 − 0.2·500/10000) = ×0.99 → 0.099987378822144.
    c.update(0, 500);
    expect(c.klCoef).toBeCloseTo(0.099987378822144, 14);
  });

  it('AdaptiveKLController refuses a non-positive target or horizon', () => {
    expect(() => new AdaptiveKLController(0.1, 0, 100)).toThrow(RangeError);
    expect(() => new AdaptiveKLController(0.1, 6, 0)).toThrow(RangeError);
  });
});

describe('memory', () => {
  it('every function frees its intermediates: only the returned tensors stay until disposed', () => {
    const mask = f64(MASK);
    const x = f64(X);
    const y = f64(X_OTHER_PAD);
    const logits = f64([
      [
        [0, 1, 2],
        [1, 1, 1],
      ],
      [
        [3, 0, -1],
        [0, 0, 5],
      ],
    ]);
    const scores = x.select(1, 0);
    const xs = x.mul(0.01);
    const ys = y.mul(0.01);
    const x1 = x.add(1);
    const inputs = [mask, x, y, logits, scores, xs, ys, x1];
    const base = torch.memory().tensors;
    const calls: [string, () => unknown][] = [
      ['maskedMean', () => maskedMean(x, mask)],
      ['maskedMean dim', () => maskedMean(x, mask, 1)],
      ['maskedVar', () => maskedVar(x, mask)],
      ['maskedVar biased', () => maskedVar(x, mask, false)],
      ['maskedWhiten', () => maskedWhiten(x, mask)],
      ['maskedWhiten noshift', () => maskedWhiten(x, mask, false)],
      ['k1', () => klPerToken(x, y, 'k1')],
      ['k3', () => klPerToken(x, y, 'k3')],
      ['tokenRewards', () => tokenRewards(scores, x, mask, 0.1)],
      ['gae', () => gae(x, y, mask, 1, 0.95)],
      ['policyLoss', () => policyLoss(xs, ys, x, mask, 0.2)],
      ['valueLoss', () => valueLoss(x, y, x1, mask, 0.2)],
      ['entropyFromLogits', () => entropyFromLogits(logits)],
      ['explainedVariance', () => explainedVariance(x, y, mask)],
    ];
    for (const [name, call] of calls) {
      const out = call();
      torch.dispose(out);
      expect([name, torch.memory().tensors]).toEqual([name, base]);
    }
    torch.dispose(inputs);
  });
});
