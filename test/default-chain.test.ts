// Issue 21's end-to-end check: with default flags only, `rlhf sft --model tiny`, then `rlhf rm`,
// then `rlhf ppo` improve a simple task that is not the bundled demo and that none of the
// defaults were measured on: "Shout abc:" → " ABC", where half of the demonstrations answer
// " abc" instead (a careless labeler). The reward model learns the preference (chosen: the
// shout), PPO against it raises the held-out task score (exact shouts of held-out words,
// sampled at temperature 0.7), and none of the three runs warns that it learned nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../src/data/random.js';
import { GPT } from '../src/models/gpt.js';
import { generateText } from '../src/text/generate.js';
import { ByteTokenizer } from '../src/tokenizers/byte-tokenizer.js';
import { rlhfIn } from './cli-helpers.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('chain');
let heldOut: string[];
const rlhf = rlhfIn(tmp, { env: { ...process.env, OMP_NUM_THREADS: '1' }, timeoutMs: 600_000, extraArgs: ['--progress-bar', 'false'] });

beforeAll(() => {
  const rng = mulberry32(21);
  const word = () => Array.from({ length: 3 + Math.floor(rng() * 3) }, () => String.fromCharCode(97 + Math.floor(rng() * 10))).join('');
  const held = new Set<string>();
  while (held.size < 150) held.add(word());
  heldOut = [...held];
  const train = () => {
    for (;;) {
      const w = word();
      if (!held.has(w)) return w;
    }
  };
  const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  writeFileSync(
    join(tmp, 'sft.jsonl'),
    jsonl(
      Array.from({ length: 600 }, () => {
        const w = train();
        return { prompt: `Shout ${w}:`, completion: ` ${rng() < 0.5 ? w.toUpperCase() : w}` };
      }),
    ),
  );
  writeFileSync(
    join(tmp, 'prefs.jsonl'),
    jsonl(
      Array.from({ length: 600 }, () => {
        const w = train();
        return { prompt: `Shout ${w}:`, chosen: ` ${w.toUpperCase()}`, rejected: ` ${w}` };
      }),
    ),
  );
  writeFileSync(join(tmp, 'prompts.jsonl'), jsonl(Array.from({ length: 300 }, () => ({ prompt: `Shout ${train()}:` }))));
});

/** The share of exact shouts of the held-out words, 3 samples each at temperature 0.7 (fixed seeds). */
async function taskScore(dir: string): Promise<number> {
  const model = await GPT.load(join(tmp, dir));
  model.eval();
  let right = 0;
  for (let s = 0; s < 3; s++) {
    const answers = await generateText(
      model,
      new ByteTokenizer(),
      heldOut.map((w) => `Shout ${w}:`),
      { maxNewTokens: 10, temperature: 0.7, seed: 100 + s },
    );
    answers.forEach((a, i) => (right += a.trim() === heldOut[i]!.toUpperCase() ? 1 : 0));
  }
  model.dispose();
  return right / (3 * heldOut.length);
}

describe('sft → rm → ppo with default flags on a task the defaults were not tuned for', () => {
  it('the RM is well above chance, PPO raises the held-out task score, and nothing warns', async () => {
    const sft = rlhf('sft', '--model', 'tiny', '--data', 'sft.jsonl', '--out', 'sft');
    expect(sft.code, sft.err).toBe(0);
    expect(sft.err).toMatch(/sft: from scratch \(random weights\): learningRate 2e-3/);
    const rm = rlhf('rm', '--model', 'sft', '--data', 'prefs.jsonl', '--out', 'rm');
    expect(rm.code, rm.err).toBe(0);
    expect(rm.err).toMatch(/reward: from a checkpoint trained from scratch: learningRate 5e-4/);
    expect(JSON.parse(rm.out.trim().split('\n').pop()!)['eval/accuracy']).toBeGreaterThan(0.8);
    const ppo = rlhf('ppo', '--policy', 'sft', '--reward-model', 'rm', '--prompts', 'prompts.jsonl', '--out', 'ppo');
    expect(ppo.code, ppo.err).toBe(0);
    for (const r of [sft, rm, ppo]) expect(r.err).not.toMatch(/warning:/);
    const [before, after] = [await taskScore('sft'), await taskScore('ppo')];
    expect(after, `held-out task score ${before} → ${after}`).toBeGreaterThan(before + 0.1); // 0.38 → 0.64 on the development machine
  }, 900_000);
});
