// The Llama-family fixtures (test/fixtures/{llama-tiny, qwen2-tiny, llama-tiny-bf16-sharded},
// made by scripts/fixtures/make_llama_fixtures.py with Hugging Face transformers) are
// well-formed: complete model directories whose tensors, config, tokenizer and golden agree
// with each other. Only the files are read here (no torch-rlhf code); where .venv has
// transformers, the script's check mode must also accept each fixture against its own golden.
import { describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, 'test', 'fixtures');
const script = join(root, 'scripts', 'fixtures', 'make_llama_fixtures.py');
const python = join(root, '.venv', 'bin', 'python3');
const hasTransformers = existsSync(python) && spawnSync(python, ['-c', 'import transformers, torch'], { stdio: 'ignore' }).status === 0;

// biome-ignore lint/suspicious/noExplicitAny: parsed safetensors and config JSON, read field by field.
type Json = Record<string, any>;
const readJson = (path: string): Json => JSON.parse(readFileSync(path, 'utf8')) as Json;

interface TensorInfo {
  dtype: string;
  shape: number[];
}
/** The tensors of a safetensors file, from its header (the data must fill the file exactly). */
function safetensorsHeader(path: string): Record<string, TensorInfo> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  // biome-ignore lint/suspicious/noExplicitAny: parsed safetensors and config JSON, read field by field.
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, any>;
  delete header.__metadata__;
  const size: Record<string, number> = { F32: 4, BF16: 2, F16: 2 };
  let end = 0;
  for (const [name, t] of Object.entries(header)) {
    const bytes = t.shape.reduce((a: number, b: number) => a * b, 1) * size[t.dtype]!;
    expect(t.data_offsets[1] - t.data_offsets[0], name).toBe(bytes);
    end = Math.max(end, t.data_offsets[1]);
  }
  expect(8 + n + end, path).toBe(buf.length);
  return header;
}

const cases = [
  { dir: 'llama-tiny', modelType: 'llama', dtype: 'F32', tied: false, bias: false, sharded: false },
  { dir: 'qwen2-tiny', modelType: 'qwen2', dtype: 'F32', tied: true, bias: true, sharded: false },
  { dir: 'llama-tiny-bf16-sharded', modelType: 'llama', dtype: 'BF16', tied: false, bias: false, sharded: true },
];

