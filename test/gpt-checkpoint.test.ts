// Checkpoint configs checked before anything is allocated: bounded sizes, errors that name the
// file and the key once, and a config that does not match its weights failing from the
// safetensors headers alone, fast, with a short list of what is missing.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { torch, GPT, RewardModel, loadSafetensors, saveSafetensors, type Tensor } from '../src/index.js';
import { modelConfigFromHF } from '../src/models/gpt-checkpoint.js';
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

// Loading streams each weight from its file into the model (issue 31): the values are those of
// the file cast to the model's dtype, the peak above the weights is a read piece, not the file,
// and the allocator's cache is left empty.
describe('streaming load', () => {
  const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
  const llamaConfig = (vocab: number, hidden: number, layers: number, inter: number) => ({
    model_type: 'llama',
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: layers,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
    tie_word_embeddings: true,
  });

  /** Every tensor of a checkpoint's files, as stored (the old loader's values before its cast). */
  async function stored(dir: string): Promise<Map<string, Tensor>> {
    const out = new Map<string, Tensor>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.safetensors')))
      for (const [k, t] of (await loadSafetensors(join(dir, f))).tensors) out.set(k, t);
    return out;
  }

  it('gives the stored values cast to the model dtype, exactly: f32, f16, bf16 (sharded) → f32 and → bf16', async () => {
    const f16dir = await checkpoint(JSON.parse(readFileSync(join(fixtures, 'llama-tiny', 'config.json'), 'utf8')));
    const f16 = await stored(join(fixtures, 'llama-tiny'));
    await saveSafetensors(join(f16dir, 'model.safetensors'), new Map([...f16].map(([k, t]) => [k, t.to('float16')])));
    torch.dispose([...f16.values()]);
    for (const dir of [join(fixtures, 'llama-tiny'), join(fixtures, 'llama-tiny-bf16-sharded'), f16dir]) {
      const want = await stored(dir);
      for (const dtype of ['float32', 'bfloat16'] as const) {
        const model = await GPT.load(dir, { dtype });
        const got = model.stateDict();
        for (const [k, t] of want) {
          const cast = t.to(dtype);
          expect(
            torch.noGrad(() => cast.equal(got.get(k)!)),
            `${dir} ${k} → ${dtype}`,
          ).toBe(true);
          cast.dispose();
        }
        model.dispose();
      }
      torch.dispose([...want.values()]);
    }
  });

  it('peaks at the weights plus a read piece, not the file, and leaves no allocator cache', async () => {
    const dist = new URL('../dist/index.js', import.meta.url);
    if (!existsSync(dist)) throw new Error('dist/ is missing: run npm run build:ts');
    // 39M parameters: 157 MB in float32 from a 79 MB bf16 file.
    const hf = llamaConfig(32768, 768, 2, 2048);
    const dir = await checkpoint(hf);
    const model = GPT.create(modelConfigFromHF(hf), { dtype: 'bfloat16' });
    await saveSafetensors(join(dir, 'model.safetensors'), new Map(model.namedParameters()));
    model.dispose();
    const fileBytes = statSync(join(dir, 'model.safetensors')).size;
    const script = `
      const { torch, GPT } = await import(${JSON.stringify(dist.href)});
      const before = process.memoryUsage().rss;
      const model = await GPT.load(${JSON.stringify(dir)}, { dtype: 'float32' });
      console.log(JSON.stringify({ over: process.resourceUsage().maxRSS * 1024 - before, weights: torch.memory().bytes,
        cached: torch.memory().cachedBytes }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, TORCH_RLHF_CPU_CACHE_MB: '512' },
    });
    expect(r.stderr).toBe('');
    const { over, weights, cached } = JSON.parse(r.stdout.trim()) as { over: number; weights: number; cached: number };
    expect(weights).toBeGreaterThan(1.9 * fileBytes);
    // Before: the file's bytes and the bf16 tensors made from them, 2 × 79 MB above the weights.
    expect(over - weights).toBeLessThan(0.5 * fileBytes);
    expect(cached).toBe(0);
  }, 120_000);

  it('takes each tensor from the shard the index names, and refuses a copy the index does not point to', async () => {
    const src = join(fixtures, 'llama-tiny-bf16-sharded');
    const dir = join(tmp, `c${counter++}`);
    cpSync(src, dir, { recursive: true });
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    const name = 'model.layers.0.mlp.up_proj.weight';
    const home = index.weight_map[name]!;
    const other = Object.values(index.weight_map).find((f) => f !== home)!;
    // A stale, different copy of the tensor in another shard.
    const shard = (await loadSafetensors(join(dir, other))).tensors;
    const homeShard = (await loadSafetensors(join(dir, home))).tensors;
    const stale = homeShard.get(name)!.add(1);
    await saveSafetensors(join(dir, other), new Map([...shard, [name, stale]]));
    const { message } = await timedError(() => GPT.load(dir));
    expect(message).toBe(
      `${join(dir, other)}: holds tensor '${name}', but ${join(dir, 'model.safetensors.index.json')}'s weight_map puts it in ` +
        `${join(dir, home)} (the index and the shards disagree)`,
    );
    // Moved for good (the index names the other shard, the home shard no longer holds it): that copy loads.
    await saveSafetensors(join(dir, home), new Map([...homeShard].filter(([k]) => k !== name)));
    const indexPath = join(dir, 'model.safetensors.index.json');
    writeFileSync(indexPath, JSON.stringify({ weight_map: { ...index.weight_map, [name]: other } }));
    const model = await GPT.load(dir);
    expect(torch.noGrad(() => model.stateDict().get(name)!.equal(stale.to('float32')))).toBe(true);
    model.dispose();
    // A tensor the index does not list at all.
    const unlisted = { ...index.weight_map };
    delete unlisted[name];
    writeFileSync(indexPath, JSON.stringify({ weight_map: unlisted }));
    expect((await timedError(() => GPT.load(dir))).message).toBe(
      `${join(dir, other)}: holds tensor '${name}', but ${indexPath}'s weight_map does not list it (the index and the shards disagree)`,
    );
    torch.dispose([...shard.values(), ...homeShard.values(), stale]);
  });

  it('refuses an integer or bool weight (a quantized checkpoint) naming the tensor, the file and the dtype', async () => {
    const hf = llamaConfig(16, 8, 1, 16);
    const model = GPT.create(modelConfigFromHF(hf));
    for (const dtype of ['int8', 'uint8', 'int32', 'bool'] as const) {
      const weights = new Map(model.namedParameters());
      const q = weights.get('model.layers.0.self_attn.q_proj.weight')!.to(dtype);
      weights.set('model.layers.0.self_attn.q_proj.weight', q);
      const dir = await checkpoint(hf, Object.fromEntries(weights));
      q.dispose();
      const base = liveMemory();
      expect((await timedError(() => GPT.load(dir))).message).toBe(
        `${join(dir, 'model.safetensors')}: tensor 'model.layers.0.self_attn.q_proj.weight' is stored as ${dtype}, which the model's ` +
          'floating-point weight cannot take as is (quantized checkpoints are not supported; load the unquantized weights)',
      );
      expect(liveMemory().tensors).toBe(base.tensors);
    }
    model.dispose();
  });
});
