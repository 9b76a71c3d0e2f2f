// Checkpoint configs checked before anything is allocated: bounded sizes, errors that name the
// file and the key once, and a config that does not match its weights failing from the
// safetensors headers alone, fast, with a short list of what is missing.
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { torch, GPT, RewardModel, saveSafetensors, type Tensor } from '../src/index.js';
import { liveMemory, tempDir } from './helpers.js';

const tmp = tempDir('gpt-checkpoint');
let counter = 0;

/** GPT-2 large's config.json (774M parameters, 3.1 GB in float32). */
const LARGE = { model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 1280, n_layer: 36, n_head: 20 };

/** A checkpoint directory with this config.json and, unless `weights` is null, these tensors. */
async function checkpoint(config: Record<string, unknown>, weights: Record<string, Tensor> | null = {}): Promise<string> {
  const dir = join(tmp, `c${counter++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  if (weights) await saveSafetensors(join(dir, 'model.safetensors'), weights);
  return dir;
}

/** The error of `load`, and how long it took to come. */
async function timedError(load: () => Promise<unknown>): Promise<{ message: string; ms: number }> {
  const t0 = performance.now();
  const err = await load().then(
    () => new Error('loaded'),
    (e: unknown) => e as Error,
  );
  return { message: err.message, ms: performance.now() - t0 };
}

const count = (s: string, part: string): number => s.split(part).length - 1;

describe('checkpoint config validation', () => {
  it('a big config beside weights that lack its tensors fails from the header, fast, listing a few', async () => {
    const base = liveMemory();
    const rss = process.memoryUsage().rss;
    const dir = await checkpoint(LARGE);
    const { message, ms } = await timedError(() => GPT.load(dir));
    expect(message).toMatch(
      new RegExp(
        `^${dir}: missing keys: transformer\\.wte\\.weight, transformer\\.wpe\\.weight, transformer\\.h\\.0\\.ln_1\\.weight, ` +
          `transformer\\.h\\.0\\.ln_1\\.bias, transformer\\.h\\.0\\.attn\\.c_attn\\.weight and 431 more \\(436 of the 437 tensors the ` +
          `config implies\\)$`,
      ),
    );
    expect(ms).toBeLessThan(500);
    expect(torch.memory().tensors).toBe(base.tensors);
    expect(process.memoryUsage().rss - rss).toBeLessThan(200e6); // nothing near the model's 3.1 GB
    // The same for a reward model, whose head is missing too.
    expect((await timedError(() => RewardModel.load(dir))).message).toMatch(/missing keys: .* and 433 more \(438 of the 439 tensors/);
  });

  it('one layer too many names what is missing, not every key', async () => {
    const small = { vocab_size: 11, n_positions: 8, n_embd: 4, n_layer: 1, n_head: 2 };
    const gpt = GPT.create({ vocabSize: 11, blockSize: 8, nEmbd: 4, nLayer: 1, nHead: 2 });
    const dir = await checkpoint({ ...small, n_layer: 3 }, Object.fromEntries(gpt.namedParameters()));
    gpt.dispose();
    const { message } = await timedError(() => GPT.load(dir));
    expect(message).toBe(
      `${dir}: missing keys: transformer.h.1.ln_1.weight, transformer.h.1.ln_1.bias, transformer.h.1.attn.c_attn.weight, ` +
        'transformer.h.1.attn.c_attn.bias, transformer.h.1.attn.c_proj.weight and 19 more (24 of the 41 tensors the config implies)',
    );
  });

  it.each([
    ['n_layer', 1e12, "field 'n_layer' must be at most 1024, got 1000000000000"],
    ['n_layer', 2.5, "field 'n_layer' must be a positive integer, got 2.5"],
    ['n_embd', 2 ** 20, "field 'n_embd' must be at most 65536, got 1048576"],
    ['n_head', 1e9, "field 'n_head' must be at most 1024, got 1000000000"],
    ['n_head', 3, "field 'n_embd' (1280) must be divisible by field 'n_head' (3)"],
    ['vocab_size', 2 ** 40, "field 'vocab_size' must be at most 2147483648, got 1099511627776"],
    ['n_positions', '1024', 'field \'n_positions\' must be a positive integer, got "1024"'],
    ['layer_norm_epsilon', 'tiny', 'field \'layer_norm_epsilon\' must be in (0, 1), got "tiny"'],
    ['resid_pdrop', 1, "field 'resid_pdrop' must be in [0, 1), got 1"],
  ])('%s = %j is refused at once, naming the file and the key', async (key, value, reason) => {
    const dir = await checkpoint({ ...LARGE, [key]: value });
    const { message, ms } = await timedError(() => GPT.load(dir));
    expect(message).toBe(`${join(dir, 'config.json')}: ${reason}`);
    expect(ms).toBeLessThan(500);
  });

  it('names the key the file uses, and the path once', async () => {
    const { n_layer: _, ...noLayers } = LARGE;
    const dir = await checkpoint(noLayers);
    const { message } = await timedError(() => GPT.load(dir));
    expect(message).toBe(`${join(dir, 'config.json')}: missing field 'n_layer'`);
    expect(count(message, dir)).toBe(1);
    const hidden = await checkpoint({ ...noLayers, num_hidden_layers: 0 });
    expect((await timedError(() => GPT.load(hidden))).message).toBe(
      `${join(hidden, 'config.json')}: field 'num_hidden_layers' must be a positive integer, got 0`,
    );
  });

  it('GPT.create bounds its sizes too', () => {
    const t0 = performance.now();
    expect(() => GPT.create({ vocabSize: 10, nLayer: 1e12 })).toThrow('GPT config: nLayer must be at most 1024, got 1000000000000');
    expect(() => GPT.create({ vocabSize: 10, nEmbd: 64, nHead: 2, layerNormEpsilon: Number.NaN })).toThrow(
      'GPT config: layerNormEpsilon must be in (0, 1), got NaN',
    );
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
