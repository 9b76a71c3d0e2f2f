// Llama-family decoders against Hugging Face transformers itself: the goldens in
// test/fixtures/{llama-tiny, qwen2-tiny, llama-tiny-bf16-sharded} were computed by
// LlamaForCausalLM / Qwen2ForCausalLM (scripts/fixtures/make_llama_fixtures.py): logits with
// and without padding, and greedy generations with their log-probs. A model we save is opened
// by transformers again (the script's check mode) and must give the same logits.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { torch, GPT, type Tensor } from '../src/index.js';
import { llamaConfigFromHF } from '../src/models/llama-config.js';
import { expectSharedPrefixMatchesRepeats, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => join(root, 'test', 'fixtures', name);
const tmp = tempDir('llama');

interface LogitsCase {
  name: string;
  inputIds: number[][];
  attentionMask: number[][];
  positionIds: number[][];
  logits: number[][][];
}
interface GenerationCase {
  name: string;
  inputIds: number[][];
  attentionMask: number[][];
  maxNewTokens: number;
  eosTokenId: number[];
  padTokenId: number;
  newTokens: number[][];
  finished: boolean[];
  logprobs: number[][];
}
interface Golden {
  logits: LogitsCase[];
  generations: GenerationCase[];
}
const golden = (dir: string): Golden => JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));

/** Max |a - b| over the positions the mask marks real. */
function maxDiffOnMask(ours: Tensor, theirs: number[][][], mask: number[][]): number {
  const a = ours.tolist() as number[][][];
  let worst = 0;
  a.forEach((row, b) =>
    row.forEach((pos, t) => {
      if (mask[b]![t]) pos.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - theirs[b]![t]![k]!))));
    }),
  );
  return worst;
}

describe.each(['llama-tiny', 'qwen2-tiny', 'llama-tiny-bf16-sharded'])('%s against transformers', (name) => {
  const dir = fixture(name);
  const g = golden(dir);

  it('logits agree to < 1e-4 in float32 (module forward and native forward; padding left and right)', async () => {
    const model = await GPT.load(dir);
    model.eval();
    for (const c of g.logits) {
      const ids = torch.tensor(c.inputIds, { dtype: 'int64' });
      const mask = torch.tensor(c.attentionMask, { dtype: 'int64' });
      const pos = torch.tensor(c.positionIds, { dtype: 'int64' });
      const js = torch.noGrad(() => model.forward(ids, { attentionMask: mask, positionIds: pos, path: 'modules' }).logits);
      const native = torch.noGrad(() => model.forward(ids, { attentionMask: mask, positionIds: pos, path: 'native' }).logits);
      expect(maxDiffOnMask(js, c.logits, c.attentionMask), `${c.name} (module)`).toBeLessThan(1e-4);
      expect(maxDiffOnMask(native, c.logits, c.attentionMask), `${c.name} (native)`).toBeLessThan(1e-4);
      // Positions counted from the mask, as our trainers pass them, give the same outputs.
      const counted = torch.noGrad(() => model.forward(ids, { attentionMask: mask, path: 'native' }).logits);
      expect(maxDiffOnMask(counted, c.logits, c.attentionMask), `${c.name} (counted positions)`).toBeLessThan(1e-4);
      torch.dispose([ids, mask, pos, js, native, counted]);
    }
    model.dispose();
  });

  it('greedy generations are identical, with the KV cache and without, and their log-probs agree', async () => {
    const model = await GPT.load(dir);
    for (const c of g.generations) {
      const prompts = c.inputIds.map((row, b) => row.filter((_, t) => c.attentionMask[b]![t]));
      for (const useCache of [true, false]) {
        const out = await model.generate(prompts, {
          greedy: true,
          maxNewTokens: c.maxNewTokens,
          eosTokenId: c.eosTokenId,
          padTokenId: c.padTokenId,
          useCache,
        });
        // HF runs every row to the longest; ours stops when all are done: compare what both made.
        const tokens = out.tokens.tolist() as number[][];
        tokens.forEach((row, b) => expect(row, `${c.name} row ${b} (cache ${useCache})`).toEqual(c.newTokens[b]!.slice(0, row.length)));
        const lp = out.logprobs.tolist() as number[][];
        const alive = out.responseMask.tolist() as boolean[][];
        lp.forEach((row, b) => row.forEach((v, t) => alive[b]![t] && expect(Math.abs(v - c.logprobs[b]![t]!)).toBeLessThan(1e-4)));
        c.finished.forEach((f, b) => f && expect(out.sequences[b]!.some((id) => c.eosTokenId.includes(id))).toBe(true));
        torch.dispose([out.tokens, out.responseMask, out.logprobs, out.promptIds, out.promptMask]);
      }
    }
    model.dispose();
  });
});

