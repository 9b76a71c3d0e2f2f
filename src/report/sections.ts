// The HTML of one report section (one run directory): charts, summary, samples, comparison,
// config. Returns markup plus the chart specs the page script will draw into its canvases.
import { chartsFor, type ChartSpec } from './charts.js';
import { histogramsFor } from './histograms.js';
import { escapeHtml, flatten, formatNumber, formatValue, keyValueTable, table } from './html.js';
import type { Comparison, RunFiles, Sample } from './read.js';

/** Long tables of generated text make a page nobody scrolls; the files hold the rest. */
const MAX_ROWS = 200;

const STAGE_TITLES: Record<string, string> = {
  sft: 'SFT',
  reward: 'Reward model',
  rm: 'Reward model',
  ppo: 'PPO',
  dpo: 'DPO',
  grpo: 'GRPO',
  rloo: 'RLOO',
};

export function stageTitle(stage: string): string {
  return STAGE_TITLES[stage] ?? stage;
}

function score(s: number | null): string {
  return s === null ? '—' : escapeHtml(formatNumber(s));
}

function answerCell(answer: string | undefined, s: number | null | undefined): string {
  if (answer === undefined) return '<span class="muted">—</span>';
  return `<div class="text">${escapeHtml(answer)}</div><div class="score">score ${score(s ?? null)}</div>`;
}

function truncationNote(shown: number, total: number, file: string): string {
  return shown < total ? `<p class="muted">Showing ${shown} of ${total} rows; the rest are in ${escapeHtml(file)}.</p>` : '';
}

/** The first and last iterations' samples side by side, paired by prompt where both have it. */
function samplesHtml(file: string, rows: Sample[], heading = 'Samples'): string {
  if (rows.length === 0) return `<h3>${heading}</h3><p class="muted">${escapeHtml(file)} is empty.</p>`;
  const first = rows.reduce((m, r) => Math.min(m, r.iteration), Infinity);
  const lastIt = rows.reduce((m, r) => Math.max(m, r.iteration), -Infinity);
  const before = rows.filter((r) => r.iteration === first);
  if (first === lastIt) {
    const body = before.slice(0, MAX_ROWS).map((r) => [escapeHtml(r.prompt), answerCell(r.answer, r.score)]);
    return (
      `<h3>${heading} (iteration ${first})</h3>` +
      table(['prompt', `iteration ${first}`], body, 'samples') +
      truncationNote(body.length, before.length, file)
    );
  }
  const after = rows.filter((r) => r.iteration === lastIt);
  // A prompt can repeat within an iteration, so pair occurrences in order.
  const queue = new Map<string, Sample[]>();
  for (const r of after) queue.set(r.prompt, [...(queue.get(r.prompt) ?? []), r]);
  const pairs: [string, Sample | undefined, Sample | undefined][] = before.map((b) => [b.prompt, b, queue.get(b.prompt)?.shift()]);
  for (const rest of queue.values()) for (const a of rest) pairs.push([a.prompt, undefined, a]);
  const mean = (xs: Sample[]) => {
    const s = xs.map((x) => x.score).filter((x): x is number => x !== null);
    return s.length ? formatNumber(s.reduce((a, b) => a + b, 0) / s.length) : '—';
  };
  const body = pairs
    .slice(0, MAX_ROWS)
    .map(([p, b, a]) => [escapeHtml(p), answerCell(b?.answer, b?.score), answerCell(a?.answer, a?.score)]);
  return (
    `<h3>${heading}: first vs last iteration</h3>` +
    `<p class="muted">Mean score ${escapeHtml(mean(before))} at iteration ${first} → ${escapeHtml(mean(after))} at iteration ` +
    `${lastIt}.</p>` +
    table(['prompt', `iteration ${first}`, `iteration ${lastIt}`], body, 'samples') +
    truncationNote(body.length, pairs.length, file)
  );
}

