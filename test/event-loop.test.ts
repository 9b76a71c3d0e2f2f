// Training inside a service: train() leaves the event loop free (the forward, backward and
// optimizer step run on the compute thread; docs/guide.md, "Training inside a service"), and an
// AbortSignal stops a run within one micro-batch with an AbortError, keeping the last complete
// checkpoint. The stall bound is generous (a loaded CI machine); the steps are made long enough
// (many micro-batches per optimizer step) that a step run on the JS thread stalls far longer.
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ByteTokenizer, DPOTrainer, GPT, GRPOTrainer, SFTTrainer, torch, type PreferencePair, type SFTExample } from '../src/index.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('event-loop');
const tok = new ByteTokenizer();
const quiet = { progressBar: false } as const;
/** A model whose micro-batch takes tens of milliseconds, so that a step of many takes a second or more. */
const model = () => GPT.create({ vocabSize: tok.vocabSize, blockSize: 160, nLayer: 4, nHead: 4, nEmbd: 128 });
const text = (i: number, n: number) => Array.from({ length: n }, (_, k) => 'abcdefgh'[(i + k) % 8]).join('');
const sftData: SFTExample[] = Array.from({ length: 64 }, (_, i) => ({
  kind: 'prompt-completion',
  prompt: `q${i}:`,
  completion: text(i, 120),
}));
const dpoData: PreferencePair[] = Array.from({ length: 64 }, (_, i) => ({
  kind: 'text',
  prompt: `q${i}:`,
  chosen: text(i, 60),
  rejected: text(i + 1, 60),
}));
/** The longest stall, in milliseconds; a timer beside it must keep firing. */
const STALL_BOUND_MS = 250;

/** Runs `fn` with the event loop's delay monitored: its result, the longest stall (ms) and how many 5 ms ticks ran meanwhile. */
async function monitored<T>(fn: () => Promise<T>): Promise<{ result: T; maxStallMs: number; ticks: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  h.enable();
  try {
    const result = await fn();
    return { result, maxStallMs: h.max / 1e6, ticks };
  } finally {
    h.disable();
    clearInterval(timer);
  }
}

describe('train() leaves the event loop free', () => {
  it('SFT: the longest stall stays under the bound while steps of 8 micro-batches run', async () => {
    const m = model();
    const t = new SFTTrainer({
      model: m,
      tokenizer: tok,
      trainDataset: sftData,
      config: { outputDir: join(tmp, 'sft'), maxSteps: 2, batchSize: 4, gradientAccumulationSteps: 8, loggingSteps: 1, ...quiet },
    });
    const { result, maxStallMs, ticks } = await monitored(() => t.train());
    expect(result.globalStep).toBe(2);
    expect(maxStallMs).toBeLessThan(STALL_BOUND_MS);
    expect(ticks).toBeGreaterThan(0);
    t.dispose();
    m.dispose();
  });

  it('DPO: the same, with a reference model', async () => {
    const m = model();
    const t = new DPOTrainer({
      model: m,
      tokenizer: tok,
      trainDataset: dpoData,
      config: { outputDir: join(tmp, 'dpo'), maxSteps: 2, batchSize: 4, gradientAccumulationSteps: 8, loggingSteps: 1, ...quiet },
    });
    const { result, maxStallMs } = await monitored(() => t.train());
    expect(result.globalStep).toBe(2);
    expect(maxStallMs).toBeLessThan(STALL_BOUND_MS);
    t.dispose();
    m.dispose();
  });

  it('GRPO: the same, with a reward function running on this thread (its closure intact)', async () => {
    const m = model();
    const seen: number[] = [];
    const t = new GRPOTrainer({
      model: m,
      tokenizer: tok,
      prompts: Array.from({ length: 16 }, (_, i) => ({ prompt: `${text(i, 40)}:` })),
      rewards: [({ completions }) => (seen.push(completions.length), completions.map((c) => c.length / 100))],
      config: {
        outputDir: join(tmp, 'grpo'),
        maxSteps: 2,
        numGenerations: 4,
        batchSize: 32,
        microBatchSize: 4,
        maxCompletionLength: 64,
        loggingSteps: 1,
        ...quiet,
      },
    });
    const { result, maxStallMs } = await monitored(() => t.train());
    expect(result.globalStep).toBe(2);
    expect(seen).toEqual([32, 32]);
    expect(maxStallMs).toBeLessThan(STALL_BOUND_MS);
    t.dispose();
    m.dispose();
  });
});

describe('train({ signal }) cancels a run', () => {
  const tiny = () => GPT.create({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 2, nHead: 2, nEmbd: 32 });
  const sft = (dir: string, m: GPT, extra: Record<string, unknown> = {}) =>
    new SFTTrainer({
      model: m,
      tokenizer: tok,
      trainDataset: sftData.map((e) => ({ ...e, completion: (e as { completion: string }).completion.slice(0, 20) })) as SFTExample[],
      config: {
        outputDir: dir,
        maxSteps: 1000,
        batchSize: 2,
        gradientAccumulationSteps: 4,
        saveSteps: 2,
        loggingSteps: 1,
        ...quiet,
        ...extra,
      },
    });

  it('stops within one micro-batch with an AbortError and keeps the last complete checkpoint', async () => {
    const before = torch.memory();
    const m = tiny();
    const dir = join(tmp, 'abort');
    const t = sft(dir, m);
    const controller = new AbortController();
    // Abort from a timer (as a request handler would), once step 5 is under way.
    t.addCallback({ onStep: (s) => void (s.globalStep === 4 && setTimeout(() => controller.abort(), 0)) });
    const err = await t.train({ signal: controller.signal }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('AbortError');
    // Step 5 was under way and is not finished: the run holds 4 steps and checkpoint-4.
    expect(t.step).toBe(4);
    const checkpoints = readdirSync(dir).filter((f) => f.startsWith('checkpoint-'));
    expect(checkpoints.sort()).toEqual(['checkpoint-2', 'checkpoint-4']);
    for (const c of checkpoints) expect(existsSync(join(dir, c, 'trainer_state.json')), c).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('tmp'))).toEqual([]);
    // The run resumes from its last checkpoint.
    const again = sft(dir, m, { maxSteps: 6, resumeFromCheckpoint: true });
    expect((await again.train()).globalStep).toBe(6);
    again.dispose();
    t.dispose();
    m.dispose();
    expect(torch.memory()).toEqual(before);
  });

  it('refuses a second train() while the first runs (their steps would interleave on one optimizer)', async () => {
    const m = tiny();
    const t = sft(join(tmp, 'twice'), m, { maxSteps: 2 });
    const first = t.train();
    await expect(t.train()).rejects.toThrow(/already training/);
    expect((await first).globalStep).toBe(2);
    t.dispose();
    m.dispose();
  });

  it('rejects at once when the signal is already aborted, and refuses what is not an AbortSignal', async () => {
    const m = tiny();
    const dir = join(tmp, 'aborted');
    const t = sft(dir, m, { maxSteps: 2 });
    await expect(t.train({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(t.step).toBe(0);
    expect(existsSync(dir)).toBe(false);
    await expect(t.train({ signal: {} as AbortSignal })).rejects.toThrow(/signal must be an AbortSignal/);
    // A reason of the caller's own becomes the AbortError's cause.
    const reason = new Error('shutting down');
    const e = await t.train({ signal: AbortSignal.abort(reason) }).catch((x: unknown) => x);
    expect((e as DOMException).name).toBe('AbortError');
    expect((e as Error & { cause?: unknown }).cause).toBe(reason);
    t.dispose();
    m.dispose();
  });
});
