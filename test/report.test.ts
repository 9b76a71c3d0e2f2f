// The HTML report: built from synthetic run directories, rendered in headless Chromium, and
// checked through the #report-status element the page fills in after drawing (a chart counts
// as drawn when its plot area holds pixels of a series colour). Chromium is required, not
// optional: without it this file fails and says how to install it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildReport, writeReport } from '../src/report/index.js';
import { tempDir } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const tmp = tempDir('report');

// Payloads that would act if any file text reached the page unescaped.
const XSS_SAMPLE = `<script>document.body.setAttribute('data-pwned','sample')</script>`;
const XSS_PROMPT = `<img src=x onerror="document.body.setAttribute('data-pwned','prompt')">`;
const XSS_METRIC = `x</script><script>document.body.setAttribute('data-pwned','metric')</script>`;

function writeJsonl(dir: string, name: string, rows: unknown[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
function writeJson(dir: string, name: string, value: unknown): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), JSON.stringify(value, null, 2));
}

function makeSft(dir: string): void {
  const rows = [];
  for (let step = 1; step <= 40; step++) {
    const row: Record<string, number | null> = {
      step,
      loss: 3 * Math.exp(-step / 15) + 0.5,
      grad_norm: 2 / Math.sqrt(step),
      lr: step < 5 ? step * 1e-4 : 5e-4 * (1 - step / 50),
      epoch: step / 20,
      time: 1.7e9 + step,
    };
    if (step % 10 === 0)
      Object.assign(row, { 'eval/loss': 3 * Math.exp(-step / 15) + 0.7, 'eval/perplexity': Math.exp(3 * Math.exp(-step / 15) + 0.7) });
    rows.push(row);
  }
  writeJsonl(dir, 'metrics.jsonl', rows);
  writeJson(dir, 'sft_config.json', { learningRate: 5e-4, totalSteps: 40, outputDir: dir, model: { nLayer: 2, nEmbd: 64 } });
}

function makeRm(dir: string): void {
  const rows = [];
  for (let step = 1; step <= 30; step++) {
    const row: Record<string, number> = {
      step,
      loss: 0.69 * Math.exp(-step / 20),
      accuracy: Math.min(1, 0.5 + step / 50),
      margin: step / 10,
      lr: 1e-4,
      grad_norm: 1,
      epoch: step / 30,
    };
    if (step % 10 === 0) Object.assign(row, { 'eval/loss': 0.7 * Math.exp(-step / 20), 'eval/accuracy': 0.5 + step / 70 });
    rows.push(row);
  }
  writeJsonl(dir, 'metrics.jsonl', rows);
  writeJson(dir, 'reward_config.json', { learningRate: 1e-4, outputDir: dir });
}

function makePpo(dir: string, opts: { hostileMetric?: boolean } = {}): void {
  const rows = [];
  for (let step = 1; step <= 25; step++) {
    const row: Record<string, number | null> = {
      step,
      'objective/kl': step * 0.02,
      'objective/entropy': 2 - step * 0.03,
      'objective/scores': -1 + step * 0.08,
      'objective/rlhf_reward': -1 + step * 0.07,
      'objective/non_score_reward': -step * 0.01,
      'policy/approxkl_avg': 0.01,
      'policy/clipfrac_avg': 0.1 + (step % 3) * 0.02,
      'policy/entropy_avg': 1.9 - step * 0.02,
      'loss/policy_avg': -0.01 * step,
      'loss/value_avg': 1 / step,
      'val/clipfrac_avg': 0.05,
      'val/ratio': 1,
      'val/explained_variance': step === 3 ? null : step / 25,
      'val/response_length': 10 + step,
      lr: 1e-5,
      grad_norm: 0.5,
      time: 1.7e9 + step,
    };
    if (opts.hostileMetric) row[XSS_METRIC] = step;
    rows.push(row);
  }
  writeJsonl(dir, 'metrics.jsonl', rows);
  const samples = [];
  for (const iteration of [0, 10, 20])
    for (const prompt of ['What is 2+2?', 'Name a colour.', XSS_PROMPT])
      samples.push({
        iteration,
        prompt,
        answer: iteration === 20 && prompt === 'Name a colour.' ? XSS_SAMPLE : `answer@${iteration} to ${prompt.length}`,
        score: iteration / 10,
      });
  samples.push({ iteration: 20, prompt: 'Only late', answer: 'late answer', score: null });
  writeJsonl(dir, 'samples.jsonl', samples);
  writeJson(dir, 'ppo_config.json', { klCoef: 0.05, cliprange: 0.2, outputDir: dir, note: '</script><b>bold?</b>' });
}