function comparisonHtml(file: string, rows: Comparison[]): string {
  if (rows.length === 0) return `<h3>SFT vs PPO</h3><p class="muted">${escapeHtml(file)} is empty.</p>`;
  const mean = (xs: (number | null)[]) => {
    const s = xs.filter((x): x is number => x !== null);
    return s.length ? formatNumber(s.reduce((a, b) => a + b, 0) / s.length) : '—';
  };
  const delta = (r: Comparison) => (r.sftScore === null || r.ppoScore === null ? '—' : formatNumber(r.ppoScore - r.sftScore));
  const body = rows
    .slice(0, MAX_ROWS)
    .map((r) => [
      escapeHtml(r.prompt),
      `<div class="text">${escapeHtml(r.sft)}</div>`,
      score(r.sftScore),
      `<div class="text">${escapeHtml(r.ppo)}</div>`,
      score(r.ppoScore),
      escapeHtml(delta(r)),
    ]);
  return (
    `<h3>SFT vs PPO on held-out prompts</h3>` +
    `<p class="muted">Mean score: SFT ${escapeHtml(mean(rows.map((r) => r.sftScore)))}, PPO ` +
    `${escapeHtml(mean(rows.map((r) => r.ppoScore)))} over ${rows.length} prompts.</p>` +
    table(['prompt', 'SFT answer', 'SFT score', 'PPO answer', 'PPO score', 'Δ'], body, 'samples') +
    truncationNote(body.length, rows.length, file)
  );
}

/** The chart cards (canvases) of `specs`, drawn by the page script. */
export function chartsHtml(specs: ChartSpec[]): string {
  if (specs.length === 0) return '';
  const cards = specs.map(
    (c) =>
      `<figure class="chart"><figcaption>${escapeHtml(c.title)}</figcaption>` +
      `<div class="canvas-box"><canvas id="${escapeHtml(c.id)}" role="img" ` +
      `aria-label="${escapeHtml(`${c.title}: ${c.series.map((s) => s.label).join(', ')}`)}"></canvas></div></figure>`,
  );
  return `<div class="charts">\n${cards.join('\n')}\n</div>`;
}

export interface Section {
  id: string;
  title: string;
  html: string;
  charts: ChartSpec[];
}

/** One section; `id` is also the prefix of its canvas ids. `note` is plain text shown under the path. */
export function sectionFor(id: string, title: string, run: RunFiles, note?: string): Section {
  const charts = [...(run.metrics ? chartsFor(run.metrics.rows, id) : []), ...histogramsFor(run, id)];
  const parts: string[] = [`<section id="${escapeHtml(id)}"><h2>${escapeHtml(title)}</h2><p class="path">${escapeHtml(run.dir)}</p>`];
  if (note) parts.push(`<p class="muted">${escapeHtml(note)}</p>`);
  // A run that learned nothing says so first, before curves that may look busy.
  if (run.warnings)
    for (const m of run.warnings.messages)
      parts.push(
        `<p class="warning"><strong>Warning: this ${escapeHtml(run.warnings.stage)} run learned nothing.</strong> ${escapeHtml(m)}</p>`,
      );
  if (run.summary) parts.push(`<h3>Summary</h3>`, keyValueTable(flatten(run.summary.value)));
  if (run.metrics) {
    const rows = run.metrics.rows;
    // reduce, not Math.min(...): a long run has more rows than a call has argument slots.
    const lo = rows.reduce((m, r) => Math.min(m, r.step), Infinity);
    const hi = rows.reduce((m, r) => Math.max(m, r.step), -Infinity);
    const span = rows.length ? `steps ${formatValue(lo)}–${formatValue(hi)}` : 'no steps logged yet';
    parts.push(`<h3>Training curves</h3><p class="muted">${rows.length} logged rows, ${escapeHtml(span)}.</p>`, chartsHtml(charts));
  }
  // The held-out answers first: the same prompts at every evaluation, so start and end pair up.
  if (run.evalSamples) parts.push(samplesHtml(run.evalSamples.file, run.evalSamples.rows, 'Held-out answers'));
  if (run.samples) parts.push(samplesHtml(run.samples.file, run.samples.rows, run.evalSamples ? 'Training samples' : 'Samples'));
  if (run.comparison) parts.push(comparisonHtml(run.comparison.file, run.comparison.rows));
  for (const c of run.configs)
    parts.push(
      `<details class="config"><summary>Configuration (${escapeHtml(c.file)})</summary>${keyValueTable(flatten(c.value))}</details>`,
    );
  parts.push('</section>');
  return { id, title, html: parts.join('\n'), charts };
}