describe('Llama-family checkpoints', () => {
  it.each([
    { G: 4, options: { greedy: true, maxNewTokens: 10 } },
    { G: 6, options: { greedy: true, maxNewTokens: 10 } }, // 18 rows: libtorch's products
    { G: 4, options: { temperature: 0.9, topP: 0.9, maxNewTokens: 10, seed: 7 } },
  ])('numReturnSequences $G equals generating on the repeated prompts, grouped-query attention ($options)', async ({ G, options }) => {
    const model = await GPT.load(fixture('qwen2-tiny'));
    await expectSharedPrefixMatchesRepeats(model, [[5, 6, 7], [1, 2, 3, 4, 5, 9, 10], [42]], G, options);
    model.dispose();
  });

  it('bf16 shards load into float32 by default, or compute in bf16 when asked', async () => {
    const dir = fixture('llama-tiny-bf16-sharded');
    const model = await GPT.load(dir);
    expect(model.tokenEmbedding.dtype).toBe('float32');
    const bf16 = await GPT.load(dir, { dtype: 'bfloat16' });
    expect(bf16.tokenEmbedding.dtype).toBe('bfloat16');
    const c = golden(dir).logits[0]!;
    const ids = torch.tensor(c.inputIds, { dtype: 'int64' });
    const logits = torch.noGrad(() => bf16.forward(ids).logits.float());
    // bf16 keeps 8 bits of mantissa: close to transformers' float32 logits, not equal.
    expect(maxDiffOnMask(logits, c.logits, c.attentionMask)).toBeLessThan(0.1);
    torch.dispose([model, bf16, ids, logits]);
  });

  it('a model we save opens in transformers with the same logits (the reference script checks it)', async () => {
    const python = join(root, '.venv', 'bin', 'python3');
    expect(existsSync(python), 'the project venv (.venv) with transformers: bash scripts/setup.sh --test').toBe(true);
    for (const name of ['llama-tiny', 'qwen2-tiny']) {
      const model = await GPT.load(fixture(name));
      const out = join(tmp, name);
      await model.save(out);
      model.dispose();
      const r = spawnSync(
        python,
        [join(root, 'scripts', 'fixtures', 'make_llama_fixtures.py'), 'check', out, join(fixture(name), 'golden.json')],
        { encoding: 'utf8', timeout: 240_000 },
      );
      expect(r.status, r.stderr.slice(-3000)).toBe(0);
      const verdict = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(verdict.ok).toBe(true);
      expect(verdict.maxAbsDiff).toBeLessThan(1e-4);
    }
  }, 600_000);

  it('unsupported architectures and RoPE scalings are named', () => {
    const base = {
      model_type: 'llama',
      vocab_size: 10,
      hidden_size: 8,
      intermediate_size: 16,
      num_hidden_layers: 1,
      num_attention_heads: 2,
    };
    expect(() => llamaConfigFromHF({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'x/config.json')).toThrow(
      "x/config.json: RoPE scaling type 'yarn' is not supported (supported: 'default', 'llama3')",
    );
    expect(() => llamaConfigFromHF({ ...base, model_type: 'mistral', sliding_window: 4096 }, 'c')).toThrow(
      /sliding-window attention .* is not supported/,
    );
    expect(() => llamaConfigFromHF({ ...base, hidden_act: 'gelu' }, 'c')).toThrow("c: hidden_act 'gelu' is not supported");
    expect(() => llamaConfigFromHF({ ...base, num_key_value_heads: 3 }, 'c')).toThrow(/num_key_value_heads' \(3\) must divide/);
  });

  it('GPT.load names a model_type it does not know', async () => {
    const dir = join(tmp, 'phi');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'phi3', vocab_size: 10 }));
    await expect(GPT.load(dir)).rejects.toThrow("model_type 'phi3' is not supported (supported: gpt2, llama, qwen2, mistral)");
  });
});
