// Shared test helpers.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, vi } from 'vitest';
import { GPT, SFTTrainer, torch, type GenerateOptions, type SFTExample, type Tensor, type Tokenizer } from '../src/index.js';

/** Elementwise closeness of a tensor to nested arrays (or another tensor). */
export function expectClose(actual: Tensor, expected: unknown, atol = 1e-5, rtol = 1e-5): void {
  const exp = torch.tensor(expected instanceof torch.Tensor ? (expected as Tensor).tolist() : (expected as number[]), { dtype: 'float64' });
  const act = actual.to('float64');
  try {
    expect(act.shape).toEqual(exp.shape);
    const ok = act.allclose(exp, rtol, atol);
    if (!ok) expect(act.tolist()).toEqual(exp.tolist());
  } finally {
    exp.dispose();
    act.dispose();
  }
}

/**
 * generate with numReturnSequences G (each prompt prefilled once, its KV cache repeated) against
 * generate on each prompt repeated G times: the same rows in the same order (p0, p0, …, p1, …),
 * identical tokens, and log-probs within 1e-6 relative (one float32 ulp of a log-prob near -10 is
 * 9.5e-7: the prefill's products over B rows and over B·G rows may round apart by that). Sampling
 * with a seed draws the same tokens too:
 * both draw one multinomial over all B·G rows a step from the same generator.
 */
export async function expectSharedPrefixMatchesRepeats(
  model: GPT,
  prompts: number[][],
  G: number,
  options: GenerateOptions,
): Promise<void> {
  const shared = await model.generate(prompts, { ...options, numReturnSequences: G });
  const repeated = await model.generate(
    prompts.flatMap((p) => Array<number[]>(G).fill(p)),
    options,
  );
  try {
    expect(shared.tokens.shape).toEqual([prompts.length * G, repeated.tokens.shape[1]]);
    expect(shared.tokens.tolist()).toEqual(repeated.tokens.tolist());
    expect(shared.responseMask.tolist()).toEqual(repeated.responseMask.tolist());
    expect(shared.promptIds.tolist()).toEqual(repeated.promptIds.tolist());
    expect(shared.promptMask.tolist()).toEqual(repeated.promptMask.tolist());
    expect(shared.sequences).toEqual(repeated.sequences);
    const worst = torch.tidy(() => shared.logprobs.sub(repeated.logprobs).abs().div(repeated.logprobs.abs().add(1)).max().item());
    expect(worst).toBeLessThan(1e-6);
  } finally {
    for (const out of [shared, repeated]) torch.dispose([out.tokens, out.responseMask, out.logprobs, out.promptIds, out.promptMask]);
  }
}

/** A fresh directory `torch-rlhf-<name>-XXXXXX` under the system's temp dir, removed after the file's tests. */
/** torch.memory() less the allocator's cache, which grows as tensors are freed: what baseline checks compare. */
export function liveMemory(): Omit<ReturnType<typeof torch.memory>, 'cachedBytes'> {
  const { cachedBytes: _cached, ...live } = torch.memory();
  return live;
}

