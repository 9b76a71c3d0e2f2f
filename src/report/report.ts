// `rlhf report RUN_DIR`: one self-contained HTML file with a run's training curves, samples,
// comparison and config. Chart.js is inlined so the file opens anywhere, offline, years later.
// After drawing, the page writes #report-status (data-charts, data-drawn) so a headless
// browser can check that every chart really drew.
import { promises as fsp } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { chartJsSource } from './chartjs.js';
import { escapeHtml, jsonForScript } from './html.js';
import { PAGE_SCRIPT } from './page-script.js';
import { findRuns, hasRunContent, type FoundRun } from './find-runs.js';
import { overlaySection } from './overlay.js';
import { readRunFiles, type MetricRow, type RunFiles } from './read.js';
import { sectionFor, stageTitle, type Section } from './sections.js';
import { STYLE } from './style.js';

async function checkRunDirectory(runDir: string): Promise<void> {
  let stat: Awaited<ReturnType<typeof fsp.stat>>;
  try {
    stat = await fsp.stat(runDir);
  } catch {
    throw new Error(`run directory not found: ${runDir}`);
  }
  if (!stat.isDirectory()) throw new Error(`${runDir}: not a directory (expected a run directory containing metrics.jsonl)`);
}

/** Runs given one by one (`rlhf report A B`): each must hold run files; names are the folders' (made unique). */
async function namedRuns(dirs: readonly string[]): Promise<FoundRun[]> {
  const seen = new Set<string>();
  const runs: FoundRun[] = [];
  for (const [i, dir] of dirs.entries()) {
    const files = await readRunFiles(dir);
    if (!hasRunContent(files)) throw new Error(`${dir}: holds no run (no metrics.jsonl, samples or <stage>_config.json)`);
    let name = basename(resolve(dir));
    if (seen.has(name)) name = `${name}-${i + 1}`;
    seen.add(name);
    const stage = files.configs[0]?.stage;
    runs.push({ dir: name, title: stage ? `${stageTitle(stage)}: ${name}` : name, files });
  }
  return runs;
}

/** A folder name as an HTML id and canvas-id prefix ('run' is the top section's). */
const sectionId = (dir: string): string => (dir === 'run' ? 'run-dir' : dir.replace(/[^A-Za-z0-9_-]/g, '_'));

/** The HTML report of `runDir` (a single run, or a directory of runs: the demo's sft/ rm/ ppo/, or any folders holding run files). */
export async function buildReport(runDirs: string | readonly string[]): Promise<string> {
  const list = typeof runDirs === 'string' ? [runDirs] : [...runDirs];
  if (list.length === 0) throw new Error('buildReport: no run directory given');
  for (const dir of list) await checkRunDirectory(dir);
  const runDir = list[0]!;
  // One directory: it and the runs in its folders. Several: each is one run, side by side and overlaid.
  const root: RunFiles = list.length === 1 ? await readRunFiles(runDir) : { dir: '', configs: [] };
  const stages = list.length === 1 ? await findRuns(runDir) : await namedRuns(list);
  if (!root.metrics && !stages.some((s) => s.files.metrics)) {
    const also = stages.length ? ` nor in ${stages.map((s) => join(s.files.dir, 'metrics.jsonl')).join(', ')}` : '';
    throw new Error(`${join(runDir, 'metrics.jsonl')}: not found${also} — is ${runDir} a training run's output directory?`);
  }

  const sections: Section[] = [];
  if (hasRunContent(root)) {
    const first = root.configs[0];
    const title = root.metrics ? (first ? stageTitle(first.stage) : 'Run') : 'Overview';
    sections.push(sectionFor('run', title, root));
  }
  for (const s of stages) {
    // A stage that has not logged yet (an interrupted demo) is shown, not fatal: the other
    // stages are still worth reading.
    const note = s.files.metrics ? undefined : `${join(s.files.dir, 'metrics.jsonl')} not found: this stage has not logged any step.`;
    sections.push(sectionFor(sectionId(s.dir), s.title, s.files, note));
  }

  // Two or more runs of one kind (their config's stage): their shared metrics overlaid, after the overview.
  const byStage = new Map<string, { name: string; rows: MetricRow[] }[]>();
  for (const s of stages) {
    const stage = s.files.configs[0]?.stage;
    if (stage && s.files.metrics) byStage.set(stage, [...(byStage.get(stage) ?? []), { name: s.dir, rows: s.files.metrics.rows }]);
  }
  const overlays = [...byStage]
    .flatMap(([stage, runs]) => (runs.length >= 2 ? [overlaySection(runs, stageTitle(stage), `overlay-${stage}`)] : []))
    .filter((o): o is Section => o !== null);
  sections.splice(hasRunContent(root) ? 1 : 0, 0, ...overlays);

  const charts = sections.flatMap((s) => s.charts);
  const name = list.map((d) => basename(resolve(d))).join(' vs ');
  const links = sections.map((s) => `<a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a>`);
  const nav = sections.length > 1 ? `<nav>${links.join(' · ')}</nav>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="torch-rlhf report">
<title>${escapeHtml(`RLHF report: ${name}`)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(`RLHF report: ${name}`)}</h1>
<p class="path">${escapeHtml(list.map((d) => resolve(d)).join(' · '))} · generated ${escapeHtml(new Date().toISOString())}</p>
${nav}
<div id="report-status" class="status" data-state="pending" data-charts="${charts.length}" data-drawn="0">
Charts need JavaScript; ${charts.length} not drawn yet.</div>
<label class="smoothing">Smoothing
<input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0"> <output id="smoothing-value">0.00</output></label>
</header>
<main>
${sections.map((s) => s.html).join('\n')}
</main>
<script type="application/json" id="report-data">${jsonForScript(charts)}</script>
<script>${await chartJsSource()}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** Writes the report (default `${runDir}/report.html`; several runs need `outFile`) atomically and returns its path. */
export async function writeReport(runDirs: string | readonly string[], outFile?: string): Promise<string> {
  const list = typeof runDirs === 'string' ? [runDirs] : [...runDirs];
  if (list.length > 1 && outFile === undefined) throw new Error('a report of several runs needs an output file (--out FILE.html)');
  const html = await buildReport(list);
  const path = outFile ?? join(list[0]!, 'report.html');
  await writeFileAtomic(path, Buffer.from(html, 'utf8'));
  return path;
}
