// Several runs on one set of axes: when a report covers two or more runs of one kind (a folder of
// GRPO runs, say), every metric logged by two or more of them gets a chart with one line per run,
// each run in the same colour throughout, so that learning rates, seeds or methods compare at a
// glance.
import { NOT_PLOTTED, PALETTE, thin, type ChartSpec } from './charts.js';
import { escapeHtml } from './html.js';
import type { MetricRow } from './read.js';
import { chartsHtml, type Section } from './sections.js';

/** A chart page with hundreds of overlays is unreadable; the runs' own sections have every metric. */
const MAX_CHARTS = 40;

/** The overlay section of `runs` (name → metric rows), or null when fewer than two runs share a metric. */
export function overlaySection(runs: { name: string; rows: MetricRow[] }[], kind: string, id: string): Section | null {
  const keys: string[] = [];
  const owners = new Map<string, Set<string>>();
  for (const r of runs)
    for (const row of r.rows)
      for (const [k, v] of Object.entries(row.values)) {
        if (NOT_PLOTTED.has(k) || v === null) continue;
        if (!owners.has(k)) owners.set(k, new Set()), keys.push(k);
        owners.get(k)!.add(r.name);
      }
  const shared = keys.filter((k) => owners.get(k)!.size >= 2).slice(0, MAX_CHARTS);
  if (shared.length === 0) return null;
  const color = new Map(runs.map((r, i) => [r.name, PALETTE[i % PALETTE.length]!]));
  const charts: ChartSpec[] = shared.map((key, i) => ({
    id: `${id}-chart-${i}`,
    title: key,
    series: runs
      .filter((r) => owners.get(key)!.has(r.name))
      .map((r) => ({
        label: r.name,
        color: color.get(r.name)!,
        points: thin(r.rows.filter((row) => key in row.values).map((row): [number, number | null] => [row.step, row.values[key] ?? null])),
      })),
  }));
  const html =
    `<section id="${id}"><h2>${escapeHtml(`${kind} runs compared`)}</h2><p class="muted">Each metric that ` +
    `${runs.length > 2 ? 'two or more' : 'both'} of ${runs.map((r) => escapeHtml(r.name)).join(', ')} logged, one line per ` +
    `run.</p>${chartsHtml(charts)}</section>`;
  return { id, title: `${kind} runs compared`, html, charts };
}
