// What `rlhf report` shows, without a browser: runs found by their contents (any folder name),
// metrics of different scales on different axes, and the online trainers' held-out evaluation
// (its charts, and its answers to the same prompts at the start and at the end).
import { describe, it, expect } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport, writeReport } from '../src/index.js';
import { chartsFor } from '../src/report/charts.js';
import { histogramSpec } from '../src/report/histograms.js';
import { smoothPoints } from '../src/report/smoothing.js';
import { PAGE_SCRIPT } from '../src/report/page-script.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('report-runs');
const sections = (html: string) => [...html.matchAll(/<section id="([^"]+)"><h2>([^<]+)<\/h2>/g)].map((m) => `${m[1]}:${m[2]}`);

function run(dir: string, stage: string, metric: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${stage}_config.json`), JSON.stringify({ outputDir: dir }));
  writeFileSync(join(dir, 'metrics.jsonl'), [1, 2, 3].map((step) => JSON.stringify({ step, [metric]: 1 / step })).join('\n') + '\n');
}

describe('report: runs found by contents', () => {
  it('reports folders of any name that hold a run, after the demo stages; skips empty folders and checkpoints', async () => {
    const dir = join(tmp, 'experiments');
    run(join(dir, 'sft'), 'sft', 'loss');
    run(join(dir, 'my-grpo-lr3e-5'), 'grpo', 'reward');
    run(join(dir, 'dpo run'), 'dpo', 'loss');
    mkdirSync(join(dir, 'notes'));
    mkdirSync(join(dir, 'checkpoint-3'));
    writeFileSync(join(dir, 'checkpoint-3', 'sft_config.json'), '{}');
    const html = await buildReport(dir);
    expect(sections(html)).toEqual(['sft:SFT', 'dpo_run:DPO: dpo run', 'my-grpo-lr3e-5:GRPO: my-grpo-lr3e-5']);
    expect(html).toContain(join(dir, 'my-grpo-lr3e-5'));
  });

  it('a folder with no run inside still fails, naming what it looked for', async () => {
    const dir = join(tmp, 'nothing');
    mkdirSync(join(dir, 'notes'), { recursive: true });
    await expect(buildReport(dir)).rejects.toThrow(`${join(dir, 'metrics.jsonl')}: not found`);
  });
});

describe('report: scales and held-out evaluation', () => {
  const rows = [1, 2, 3].map((step) => ({
    step,
    values: {
      'val/ratio': 1 + step / 100,
      'val/num_eos_tokens': 30 + step,
      'val/var_explained': 0.5,
      'loss/policy_avg': 0.01 * step,
      'loss/value_avg': 5 / step,
    },
  }));

  it('a group whose series differ by more than 10x is split into charts of one scale each', () => {
    const charts = chartsFor(rows, 'x').map((c) => `${c.title}: ${c.series.map((s) => s.label).join(' ')}`);
    expect(charts).toEqual([
      'Losses (policy_avg): loss/policy_avg',
      'Losses (value_avg): loss/value_avg',
      'Value function (ratio, var_explained): val/ratio val/var_explained',
      'Value function (num_eos_tokens): val/num_eos_tokens',
    ]);
  });

  it('series of one scale stay together, zeros included', () => {
    const same = [1, 2].map((step) => ({ step, values: { 'loss/a': 1, 'loss/b': 3, 'loss/c': 0 } }));
    expect(chartsFor(same, 'y').map((c) => c.title)).toEqual(['Losses']);
  });

  it('an online run shows its held-out win rate, empty share and the same prompts answered at the start and the end', async () => {
    const dir = join(tmp, 'grpo-eval');
    run(dir, 'grpo', 'reward');
    writeFileSync(
      join(dir, 'metrics.jsonl'),
      [0, 5]
        .map((step) =>
          JSON.stringify({ step, 'eval/reward': step / 10, 'eval/win_rate': step ? 0.25 : 0.5, 'eval/empty_fraction': step ? 0.19 : 0 }),
        )
        .join('\n') + '\n',
    );
    const answers = (it: number) =>
      ['a', 'b'].map((p) => JSON.stringify({ iteration: it, prompt: `Q ${p}`, answer: it ? '' : ` ${p}!`, score: it })).join('\n');
    writeFileSync(join(dir, 'eval_samples.jsonl'), `${answers(0)}\n${answers(5)}\n`);
    const html = await buildReport(dir);
    expect(html).toContain('<figcaption>Held-out: win rate and empty answers</figcaption>');
    expect(html).toContain('Held-out answers: first vs last iteration');
    expect(html).toContain('<th>iteration 0</th><th>iteration 5</th>');
    // Every held-out prompt has both answers: no "—" cells.
    const table = html.slice(html.indexOf('Held-out answers'));
    expect(table.slice(0, table.indexOf('</table>'))).not.toContain('<span class="muted">—</span>');
  });
});

describe('report: smoothing', () => {
  it('smooths as TensorBoard does (debiased EMA), keeps gaps, and 0 leaves the points as they are', () => {
    const pts: [number, number | null][] = [
      [1, 1],
      [2, null],
      [3, 3],
      [4, 5],
    ];
    expect(smoothPoints(pts, 0)).toBe(pts);
    const s = smoothPoints(pts, 0.5);
    // avg: 0.5, (gap), 0.5*0.5+0.5*3 = 1.75, 1.75*0.5+2.5 = 3.375; debiased by 1-0.5^n.
    expect(s.map(([x]) => x)).toEqual([1, 2, 3, 4]);
    expect(s[0]![1]).toBeCloseTo(1, 12);
    expect(s[1]![1]).toBeNull();
    expect(s[2]![1]).toBeCloseTo(1.75 / 0.75, 12);
    expect(s[3]![1]).toBeCloseTo(3.375 / 0.875, 12);
  });

  it('the page has the slider and runs this very function', async () => {
    const dir = join(tmp, 'smooth');
    run(dir, 'sft', 'loss');
    const html = await buildReport(dir);
    expect(html).toContain('<input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0">');
    expect(PAGE_SCRIPT).toContain(`var smoothPoints = ${smoothPoints.toString()};`);
  });
});

describe('report: runs of one kind overlaid', () => {
  it('two GRPO runs get a section with each shared metric, one line per run; a lone SFT run gets none', async () => {
    const dir = join(tmp, 'sweep');
    run(join(dir, 'lr-1e-5'), 'grpo', 'reward');
    run(join(dir, 'lr-3e-5'), 'grpo', 'reward');
    run(join(dir, 'sft-base'), 'sft', 'loss');
    const html = await buildReport(dir);
    expect(sections(html)).toEqual([
      'overlay-grpo:GRPO runs compared',
      'lr-1e-5:GRPO: lr-1e-5',
      'lr-3e-5:GRPO: lr-3e-5',
      'sft-base:SFT: sft-base',
    ]);
    const data = JSON.parse(
      html.slice(
        html.indexOf('<script type="application/json" id="report-data">') + 49,
        html.indexOf('</script>', html.indexOf('id="report-data"')),
      ),
    ) as { id: string; title: string; series: { label: string; points: [number, number][] }[] }[];
    const overlay = data.filter((c) => c.id.startsWith('overlay-grpo'));
    expect(overlay.map((c) => c.title)).toEqual(['reward']);
    expect(overlay[0]!.series.map((s) => s.label)).toEqual(['lr-1e-5', 'lr-3e-5']);
    expect(overlay[0]!.series[0]!.points).toEqual([
      [1, 1],
      [2, 0.5],
      [3, 1 / 3],
    ]);
  });
});

describe('report: score histograms', () => {
  it('shared bins; every finite value counted once; a constant set still gets a bin', () => {
    const h = histogramSpec(
      'h',
      't',
      [
        { label: 'a', values: [0, 0.5, 1, 1, Number.NaN] },
        { label: 'b', values: [0.25] },
      ],
      4,
    )!;
    expect(h.kind).toBe('histogram');
    expect(h.labels).toEqual(['0.125', '0.375', '0.625', '0.875']);
    expect(h.series.map((s) => s.label)).toEqual(['a (n=4)', 'b (n=1)']);
    expect(h.series.map((s) => s.points.map(([, c]) => c))).toEqual([
      [1, 0, 1, 2],
      [0, 1, 0, 0],
    ]);
    expect(histogramSpec('c', 't', [{ label: 'a', values: [2, 2] }], 2)!.series[0]!.points).toEqual([
      [0, 0],
      [1, 2],
    ]);
    expect(histogramSpec('e', 't', [{ label: 'a', values: [] }])).toBeNull();
  });

  it('a reward-model run shows chosen vs rejected; an online run its first vs last scores', async () => {
    const dir = join(tmp, 'rm-hist');
    run(dir, 'reward', 'loss');
    writeFileSync(
      join(dir, 'eval_scores.jsonl'),
      [
        [1, -1],
        [2, 0, -3],
      ]
        .map((scores) => JSON.stringify({ scores }))
        .join('\n') + '\n',
    );
    const html = await buildReport(dir);
    const data = JSON.parse(
      html.slice(html.indexOf('id="report-data">') + 17, html.indexOf('</script>', html.indexOf('id="report-data"'))),
    ) as { title: string; kind?: string; series: { label: string }[] }[];
    const rm = data.find((c) => c.kind === 'histogram')!;
    expect(rm.title).toBe('Reward model: held-out chosen vs rejected scores');
    expect(rm.series.map((s) => s.label)).toEqual(['chosen (n=2)', 'rejected (n=3)']);
    const odir = join(tmp, 'grpo-hist');
    run(odir, 'grpo', 'reward');
    writeFileSync(
      join(odir, 'eval_samples.jsonl'),
      [0, 4].flatMap((it) => [1, 2].map((i) => JSON.stringify({ iteration: it, prompt: `q${i}`, answer: 'a', score: it + i }))).join('\n') +
        '\n',
    );
    const ohtml = await buildReport(odir);
    expect(ohtml).toContain('<figcaption>Score distribution (held-out answers)</figcaption>');
    expect(ohtml).toContain('iteration 0 (n=2)');
    expect(ohtml).toContain('iteration 4 (n=2)');
  });
});

describe('report: several runs given', () => {
  it('each run is a section, and runs of one kind are overlaid; several runs need an output file', async () => {
    const a = join(tmp, 'cmp', 'a', 'grpo-seed1');
    const b = join(tmp, 'cmp', 'b', 'grpo-seed2');
    run(a, 'grpo', 'reward');
    run(b, 'grpo', 'reward');
    const html = await buildReport([a, b]);
    expect(sections(html)).toEqual(['overlay-grpo:GRPO runs compared', 'grpo-seed1:GRPO: grpo-seed1', 'grpo-seed2:GRPO: grpo-seed2']);
    expect(html).toContain('<h1>RLHF report: grpo-seed1 vs grpo-seed2</h1>');
    await expect(writeReport([a, b])).rejects.toThrow('a report of several runs needs an output file (--out FILE.html)');
    const out = join(tmp, 'cmp', 'cmp.html');
    expect(await writeReport([a, b], out)).toBe(out);
    await expect(buildReport([a, join(tmp, 'cmp')])).rejects.toThrow(`${join(tmp, 'cmp')}: holds no run`);
  });
});
