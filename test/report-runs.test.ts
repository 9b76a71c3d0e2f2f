// What `rlhf report` shows, without a browser: runs found by their contents (any folder name),
// and (see charts) metrics of different scales kept on different axes.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildReport } from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'torch-rlhf-report-runs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
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