function makeDemo(dir: string): void {
  makeSft(join(dir, 'sft'));
  makeRm(join(dir, 'rm'));
  makePpo(join(dir, 'ppo'), { hostileMetric: true });
  writeJsonl(dir, 'comparison.jsonl', [
    { prompt: 'Held-out one', sft: 'meh answer', ppo: 'better answer', sftScore: 0.2, ppoScore: 0.8 },
    { prompt: XSS_PROMPT, sft: XSS_SAMPLE, ppo: 'plain & simple', sftScore: 0.1, ppoScore: null },
  ]);
  writeJson(dir, 'summary.json', {
    sftScore: 0.15,
    ppoScore: 0.8,
    winRate: 0.75,
    finalKl: null,
    seconds: { sft: 1.5, total: 9 },
    outputDir: dir,
  });
}

interface Status {
  charts: number;
  drawn: number;
  state: string;
  failed: string;
}

/** The DOM after the page's scripts ran, as headless Chromium serialises it. */
function render(file: string): string {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} not found: this test renders the report in headless Chromium. Run \`bash scripts/setup.sh --test\` (it installs ` +
        "Debian's chromium package).",
    );
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
    '--virtual-time-budget=10000',
    '--dump-dom',
    pathToFileURL(file).href,
  ];
  const r = spawnSync(CHROMIUM, args, { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${CHROMIUM} failed: ${r.error.message}\n${r.stderr?.slice(-2000) ?? ''}`);
  if (r.status !== 0 || !r.stdout.includes('</html>')) throw new Error(`${CHROMIUM} exited with ${r.status}:\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

function statusOf(dom: string): Status {
  const tag = /<div[^>]*\bid="report-status"[^>]*>/.exec(dom)?.[0];
  if (!tag) throw new Error('no #report-status in the rendered DOM');
  const attr = (name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1] ?? '';
  return { charts: Number(attr('data-charts')), drawn: Number(attr('data-drawn')), state: attr('data-state'), failed: attr('data-failed') };
}

/** Renders `file` and checks that every chart drew; returns the DOM for further checks. */
function renderAndCheck(file: string, expectedCharts: number): string {
  const dom = render(file);
  const status = statusOf(dom);
  expect(status.state, 'the page script did not finish').toBe('done');
  expect(status.charts).toBe(expectedCharts);
  expect(status.drawn, `charts not drawn: ${status.failed}`).toBe(status.charts);
  expect(dom.match(/<canvas\b/g)?.length).toBe(status.charts);
  // Exactly our three scripts (data, Chart.js, drawing); none smuggled in from the files.
  expect(dom.match(/<script\b/g)?.length).toBe(3);
  expect(/<body[^>]*data-pwned/.test(dom)).toBe(false);
  return dom;
}

const captions = (html: string) => [...html.matchAll(/<figcaption>([^<]*)<\/figcaption>/g)].map((m) => m[1]);

describe('report', () => {
  it('has headless Chromium to render with', () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} not found: run \`bash scripts/setup.sh --test\``).toBe(true);
  });

  it('SFT run: loss, perplexity, learning rate and gradient norm charts draw; config table', async () => {
    const dir = join(tmp, 'sft');
    makeSft(dir);
    const file = await writeReport(dir);
    expect(file).toBe(join(dir, 'report.html'));
    const html = readFileSync(file, 'utf8');
    expect(captions(html)).toEqual(['Losses', 'Perplexity', 'Learning rate', 'Gradient norm']);
    expect(html).toContain('<h2>SFT</h2>');
    expect(html).toContain('sft_config.json');
    expect(html).toContain('<code>model.nLayer</code>');
    // Self-contained: nothing fetched from anywhere.
    expect(html).not.toMatch(/<(script|img|link|iframe)\b[^>]*\b(src|href)=/i);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    renderAndCheck(file, 4);
  });

  it('reward-model run: accuracy and margin charts draw', async () => {
    const dir = join(tmp, 'rm');
    makeRm(dir);
    const file = await writeReport(dir);
    const html = readFileSync(file, 'utf8');
    expect(captions(html)).toEqual(['Losses', 'Accuracy', 'Reward / score', 'Learning rate', 'Gradient norm']);
    expect(html).toContain('<h2>Reward model</h2>');
    renderAndCheck(file, 5);
  });

  it('PPO run: TRL metric groups draw; samples first vs last, escaped', async () => {
    const dir = join(tmp, 'ppo');
    makePpo(dir);
    const file = await writeReport(dir);
    const html = readFileSync(file, 'utf8');
    expect(captions(html)).toEqual([
      // objective/kl and policy/approxkl_avg differ by more than 10x: one chart each.
      'Clip fraction',
      'Entropy',
      'KL divergence (approxkl_avg)',
      'KL divergence (kl)',
      'Losses',
      'Reward / score',
      'Response length',
      'Learning rate',
      'Gradient norm',
      'Value function',
      'Score distribution (sampled answers)', // a histogram of the first vs the last iteration's scores
    ]);
    expect(html).toContain('Samples: first vs last iteration');
    expect(html).toContain('<th>iteration 0</th><th>iteration 20</th>');
    expect(html).toContain('answer@0 to 12'); // first iteration, paired…
    expect(html).toContain('answer@20 to 12'); // …with the last one
    expect(html).not.toContain('answer@10'); // middle iterations are left out
    expect(html).toContain('late answer'); // a prompt only the last iteration has
    expect(html).toContain('&lt;/script&gt;&lt;b&gt;bold?&lt;/b&gt;'); // config value escaped
    const dom = renderAndCheck(file, 11);
    expect(dom).toContain("&lt;script&gt;document.body.setAttribute('data-pwned','sample')&lt;/script&gt;");
    expect(dom).toContain('&lt;img src=x onerror=');
    expect(dom).not.toMatch(/<img\b/);
  });

  it('demo directory: overview with summary and comparison, then one section per stage', async () => {
    const dir = join(tmp, 'demo');
    makeDemo(dir);
    const out = join(tmp, 'demo-report.html');
    expect(await writeReport(dir, out)).toBe(out);
    const html = readFileSync(out, 'utf8');
    const sections = [...html.matchAll(/<section id="([^"]+)"><h2>([^<]+)<\/h2>/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(sections).toEqual(['run:Overview', 'sft:SFT', 'rm:Reward model', 'ppo:PPO']);
    expect(html).toContain('<code>seconds.total</code>');
    expect(html).toContain('<code>winRate</code>');
    expect(html).toContain('SFT vs PPO on held-out prompts');
    expect(html).toContain('better answer');
    expect(html).toContain('plain &amp; simple');
    expect(html).toContain('Mean score: SFT 0.15, PPO 0.8 over 2 prompts.');
    // The hostile metric name travels as JSON inside a <script> and must not close it.
    expect(html).toContain('x\\u003c/script\\u003e\\u003cscript\\u003e');
    const dom = renderAndCheck(out, 4 + 5 + 12);
    expect(dom).toContain("&lt;script&gt;document.body.setAttribute('data-pwned','sample')&lt;/script&gt;");
    expect(dom).toContain('21 of 21 charts drawn');
  });

  it('the status reports charts that did not draw (the check is not vacuous)', async () => {
    const dir = join(tmp, 'sabotage');
    makeSft(dir);
    const html = await buildReport(dir);
    // Canvases with no room: Chart.js runs but paints no plot area.
    const hidden = join(dir, 'hidden.html');
    writeFileSync(hidden, html.replace('</style>', '.canvas-box { display: none; }</style>'));
    const s1 = statusOf(render(hidden));
    expect(s1).toMatchObject({ state: 'done', charts: 4, drawn: 0 });
    // Chart.js missing altogether.
    const noLib = join(dir, 'nolib.html');
    const start = html.indexOf('<script>/*!');
    writeFileSync(noLib, html.slice(0, start) + '<script>' + html.slice(html.indexOf('</script>', start)));
    const s2 = statusOf(render(noLib));
    expect(s2).toMatchObject({ state: 'done', charts: 4, drawn: 0 });
  });

  it('a demo directory with a stage that has not logged yet still reports the rest', async () => {
    const dir = join(tmp, 'demo-partial');
    makeSft(join(dir, 'sft'));
    mkdirSync(join(dir, 'rm'));
    const html = await buildReport(dir);
    expect(html).toContain(`${join(dir, 'rm', 'metrics.jsonl')} not found`);
    expect(captions(html)).toHaveLength(4);
  });

  describe('errors name the file', () => {
    it('missing run directory', async () => {
      await expect(buildReport(join(tmp, 'nope'))).rejects.toThrow(`run directory not found: ${join(tmp, 'nope')}`);
    });

    it('missing metrics.jsonl, and no report file is written', async () => {
      const dir = join(tmp, 'empty');
      mkdirSync(dir);
      await expect(writeReport(dir)).rejects.toThrow(`${join(dir, 'metrics.jsonl')}: not found`);
      expect(existsSync(join(dir, 'report.html'))).toBe(false);
      mkdirSync(join(dir, 'sft'));
      await expect(buildReport(dir)).rejects.toThrow(join(dir, 'sft', 'metrics.jsonl'));
    });

    it('malformed metrics line → file:line', async () => {
      const dir = join(tmp, 'bad-metrics');
      mkdirSync(dir);
      writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1,"loss":2}\n\n{"step":2,"loss":\n');
      await expect(buildReport(dir)).rejects.toThrow(`${join(dir, 'metrics.jsonl')}:3: malformed JSON line`);
      writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1,"loss":2}\n[1,2]\n');
      await expect(buildReport(dir)).rejects.toThrow(`${join(dir, 'metrics.jsonl')}:2: expected a JSON object`);
      writeFileSync(join(dir, 'metrics.jsonl'), '{"loss":2}\n');
      await expect(buildReport(dir)).rejects.toThrow(`${join(dir, 'metrics.jsonl')}:1: "step" must be a number`);
    });

    it('an unfinished last line (a kill mid-write) is skipped with a warning; one in the middle is still an error', async () => {
      const dir = join(tmp, 'torn-metrics');
      mkdirSync(dir);
      writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1,"loss":2}\n{"step":2,"loss":1.5}\n{"step":3,"lo');
      const warnings: string[] = [];
      const warn = console.warn;
      console.warn = (msg: string) => void warnings.push(msg);
      try {
        const html = await buildReport(dir);
        expect(html).toContain('loss');
      } finally {
        console.warn = warn;
      }
      expect(warnings).toEqual([`${join(dir, 'metrics.jsonl')}:3: skipped an unfinished last line (the run stopped while writing it)`]);
      writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1,"loss":2}\n{"step":3,"lo{"step":2,"loss":1.5}\n{"step":3,"loss":1}');
      await expect(buildReport(dir)).rejects.toThrow(`${join(dir, 'metrics.jsonl')}:2: malformed JSON line`);
    });

    it('malformed samples, comparison and summary files', async () => {
      const dir = join(tmp, 'bad-others');
      writeJsonl(dir, 'metrics.jsonl', [{ step: 1, loss: 1 }]);
      writeFileSync(join(dir, 'samples.jsonl'), '{"iteration":0,"prompt":"p","answer":"a","score":1}\nnot json\n');
      await expect(buildReport(dir)).rejects.toThrow(`${join(dir, 'samples.jsonl')}:2: malformed JSON line`);
      rmSync(join(dir, 'samples.jsonl'));
      writeFileSync(join(dir, 'comparison.jsonl'), '{"prompt":"p","sft":1,"ppo":"b"}\n');
      await expect(buildReport(dir)).rejects.toThrow(`${join(dir, 'comparison.jsonl')}:1: "sft" must be a string`);
      rmSync(join(dir, 'comparison.jsonl'));
      writeFileSync(join(dir, 'summary.json'), '{"a":');
      await expect(buildReport(dir)).rejects.toThrow(`${join(dir, 'summary.json')}: malformed JSON`);
    });
  });
});