export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `torch-rlhf-${name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A command line's words: `words('sft --max-steps 2')` is `['sft', '--max-steps', '2']` (no quoting; for test argv). */
export function words(line: string): string[] {
  return line.trim().split(/\s+/);
}

/** Makes the `n`-th call of `target[method]` throw 'power cut', as a kill mid-run would; the other calls run as before. */
export function cutPowerAt(target: object, method: string, n: number): void {
  const host = target as Record<string, (...args: unknown[]) => unknown>;
  const original = host[method]!.bind(target);
  let calls = 0;
  host[method] = (...args: unknown[]) => {
    if (++calls === n) throw new Error('power cut');
    return original(...args);
  };
}

/** The two models have the same parameter names, in order, and bit-identical values. */
export function expectSameParameters(
  actual: { namedParameters(): [string, Tensor][] },
  expected: { namedParameters(): [string, Tensor][] },
): void {
  const a = actual.namedParameters();
  const e = expected.namedParameters();
  expect(a.map(([n]) => n)).toEqual(e.map(([n]) => n));
  e.forEach(([n, p], i) => expect(a[i]![1].equal(p), n).toBe(true));
}

/**
 * Demonstrations that answer prompts p0: … p{prompts-1}: with short strings over {a, b, c}
 * (3 to 2 + `maxLength` letters, from a seeded LCG), so that a policy trained on them samples
 * answers a reward on the letters can tell apart.
 */
export function abcDemos(options: { count: number; prompts: number; maxLength: number; seed: number }): SFTExample[] {
  let x = options.seed;
  const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: options.count }, (_, i) => ({
    kind: 'prompt-completion',
    prompt: `p${i % options.prompts}:`,
    completion: Array.from({ length: 3 + Math.floor(rnd() * options.maxLength) }, () => 'abc'[Math.floor(rnd() * 3)]).join(''),
  }));
}

/** Trains a 2-layer, 32-wide GPT on `demos` (SFT: lr 3e-3, 6 epochs, batch 16, seed 0) and saves it to `dir`. */
export async function trainSFTPolicy(dir: string, tokenizer: Tokenizer, demos: SFTExample[]): Promise<void> {
  torch.manualSeed(0);
  const model = GPT.create({ vocabSize: tokenizer.vocabSize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32 });
  const trainer = new SFTTrainer({
    model,
    tokenizer,
    trainDataset: demos,
    config: { outputDir: dir, learningRate: 3e-3, numTrainEpochs: 6, batchSize: 16, progressBar: false },
  });
  try {
    await trainer.train();
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

/** One run of expectExactResume: its trainer, the model it trains, and what frees them (default: the two's dispose). */
export interface ResumeRun<T extends { train(): Promise<unknown>; dispose(): void }> {
  trainer: T;
  model: { namedParameters(): [string, Tensor][]; dispose(): void };
  done?: () => void;
}

/**
 * The exact-resume check every trainer has: an uninterrupted run ('full'), a run killed at the
 * `cut[1]`-th call of its trainer's `cut[0]` method ('part', which leaves `checkpoint`), and a
 * fresh model and trainer in another RNG state resuming the killed run's output dir ('resumed',
 * made with resumeFromCheckpoint). The resumed parameters must equal the uninterrupted ones bit
 * for bit; `also` checks more (metrics, controller state) before everything is disposed.
 */
export async function expectExactResume<T extends { train(): Promise<unknown>; dispose(): void }>(options: {
  make: (run: 'full' | 'part' | 'resumed') => ResumeRun<T> | Promise<ResumeRun<T>>;
  cut: [method: string, call: number];
  checkpoint?: string;
  also?: (full: ResumeRun<T>, resumed: ResumeRun<T>) => void;
}): Promise<void> {
  const runs: ResumeRun<T>[] = [];
  const start = async (run: 'full' | 'part' | 'resumed') => {
    const r = await options.make(run);
    runs.push(r);
    return r;
  };
  try {
    const full = await start('full');
    await full.trainer.train();
    const part = await start('part');
    cutPowerAt(part.trainer, ...options.cut);
    await expect(part.trainer.train()).rejects.toThrow('power cut');
    if (options.checkpoint) expect(existsSync(options.checkpoint), options.checkpoint).toBe(true);
    torch.manualSeed(999); // a different process state: resume must restore it
    const resumed = await start('resumed');
    await resumed.trainer.train();
    expectSameParameters(resumed.model, full.model);
    options.also?.(full, resumed);
  } finally {
    for (const r of runs) {
      if (r.done) r.done();
      else {
        r.trainer.dispose();
        r.model.dispose();
      }
    }
  }
}

/** Makes a trainer and trains it, with what it writes to stderr (notes, warnings) captured rather than shown; disposes it after. */
export async function trainCapturingStderr<R>(
  make: () => { train(): Promise<R>; dispose(): void },
): Promise<{ result: R; stderr: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (lines.push(String(s)), true));
  try {
    const trainer = make();
    try {
      return { result: await trainer.train(), stderr: lines.join('') };
    } finally {
      trainer.dispose();
    }
  } finally {
    spy.mockRestore();
  }
}
