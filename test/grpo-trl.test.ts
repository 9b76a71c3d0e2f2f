// GRPO against TRL itself: test/fixtures/trl/grpo.json holds what TRL 1.13's GRPOTrainer
// computes (scripts/fixtures/make_trl_fixtures.py): advantages and reward metrics from the
// rewards of groups (scale group, batch, none; unscorable completions; two weighted
// functions), and the loss, its gradient w.r.t. the per-token log-probs and the clip/KL metrics
// for every loss type, on- and off-policy, with and without beta, with epsilonHigh, and as one of
// two accumulated micro-batches.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  torch,
  groupAdvantages,
  grpoLoss,
  nanMeanStd,
  scoreSamples,
  type GRPOLossType,
  type RewardFunction,
  type ScaleRewards,
} from '../src/index.js';

const golden = JSON.parse(readFileSync(new URL('./fixtures/trl/grpo.json', import.meta.url), 'utf8'));

const close = (a: number[], b: number[], tol: number, what: string) => {
  expect(a.length, what).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i]!), `${what}[${i}]: ${v} vs ${b[i]}`).toBeLessThan(tol));
};

describe('GRPO advantages and reward metrics against TRL', () => {
  for (const c of golden.advantageCases) {
    it(c.name, async () => {
      const n = c.rewards[0].length;
      const fns: RewardFunction[] = c.rewardFuncs.map((name: string, i: number) => Object.assign(() => c.rewards[i], { rewardName: name }));
      const inputs = {
        prompts: Array.from({ length: n }, (_, i) => `p${i}`),
        completions: Array.from({ length: n }, () => ''),
        completionIds: golden.advantageInputs.completionIds,
      };
      const seq = { sequences: torch.zeros([n, 1], { dtype: 'int64' }), attentionMask: torch.ones([n, 1], { dtype: 'bool' }) };
      const scored = await scoreSamples(fns, c.config.rewardWeights, inputs, seq);
      const r = torch.tensor(
        scored.total.map((v) => (Number.isNaN(v) ? Number.NaN : v)),
        { dtype: 'float32' },
      );
      const { advantages, zeroStd } = groupAdvantages(r, c.config.numGenerations, c.config.scaleRewards as ScaleRewards);
      close(advantages.tolist() as number[], c.advantages, 2e-5, 'advantages');
      const frac = (zeroStd.tolist() as boolean[]).filter(Boolean).length / n;
      expect(frac).toBeCloseTo(c.metrics.frac_reward_zero_std, 6);
      const s = nanMeanStd(scored.total);
      expect(s.mean).toBeCloseTo(c.metrics.reward, 5);
      expect(s.std).toBeCloseTo(c.metrics.reward_std, 5);
      for (const { name, scores } of scored.perSource) {
        const m = nanMeanStd(scores.map((v) => (v === null ? Number.NaN : v)));
        expect(m.mean).toBeCloseTo(c.metrics[`rewards/${name}/mean`], 5);
        expect(m.std).toBeCloseTo(c.metrics[`rewards/${name}/std`], 5);
      }
      torch.dispose([r, advantages, zeroStd, seq.sequences, seq.attentionMask]);
    });
  }
});

describe('GRPO losses and gradients against TRL', () => {
  const li = golden.lossInputs;
  for (const c of golden.lossCases) {
    it(c.name, () => {
      const logprobs = torch.tensor(li.perTokenLogps, { dtype: 'float64', requiresGrad: true });
      const mask = torch.tensor(li.completionMask, { dtype: 'bool' });
      const ga = c.config.gradientAccumulationSteps;
      const { loss, metrics } = grpoLoss(
        logprobs,
        {
          oldLogprobs: c.usesOldLogps ? torch.tensor(li.oldPerTokenLogps, { dtype: 'float64' }) : null,
          refLogprobs: c.usesRefLogps ? torch.tensor(li.refPerTokenLogps, { dtype: 'float64' }) : null,
          advantages: torch.tensor(li.advantages, { dtype: 'float64' }),
          mask,
        },
        {
          lossType: c.config.lossType as GRPOLossType,
          beta: c.config.beta,
          epsilon: c.config.epsilonLow,
          epsilonHigh: c.config.epsilonHigh,
          maxCompletionLength: c.config.maxCompletionLength,
          useBiasCorrectionKl: true,
        },
        // This micro-batch is one of `ga` of the optimizer step, whose tokens TRL counts in numItemsInBatch.
        { tokens: c.numItemsInBatch, sequences: li.B * ga, microBatches: ga },
      );
      expect(loss.item()).toBeCloseTo(c.loss, 10);
      loss.backward();
      close((logprobs.grad!.tolist() as number[][]).flat(), (c.gradPerTokenLogps as number[][]).flat(), 1e-10, 'gradient');
      for (const k of ['clip_ratio/low_mean', 'clip_ratio/high_mean', 'clip_ratio/region_mean'])
        expect(metrics[k]!.item(), k).toBeCloseTo(c.metrics[k], 6);
      if (c.config.beta > 0) expect(metrics.kl!.item()).toBeCloseTo(c.metrics.kl, 6);
      torch.dispose([logprobs, mask, loss, Object.values(metrics)]);
    });
  }
});
