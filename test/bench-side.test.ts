// The benchmarks' torch-rlhf side (scripts/bench/node_side.mjs) runs every one of its tasks
// against the built library, at a tiny size. The benchmarks reach into the trainers (PPO's
// rollout and update, a trainer's metrics.jsonl times), so a change to the library can break
// them without any other test noticing; this file is that check. It times nothing: only that
// each task runs and reports one finite, positive time per repeat.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SIDE = fileURLToPath(new URL('../scripts/bench/node_side.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const PAD = 258; // ByteTokenizer's ids, as the benchmarks use them
const size = { vocabSize: 259, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 };
const llama = { arch: 'llama', vocabSize: 259, blockSize: 32, nLayer: 1, nHead: 2, nKvHead: 1, nEmbd: 16, intermediateSize: 32 };
const ids = (n: number, from: number) => Array.from({ length: n }, (_, i) => (from + 7 * i) % 256);
// bench-realsize's tasks at a tiny size: a Hugging Face checkpoint directory (Qwen2, ChatML tokenizer), LoRA on every linear layer.
const QWEN2_TINY = fileURLToPath(new URL('./fixtures/qwen2-tiny', import.meta.url));
const checkpoint = {
  model: { dir: QWEN2_TINY, dtype: 'float32' },
  peft: { r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear' },
};

/** One task in a fresh child, as scripts/bench/rounds.mjs runs it: the JSON on stdin, one JSON line out. */
function side(task: Record<string, unknown>): Record<string, unknown> & { times: number[] } {
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run npm run build:ts');
  const r = spawnSync(process.execPath, [SIDE], {
    input: JSON.stringify({ threads: 1, warmup: 0, repeats: 2, ...task }),
    encoding: 'utf8',
    timeout: 300_000,
  });
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  expect(out.times).toHaveLength(2);
  for (const t of out.times) expect(Number.isFinite(t) && t > 0, String(t)).toBe(true);
  return out;
}

describe('the benchmarks, torch-rlhf side', () => {
  it('matmul, SFT and reward-model steps', () => {
    side({ task: 'matmul', n: 32 });
    const seqs = [ids(12, 1), ids(9, 2)].map((s) => ({ ids: s, labels: s.map((id, j) => (j < 3 ? -100 : id)) }));
    const sft = side({ task: 'sft', size, matmul: { n: 32, warmup: 0, repeats: 1 }, data: { pad: PAD, seqs } });
    expect(sft.matmulTimes).toHaveLength(1);
    side({ task: 'sft', size: llama, matmul: { n: 32, warmup: 0, repeats: 1 }, data: { pad: PAD, seqs } });
    side({
      task: 'rm',
      size,
      data: {
        pad: PAD,
        pairs: [
          [ids(8, 1), ids(6, 3)],
          [ids(5, 2), ids(9, 4)],
        ],
      },
    });
  }, 300_000);

  it('a PPO iteration: rollout and update timed apart', () => {
    const ppo = {
      numIterations: 100,
      batchSize: 4,
      miniBatchSize: 2,
      ppoEpochs: 2,
      maxNewTokens: 4,
      maxPromptLength: 16,
      temperature: 0.7,
      learningRate: 3e-6,
      seed: 42,
    };
    const out = side({ task: 'ppo', size, ppo, data: { prompts: ['abcd', 'efg', 'hijkl', 'mn'] } });
    expect(out.rolloutTimes).toHaveLength(2);
  }, 300_000);

  it("DPO and GRPO steps, from their trainers' own train()", () => {
    const pairs = [
      { prompt: 'abc', chosen: 'defgh', rejected: 'ijk' },
      { prompt: 'lmn', chosen: 'op', rejected: 'qrstu' },
    ];
    side({ task: 'dpo', size, dpo: { batchSize: 2, learningRate: 1e-6, beta: 0.1 }, data: { pairs } });
    const grpo = {
      batchSize: 4,
      numGenerations: 2,
      maxCompletionLength: 4,
      temperature: 1,
      beta: 0,
      learningRate: 1e-6,
      lossType: 'dapo',
      scaleRewards: 'group',
      epsilon: 0.2,
      rewardByte: 97,
    };
    const out = side({ task: 'grpo', size, grpo, data: { prompts: ['abcd', 'efgh'] } });
    expect(out.rolloutTimes).toHaveLength(2);
    expect(out.meanCompletionLength).toBeGreaterThan(0);
  }, 300_000);

  it('bench-realsize: SFT, DPO and GRPO with LoRA on a checkpoint directory, full SFT, generation of several samples', () => {
    const settings = { mixedPrecision: 'no' }; // trainer fields pass through to the config
    const examples = [
      { prompt: 'the model', completion: ' learns from data' },
      { prompt: 'a reward', completion: ' for the policy' },
    ];
    const sft = { batchSize: 2, learningRate: 2e-4, maxLength: 32 };
    const lora = side({ task: 'sftTrainer', ...checkpoint, settings, sft, data: { examples } });
    expect(lora.trainableDtype).toBe('float32');
    const full = side({ task: 'sftTrainer', model: checkpoint.model, settings, sft, data: { examples } });
    expect(full.trainable as number).toBeGreaterThan(lora.trainable as number);
    const pairs = [{ prompt: 'the model', chosen: ' learns', rejected: ' forgets the data' }];
    side({ task: 'dpo', ...checkpoint, settings, dpo: { batchSize: 1, learningRate: 1e-6, beta: 0.1, maxLength: 32 }, data: { pairs } });
    const grpo = { batchSize: 2, numGenerations: 2, maxCompletionLength: 4, temperature: 1, beta: 0, learningRate: 1e-6 };
    const scored = { lossType: 'dapo', scaleRewards: 'group', epsilon: 0.2, rewardByte: 97 };
    const out = side({ task: 'grpo', ...checkpoint, settings, grpo: { ...grpo, ...scored }, data: { prompts: ['the model', 'a reward'] } });
    expect(out.rolloutTimes).toHaveLength(2);
    const gen = { prompts: [[1, 2, 3]], newTokens: 4, numReturnSequences: 3 };
    const sampled = side({ task: 'generate', model: checkpoint.model, warmup: 1, gen });
    expect(sampled.outShape).toEqual([3, 4]);
  }, 300_000);

  it('generation with and without the KV cache, GPT-2 and Llama', () => {
    const gen = { batch: 2, promptLen: 4, newTokens: 4 };
    for (const model of [size, llama]) for (const useCache of [true, false]) side({ task: 'generate', size: model, useCache, gen });
  }, 300_000);
});
