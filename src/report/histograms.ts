// Score distributions as histograms: the reward model's held-out chosen answers against the
// rejected ones (eval_scores.jsonl), and an online run's scores at its first and its last
// iteration (the held-out answers of eval_samples.jsonl, else samples.jsonl). One set of bins per
// chart, shared by its series, so the bars compare.
import { PALETTE, type ChartSpec } from './charts.js';
import type { RunFiles, Sample } from './read.js';

const BINS = 20;

const formatEdge = (v: number): string => {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(1) : String(Number(v.toPrecision(3)));
};

/** A histogram chart of several value sets over shared bins (null when there are no finite values). */
export function histogramSpec(id: string, title: string, groups: { label: string; values: number[] }[], bins = BINS): ChartSpec | null {
  const all = groups.flatMap((g) => g.values.filter(Number.isFinite));
  if (all.length === 0) return null;
  let lo = all.reduce((m, v) => Math.min(m, v), Infinity);
  let hi = all.reduce((m, v) => Math.max(m, v), -Infinity);
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const width = (hi - lo) / bins;
  const labels = Array.from({ length: bins }, (_, i) => formatEdge(lo + (i + 0.5) * width));
  const series = groups.map((g, k) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of g.values) if (Number.isFinite(v)) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
    return {
      label: `${g.label} (n=${g.values.filter(Number.isFinite).length})`,
      color: PALETTE[k % PALETTE.length]!,
      points: counts.map((c, i): [number, number] => [i, c]),
    };
  });
  return { id, title, kind: 'histogram', labels, series };
}

const scoresOf = (rows: Sample[], iteration: number): number[] =>
  rows.filter((r) => r.iteration === iteration && r.score !== null).map((r) => r.score!);

/** The histograms of one run's section. */
export function histogramsFor(run: RunFiles, idPrefix: string): ChartSpec[] {
  const specs: ChartSpec[] = [];
  if (run.evalScores && run.evalScores.rows.length > 0) {
    const rows = run.evalScores.rows;
    const spec = histogramSpec(`${idPrefix}-hist-rm`, 'Reward model: held-out chosen vs rejected scores', [
      { label: 'chosen', values: rows.map((r) => r[0]!) },
      { label: 'rejected', values: rows.flatMap((r) => r.slice(1)) },
    ]);
    if (spec) specs.push(spec);
  }
  const samples = run.evalSamples ?? run.samples;
  if (samples && samples.rows.length > 0) {
    const first = samples.rows.reduce((m, r) => Math.min(m, r.iteration), Infinity);
    const last = samples.rows.reduce((m, r) => Math.max(m, r.iteration), -Infinity);
    const which = run.evalSamples ? 'held-out' : 'sampled';
    const groups = [
      { label: `iteration ${first}`, values: scoresOf(samples.rows, first) },
      ...(last > first ? [{ label: `iteration ${last}`, values: scoresOf(samples.rows, last) }] : []),
    ];
    const spec = histogramSpec(`${idPrefix}-hist-scores`, `Score distribution (${which} answers)`, groups);
    if (spec) specs.push(spec);
  }
  return specs;
}
