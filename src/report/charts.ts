// Groups a run's metrics into charts: one chart per kind of quantity (losses, reward, KL, …)
// so that series sharing a chart share a scale. Only groups with data become charts.
import type { MetricRow } from './read.js';

export interface Series {
  label: string;
  /** Opaque `#rrggbb`; the page looks for this colour inside the plot area to tell a chart drew. */
  color: string;
  /** [step, value]; value null leaves a gap. */
  points: [number, number | null][];
}

export interface ChartSpec {
  id: string;
  title: string;
  series: Series[];
  /** 'line' (the default: points are [step, value]) or 'histogram' (points are [bin, count], the bins' labels in `labels`). */
  kind?: 'line' | 'histogram';
  labels?: string[];
}

interface Group {
  title: string;
  matches: (key: string) => boolean;
}

const last = (key: string): string => key.slice(key.lastIndexOf('/') + 1);

// First match wins, so the more specific groups come first: `val/clipfrac_avg` is a clip
// fraction, not a value metric, and `policy/entropy_avg` is an entropy, not a policy loss.
const GROUPS: Group[] = [
  // The online trainers' held-out evaluation (eval/reward goes with the training reward below).
  { title: 'Held-out: win rate and empty answers', matches: (k) => k === 'eval/win_rate' || k === 'eval/empty_fraction' },
  { title: 'Clip fraction', matches: (k) => k.includes('clipfrac') || k.startsWith('clip_ratio/') },
  { title: 'Entropy', matches: (k) => k.includes('entropy') },
  { title: 'KL divergence', matches: (k) => /kl/.test(last(k)) && !k.includes('coef') },
  { title: 'Losses', matches: (k) => k === 'loss' || k.startsWith('loss/') || k.endsWith('/loss') || last(k).endsWith('_loss') },
  { title: 'Perplexity', matches: (k) => k.includes('perplexity') },
  { title: 'Accuracy', matches: (k) => last(k) === 'accuracy' || last(k) === 'accuracies' },
  { title: 'Reward / score', matches: (k) => /reward|score|margin/.test(k) },
  // PPO's val/response_length; GRPO's and RLOO's completions/* lengths and clipped ratio.
  { title: 'Response length', matches: (k) => k.includes('response_length') || k.startsWith('completions/') || k === 'eval/mean_length' },
  // DPO's log-probabilities of the answers and its mean logits (TRL's logps/* and logits/*).
  { title: 'Log-probabilities', matches: (k) => k.startsWith('logps/') || k.includes('/logps/') },
  { title: 'Logits', matches: (k) => k.startsWith('logits/') || k.includes('/logits/') },
  { title: 'Learning rate', matches: (k) => last(k) === 'lr' || last(k) === 'learning_rate' },
  { title: 'Gradient norm', matches: (k) => last(k) === 'grad_norm' },
  { title: 'Value function', matches: (k) => k.startsWith('val/') },
];

/** Logged alongside the metrics but not worth a chart: x-axis candidates and wall-clock stamps. */
export const NOT_PLOTTED = new Set(['epoch', 'time', 'iteration', 'episode']);

// Tableau 10: distinct, opaque, and readable on white.
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Thousands of points per line draw slowly and look no different; keep every k-th and the last. */
const MAX_POINTS = 2000;
export function thin<T>(xs: T[]): T[] {
  if (xs.length <= MAX_POINTS) return xs;
  const stride = Math.ceil(xs.length / MAX_POINTS);
  const kept = xs.filter((_, i) => i % stride === 0);
  if ((xs.length - 1) % stride !== 0) kept.push(xs[xs.length - 1]!);
  return kept;
}

/** Chart specs for one run's metrics; `idPrefix` keeps canvas ids unique across sections. */
export function chartsFor(rows: MetricRow[], idPrefix: string): ChartSpec[] {
  const byKey = new Map<string, [number, number | null][]>();
  for (const row of rows) {
    for (const [key, value] of Object.entries(row.values)) {
      if (NOT_PLOTTED.has(key)) continue;
      let points = byKey.get(key);
      if (!points) byKey.set(key, (points = []));
      points.push([row.step, value]);
    }
  }
  const grouped = new Map<string, string[]>();
  const order = [...GROUPS.map((g) => g.title), 'Other metrics'];
  for (const key of byKey.keys()) {
    // A series of only nulls would be an empty chart that can never draw.
    if (byKey.get(key)!.every(([, v]) => v === null)) continue;
    const title = GROUPS.find((g) => g.matches(key))?.title ?? 'Other metrics';
    const keys = grouped.get(title) ?? [];
    keys.push(key);
    grouped.set(title, keys);
  }
  const specs: ChartSpec[] = [];
  for (const title of order) {
    const keys = grouped.get(title);
    if (!keys) continue;
    const bands = byScale(keys, (k) => byKey.get(k)!);
    for (const band of bands)
      specs.push({
        id: `${idPrefix}-chart-${specs.length}`,
        title: bands.length > 1 ? `${title} (${band.map(last).join(', ')})` : title,
        series: band.map((label, i) => ({ label, color: PALETTE[i % PALETTE.length]!, points: thin(byKey.get(label)!) })),
      });
  }
  return specs;
}

/** The largest |value| of a series (0 when all are 0 or null). */
const magnitude = (points: [number, number | null][]): number =>
  points.reduce((m, [, v]) => (v === null ? m : Math.max(m, Math.abs(v))), 0);

/**
 * Splits a group's series into bands that share an axis: a series more than SCALE_RATIO times
 * larger than the smallest of its band starts a new one, so that `val/num_eos_tokens` (tens) does
 * not flatten `val/ratio` (about 1), nor a value loss of 5 a policy loss of 0.01. All-zero series
 * join the smallest band. Order within a band is the order of first appearance.
 */
const SCALE_RATIO = 10;
export function byScale(keys: string[], pointsOf: (key: string) => [number, number | null][]): string[][] {
  const scaled = keys.map((k) => ({ k, m: magnitude(pointsOf(k)) })).sort((a, b) => a.m - b.m);
  const bands: { lo: number; keys: string[] }[] = [];
  for (const { k, m } of scaled) {
    const band = bands[bands.length - 1];
    if (band && (band.lo === 0 || m <= band.lo * SCALE_RATIO)) {
      band.keys.push(k);
      if (band.lo === 0) band.lo = m;
    } else bands.push({ lo: m, keys: [k] });
  }
  return bands.map((b) => keys.filter((k) => b.keys.includes(k)));
}
