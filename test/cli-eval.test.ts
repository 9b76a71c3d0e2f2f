// The command line of the online trainers' held-out evaluation and reporting: --eval-prompts,
// --eval-reward and --eval-steps; --report-to tensorboard; plain progress lines when stderr is
// not a terminal; and the report of the run showing the held-out answers.
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ByteTokenizer, GPT } from '../src/index.js';
import { tempDir, words } from './helpers.js';
import { rlhfIn } from './cli-helpers.js';

const tmp = tempDir('cli-eval');
const rlhf = rlhfIn(tmp);

beforeAll(async () => {
  const model = GPT.create({ vocabSize: 259, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
  await model.save(join(tmp, 'policy'));
  await new ByteTokenizer().save(join(tmp, 'policy'));
  model.dispose();
  const rows = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `${tag}${i}:`, answer: String(i % 2) })).join('\n');
  writeFileSync(join(tmp, 'prompts.jsonl'), rows(8, 'p'));
  writeFileSync(join(tmp, 'eval.jsonl'), rows(3, 'e'));
});

describe('rlhf grpo --eval-prompts', () => {
  it('logs eval/* with the judge, writes eval_samples.jsonl and TensorBoard files, prints plain progress, and the report shows it', () => {
    const r = rlhf(
      ...words(`grpo --model policy --prompts prompts.jsonl --eval-prompts eval.jsonl
      --eval-reward exact-match:answer --reward length:2 --out run --max-steps 2 --eval-steps 1 --batch-size 4
      --num-generations 2 --max-completion-length 4 --sample-every 0 --report-to tensorboard`),
    );
    expect(r.code, r.err).toBe(0);
    // stderr is a pipe here: plain progress lines instead of a bar.
    expect(r.err).toMatch(/^grpo step 2\/2 \(100%\) reward -?[\d.]+, \d+ s elapsed, ETA 0 s$/m);
    const metrics = readFileSync(join(tmp, 'run', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    const evalRows = metrics.filter((m) => 'eval/win_rate' in m);
    expect(evalRows.map((m) => m.step)).toEqual([0, 1, 2]);
    expect(
      Object.keys(evalRows[0]!)
        .filter((k) => k.startsWith('eval/'))
        .sort(),
    ).toEqual(['eval/empty_fraction', 'eval/exact_match', 'eval/mean_length', 'eval/reward', 'eval/win_rate']);
    expect(
      readFileSync(join(tmp, 'run', 'eval_samples.jsonl'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(9);
    expect(readdirSync(join(tmp, 'run', 'runs')).filter((f) => f.startsWith('events.out.tfevents.'))).toHaveLength(1);
    const rep = rlhf('report', 'run');
    expect(rep.code, rep.err).toBe(0);
    const html = readFileSync(join(tmp, 'run', 'report.html'), 'utf8');
    expect(html).toContain('Held-out answers: first vs last iteration');
    expect(html).toContain('Held-out: win rate and empty answers');
    expect(existsSync(join(tmp, 'run', 'model.safetensors'))).toBe(true);
  });

  it('a bad --eval-prompts line is file:line, and --skip-invalid skips it', () => {
    writeFileSync(join(tmp, 'eval-bad.jsonl'), '{"prompt": "ok:"}\n{"prompt": ""}\n');
    const args = [
      'grpo',
      '--model',
      'policy',
      '--prompts',
      'prompts.jsonl',
      '--eval-prompts',
      'eval-bad.jsonl',
      '--reward',
      'length:2',
      '--out',
      'run-bad',
      '--max-steps',
      '1',
      '--batch-size',
      '4',
      '--num-generations',
      '2',
      '--max-completion-length',
      '4',
      '--progress-bar',
      'false',
    ];
    let r = rlhf(...args);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe("rlhf: eval-bad.jsonl:2: field 'prompt' must be a non-empty string (got an empty string)");
    r = rlhf(...args, '--skip-invalid');
    expect(r.code, r.err).toBe(0);
  });
});