describe.each(cases)('$dir', ({ dir, modelType, dtype, tied, bias, sharded }) => {
  const d = join(fixtures, dir);
  const config = readJson(join(d, 'config.json'));
  const gen = readJson(join(d, 'generation_config.json'));
  const tokJson = readJson(join(d, 'tokenizer.json'));
  const tokConfig = readJson(join(d, 'tokenizer_config.json'));
  const golden = readJson(join(d, 'golden.json'));
  const V = config.vocab_size as number;

  it('is a small, complete Hugging Face model directory', () => {
    const total = readdirSync(d).reduce((s, f) => s + statSync(join(d, f)).size, 0);
    expect(total).toBeLessThan(1_000_000);
    expect(config.model_type).toBe(modelType);
    expect(config.tie_word_embeddings).toBe(tied);
    expect(golden.schema).toBe('torch-rlhf/causal-lm-golden@1');
    expect(golden.model).toMatchObject({ modelType, vocabSize: V, computeDtype: 'float32' });
    // llama-tiny-bf16-sharded keeps the Hub's 4.x layout, the others transformers 5's.
    const rope = sharded ? { rope_theta: config.rope_theta, ...config.rope_scaling } : config.rope_parameters;
    expect(rope.rope_theta).toBeGreaterThan(0);
    if (modelType === 'llama') {
      expect(rope).toMatchObject({ rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 });
    }
  });

  it('holds every tensor with Hugging Face names and the shapes its config implies', () => {
    let tensors: Record<string, TensorInfo> = {};
    if (sharded) {
      const index = readJson(join(d, 'model.safetensors.index.json'));
      const shards = [...new Set(Object.values(index.weight_map as Record<string, string>))];
      expect(shards.length).toBeGreaterThanOrEqual(2);
      expect(existsSync(join(d, 'model.safetensors'))).toBe(false);
      for (const shard of shards) {
        const h = safetensorsHeader(join(d, shard));
        for (const name of Object.keys(h)) expect(index.weight_map[name]).toBe(shard);
        tensors = { ...tensors, ...h };
      }
      expect(Object.keys(tensors).sort()).toEqual(Object.keys(index.weight_map).sort());
    } else {
      tensors = safetensorsHeader(join(d, 'model.safetensors'));
    }
    const H = config.hidden_size as number;
    const hd = (config.head_dim ?? H / config.num_attention_heads) as number;
    const q = config.num_attention_heads * hd;
    const kv = config.num_key_value_heads * hd;
    const I = config.intermediate_size as number;
    expect(config.num_key_value_heads).toBeLessThan(config.num_attention_heads); // GQA
    const want: Record<string, number[]> = { 'model.embed_tokens.weight': [V, H], 'model.norm.weight': [H] };
    if (!tied) want['lm_head.weight'] = [V, H];
    for (let i = 0; i < config.num_hidden_layers; i++) {
      const p = `model.layers.${i}.`;
      Object.assign(want, {
        [p + 'input_layernorm.weight']: [H],
        [p + 'post_attention_layernorm.weight']: [H],
        [p + 'self_attn.q_proj.weight']: [q, H],
        [p + 'self_attn.k_proj.weight']: [kv, H],
        [p + 'self_attn.v_proj.weight']: [kv, H],
        [p + 'self_attn.o_proj.weight']: [H, q],
        [p + 'mlp.gate_proj.weight']: [I, H],
        [p + 'mlp.up_proj.weight']: [I, H],
        [p + 'mlp.down_proj.weight']: [H, I],
      });
      if (bias) {
        Object.assign(want, {
          [p + 'self_attn.q_proj.bias']: [q],
          [p + 'self_attn.k_proj.bias']: [kv],
          [p + 'self_attn.v_proj.bias']: [kv],
        });
      }
    }
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(want).sort());
    for (const [name, shape] of Object.entries(want)) {
      expect(tensors[name], name).toEqual(expect.objectContaining({ dtype, shape }));
    }
  });

  it('has a tokenizer whose ids number 0 … vocab_size-1 and whose special tokens agree everywhere', () => {
    const ids = [...Object.values(tokJson.model.vocab as Record<string, number>), ...tokJson.added_tokens.map((t: Json) => t.id)];
    expect([...new Set(ids)].sort((a, b) => a - b)).toEqual([...Array(V).keys()]);
    const added = new Map<string, Json>(tokJson.added_tokens.map((t: Json) => [t.content, t]));
    const markers = modelType === 'qwen2' ? ['<|im_start|>', '<|im_end|>'] : ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
    for (const m of markers) {
      expect(added.get(m)?.special, m).toBe(true);
      expect(tokConfig.chat_template).toContain(m);
    }
    for (const role of ['bos', 'eos', 'pad'] as const) {
      const token = tokConfig[`${role}_token`] as string | null;
      const g = golden.specialTokens[role];
      if (token === null) {
        expect(g).toBeNull();
        continue;
      }
      expect(added.get(token)?.special, token).toBe(true);
      expect(g).toEqual({ token, id: added.get(token)!.id });
    }
    const eosIds = ([] as number[]).concat(gen.eos_token_id);
    expect(eosIds).toContain(golden.specialTokens.eos.id);
    expect(golden.generationConfig).toEqual({ bosTokenId: gen.bos_token_id, eosTokenId: eosIds, padTokenId: gen.pad_token_id });
    expect(gen.pad_token_id).toBe(golden.specialTokens.pad.id);
    expect(eosIds).not.toContain(gen.pad_token_id); // pad distinct from every EOS
    expect(config.pad_token_id).toBe(gen.pad_token_id);
    for (const e of golden.tokenizer.encodings) for (const id of e.ids) expect(id).toBeLessThan(V);
    const chat = golden.tokenizer.chat as Json[];
    expect(chat.map((c) => c.name)).toContain('conversation');
    expect(chat.find((c) => c.name === 'conversation' && c.addGenerationPrompt)!.messages[0].role).toBe('system');
  });

  it('has goldens whose shapes and padding are consistent', () => {
    expect(golden.logits.map((c: Json) => c.name)).toEqual(['plain', 'leftPadded', 'rightPadded']);
    for (const c of golden.logits) {
      const B = c.inputIds.length;
      const T = c.inputIds[0].length;
      expect(T).toBeLessThanOrEqual(12);
      for (const key of ['attentionMask', 'positionIds', 'logits']) expect(c[key].length, key).toBe(B);
      for (let b = 0; b < B; b++) {
        let pos = 0;
        for (let t = 0; t < T; t++) {
          const real = c.attentionMask[b][t] === 1;
          const row = c.logits[b][t];
          if (real) {
            expect(row).toHaveLength(V);
            expect(c.positionIds[b][t]).toBe(pos++);
          } else expect(row).toBeNull();
        }
      }
    }
    const eos = golden.generationConfig.eosTokenId as number[];
    const pad = golden.generationConfig.padTokenId as number;
    let finishedRows = 0;
    for (const g of golden.generations) {
      expect(g).toMatchObject({ maxNewTokens: 10, doSample: false, useCache: true, eosTokenId: eos, padTokenId: pad });
      expect(g.minTopGap).toBeGreaterThan(1e-3);
      g.sequences.forEach((seq: number[], b: number) => {
        expect(seq).toEqual([...g.inputIds[b], ...g.newTokens[b]]);
        expect(g.logprobs[b]).toHaveLength(g.newTokens[b].length);
        const at = g.newTokens[b].findIndex((t: number) => eos.includes(t));
        expect(g.finished[b]).toBe(at >= 0);
        if (at >= 0) {
          finishedRows++;
          expect(g.newTokens[b].slice(at + 1).every((t: number) => t === pad)).toBe(true);
        }
      });
    }
    expect(finishedRows).toBeGreaterThan(0); // one row stops at an EOS while another goes on
  });
});

// All three in one run of the script (starting Python and importing transformers is most of it).
it.skipIf(!hasTransformers)('each opens in transformers with its golden logits and generations (check mode)', async () => {
  const pairs = cases.flatMap(({ dir }) => [join(fixtures, dir), join(fixtures, dir, 'golden.json')]);
  const { stdout } = await execFileAsync(python, [script, 'check', ...pairs], { encoding: 'utf8' });
  const results = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Json);
  expect(results).toHaveLength(cases.length);
  results.forEach((result, i) => {
    expect(result, cases[i]!.dir).toMatchObject({ ok: true, modelType: cases[i]!.modelType, generationsEqual: true });
    expect(result.maxAbsDiff).toBeLessThan(1e-4);
  });
});
