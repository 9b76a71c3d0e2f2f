// LoRA adapters against PEFT itself: the adapters in test/fixtures/peft-{gpt2,llama}-tiny were
// made by PEFT (scripts/fixtures/make_peft_fixtures.py) on the committed tiny GPT-2 (Conv1D,
// fan_in_fan_out) and Llama models, with their logits; we load them and must compute those
// logits. What we save (adapters, and merged models) is opened by PEFT and transformers again
// through the script's check mode and must give our logits. Then the operations: merge and
// unmerge, disable, generation on the native path, the frozen base, errors and memory.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  torch,
  GPT,
  RewardModel,
  applyLora,
  mergeAdapter,
  unmergeAdapter,
  withAdapterDisabled,
  setAdapterEnabled,
  hasLora,
  loraAdapter,
  mergeAndUnload,
  adapterParameters,
  isMerged,
  resolveLoraConfig,
  type Tensor,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => join(root, 'test', 'fixtures', name);
const tmp = tempDir('lora');
const python = join(root, '.venv', 'bin', 'python3');
const script = join(root, 'scripts', 'fixtures', 'make_peft_fixtures.py');

interface Golden {
  cases: { name: string; inputIds: number[][]; logits?: number[][][]; scores?: number[] }[];
}
const golden = (dir: string): Golden => JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
const maxDiff = (a: Tensor, b: Tensor | number[][][]): number =>
  torch.noGrad(() => {
    const other = Array.isArray(b) ? torch.tensor(b) : b;
    const d = a.sub(other).abs().max().item() as number;
    if (Array.isArray(b)) other.dispose();
    return d;
  });

/** Runs the PEFT check script on a directory; skips (with the reason printed) when .venv has no peft. */
function pythonCheck(
  dir: string,
  cases: Golden['cases'],
  extra: string[] = [],
): { ok: boolean; maxAbsDiff: number; kind: string; error?: string } | null {
  const probe = existsSync(python) ? spawnSync(python, ['-c', 'import peft, transformers'], { encoding: 'utf8' }) : null;
  if (probe?.status !== 0) {
    console.warn(`skipping the PEFT check: ${probe ? 'peft or transformers missing in .venv (.venv/bin/pip install peft)' : 'no .venv'}`);
    return null;
  }
  const goldenPath = join(tmp, `golden-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(goldenPath, JSON.stringify({ cases }));
  const r = spawnSync(python, [script, 'check', dir, goldenPath, ...extra], {
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
  });
  const verdict = JSON.parse(r.stdout.trim().split('\n').pop()!);
  expect(r.status, `${JSON.stringify(verdict)}\n${r.stderr.slice(-2000)}`).toBe(0);
  return verdict;
}

/** Redraws lora_A and lora_B (B starts at zero, where the adapter does nothing). */
function randomizeAdapter(model: GPT, seed: number): void {
  torch.manualSeed(seed);
  torch.noGrad(() => {
    for (const [, p] of adapterParameters(model)) p.normal_(0, 0.1);
  });
}

describe.each([
  ['peft-gpt2-tiny', 'gpt2-tiny'],
  ['peft-llama-tiny', 'llama-tiny'],
])('%s (made by PEFT)', (name, base) => {
  const dir = fixture(name);
  const g = golden(dir);

  it("loads as base + adapter and computes PEFT's logits (< 1e-4, module and native forward)", async () => {
    // eval(): PEFT's outputs are in eval mode, without the adapter's dropout.
    const model = (await GPT.load(dir)).eval();
    expect(hasLora(model)).toBe(true);
    const a = loraAdapter(model)!;
    expect(a.layers.size).toBeGreaterThan(0);
    for (const c of g.cases) {
      const ids = torch.tensor(c.inputIds, { dtype: 'int64' });
      const logits = torch.noGrad(() => model.forward(ids, { path: 'modules' }).logits);
      expect(maxDiff(logits, c.logits!)).toBeLessThan(1e-4);
      const native = torch.noGrad(() => model.forward(ids, { path: 'native' }).logits);
      expect(maxDiff(native, c.logits!)).toBeLessThan(1e-4);
      torch.dispose([ids, logits, native]);
    }
    model.dispose();
  });

  it('the base comes from base_model_name_or_path (relative to the adapter) or from baseModel; a missing base is named', async () => {
    const moved = join(tmp, `${name}-moved`);
    cpSync(dir, moved, { recursive: true });
    await expect(GPT.load(moved)).rejects.toThrow(/the base model '\.\.\/.*' was not found .*--base-model/);
    const model = (await GPT.load(moved, { baseModel: fixture(base) })).eval();
    expect(loraAdapter(model)!.baseModelNameOrPath).toBe(fixture(base));
    const ids = torch.tensor(g.cases[0]!.inputIds, { dtype: 'int64' });
    const logits = torch.noGrad(() => model.forward(ids).logits);
    expect(maxDiff(logits, g.cases[0]!.logits!)).toBeLessThan(1e-4);
    torch.dispose([model, ids, logits]);
  });

  it('what we save, PEFT loads with our logits; merged, transformers loads it as a full model', async () => {
    const model = await GPT.load(fixture(base));
    const adapter = applyLora(
      model,
      name.includes('gpt2') ? { r: 2, loraAlpha: 4, targetModules: ['c_attn', 'mlp.c_proj'] } : { r: 3, loraAlpha: 5, useRslora: true },
    );
    expect(adapter.baseModelNameOrPath).toBe(fixture(base));
    randomizeAdapter(model, 7);
    const ids = torch.tensor(g.cases[0]!.inputIds, { dtype: 'int64' });
    const adapted = torch.noGrad(() => model.forward(ids).logits);
    const cases = [{ name: 'ours', inputIds: g.cases[0]!.inputIds, logits: adapted.tolist() as number[][][] }];
    const out = join(tmp, `${name}-ours`);
    await model.save(out);
    expect(existsSync(join(out, 'adapter_config.json')) && existsSync(join(out, 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: fixture(base),
      fan_in_fan_out: name.includes('gpt2'),
    });
    const check = pythonCheck(out, cases);
    if (check) expect(check.maxAbsDiff).toBeLessThan(1e-4);
    // Our own loader reads it back.
    const back = (await GPT.load(out)).eval();
    const again = torch.noGrad(() => back.forward(ids).logits);
    expect(maxDiff(again, adapted)).toBe(0);
    // Merged and unloaded: the plain architecture with the same logits, saved as a full model.
    mergeAndUnload(model);
    expect(hasLora(model)).toBe(false);
    expect(model.namedParameters().some(([n]) => n.includes('lora_'))).toBe(false);
    const merged = torch.noGrad(() => model.forward(ids).logits);
    expect(maxDiff(merged, adapted)).toBeLessThan(1e-5);
    const full = join(tmp, `${name}-merged`);
    await model.save(full);
    expect(existsSync(join(full, 'model.safetensors'))).toBe(true);
    const fullCheck = pythonCheck(full, cases);
    if (fullCheck) expect(fullCheck).toMatchObject({ ok: true, kind: 'full model' });
    torch.dispose([model, back, ids, adapted, again, merged]);
  }, 600_000);
});

describe('a reward model with an adapter (PEFT task type SEQ_CLS)', () => {
  it('PEFT loads our reward-model adapter, the score head saved in full (modules_to_save), with our scores', async () => {
    const rm = await RewardModel.fromTrunk(fixture('gpt2-tiny'));
    applyLora(rm, { r: 2, loraAlpha: 4, targetModules: ['c_attn', 'c_fc'], modulesToSave: ['score'] });
    randomizeAdapter(rm, 5);
    torch.noGrad(() => void rm.score.bias!.zero_()); // transformers' score has no bias (ours carries the normalisation)
    rm.eval();
    const inputIds = [
      [5, 17, 42, 7, 99],
      [11, 2, 250, 64, 8],
    ];
    const ids = torch.tensor(inputIds, { dtype: 'int64' });
    const scores = torch.noGrad(() => rm.rewards(ids));
    const out = join(tmp, 'rm-adapter');
    await rm.save(out);
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'))).toMatchObject({
      task_type: 'SEQ_CLS',
      modules_to_save: ['score'],
    });
    const check = pythonCheck(out, [{ name: 'rm', inputIds, scores: scores.tolist() as number[] }]);
    if (check) expect(check).toMatchObject({ ok: true, kind: 'peft SEQ_CLS' });
    const back = (await RewardModel.load(out)).eval();
    const again = torch.noGrad(() => back.rewards(ids));
    expect(maxDiff(again, scores)).toBe(0);
    torch.dispose([rm, back, ids, scores, again]);
  }, 300_000);
});

describe('LoRA operations', () => {
  const gpt2 = { vocabSize: 64, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 16 };
  const llama = { arch: 'llama' as const, vocabSize: 64, blockSize: 32, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 16, intermediateSize: 32 };

  it.each([
    ['gpt2', gpt2],
    ['llama', llama],
  ] as const)('%s: merge / unmerge / disable keep the math; native generation uses the adapter', async (_n, cfg) => {
    torch.manualSeed(3);
    const model = GPT.create(cfg);
    const ids = torch.tensor(
      [
        [1, 5, 9, 2, 7],
        [3, 3, 8, 1, 0],
      ],
      { dtype: 'int64' },
    );
    const baseLogits = torch.noGrad(() => model.forward(ids).logits);
    const baseGen = await model.generate([[1, 5, 9]], { maxNewTokens: 6, greedy: true });
    applyLora(model, { r: 4, loraAlpha: 8 });
    const fresh = torch.noGrad(() => model.forward(ids).logits);
    expect(maxDiff(fresh, baseLogits)).toBe(0); // lora_B starts at zero
    randomizeAdapter(model, 11);
    const adapted = torch.noGrad(() => model.forward(ids, { path: 'modules' }).logits);
    expect(maxDiff(adapted, baseLogits)).toBeGreaterThan(1e-2);
    const native = torch.noGrad(() => model.forward(ids, { path: 'native' }).logits);
    expect(maxDiff(native, adapted)).toBeLessThan(1e-5);
    const disabled = withAdapterDisabled(model, () => torch.noGrad(() => model.forward(ids, { path: 'native' }).logits));
    expect(maxDiff(disabled, baseLogits)).toBe(0);
    // Generation: the adapter on (effective weights), off (the base's tokens), and merged (the same tokens).
    const ref = await withAdapterDisabled(model, () => model.generate([[1, 5, 9]], { maxNewTokens: 6, greedy: true }));
    expect(ref.sequences).toEqual(baseGen.sequences);
    const on = await model.generate([[1, 5, 9]], { maxNewTokens: 6, greedy: true });
    // The adapter is off only inside the call and what it awaits: a generation started meanwhile
    // (a server's, while a trainer runs its reference forward) still gets the adapter.
    const inside = await withAdapterDisabled(model, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return model.generate([[1, 5, 9]], { maxNewTokens: 6, greedy: true });
    });
    const pending = withAdapterDisabled(model, async () => {
      await new Promise((r) => setTimeout(r, 20));
      return model.generate([[1, 5, 9]], { maxNewTokens: 6, greedy: true });
    });
    const meanwhile = model.generate([[1, 5, 9]], { maxNewTokens: 6, greedy: true });
    expect((await meanwhile).sequences).toEqual(on.sequences);
    expect((await pending).sequences).toEqual(baseGen.sequences);
    expect(inside.sequences).toEqual(baseGen.sequences);
    const before = model.parameters().map((p) => p.clone());
    mergeAdapter(model);
    expect(isMerged(model)).toBe(true);
    const merged = torch.noGrad(() => model.forward(ids).logits);
    expect(maxDiff(merged, adapted)).toBeLessThan(1e-5);
    const onMerged = await model.generate([[1, 5, 9]], { maxNewTokens: 6, greedy: true });
    expect(onMerged.sequences).toEqual(on.sequences);
    // Disabling a merged adapter unmerges it first (PEFT's behaviour).
    setAdapterEnabled(model, false);
    expect(isMerged(model)).toBe(false);
    expect(
      maxDiff(
        torch.noGrad(() => model.forward(ids).logits),
        baseLogits,
      ),
    ).toBeLessThan(1e-5);
    setAdapterEnabled(model, true);
    mergeAdapter(model);
    unmergeAdapter(model);
    model.parameters().forEach((p, i) => expect(maxDiff(p, before[i]!)).toBeLessThan(1e-6));
    torch.dispose([model, ids, baseLogits, fresh, adapted, native, disabled, merged, before, baseGen, ref, on, onMerged]);
  });

  it('the base is frozen: only lora_A / lora_B get gradients, and the model keeps its parameter names', () => {
    const model = GPT.create(gpt2);
    const names = model.namedParameters().map(([n]) => n);
    applyLora(model, { r: 2, targetModules: ['c_attn'] });
    const after = model.namedParameters().map(([n]) => n);
    expect(after.filter((n) => !n.includes('lora_'))).toEqual(names);
    expect(after.filter((n) => n.includes('lora_'))).toEqual([
      'transformer.h.0.attn.c_attn.lora_A.weight',
      'transformer.h.0.attn.c_attn.lora_B.weight',
      'transformer.h.1.attn.c_attn.lora_A.weight',
      'transformer.h.1.attn.c_attn.lora_B.weight',
    ]);
    const trainable = model
      .namedParameters()
      .filter(([, p]) => p.requiresGrad)
      .map(([n]) => n);
    expect(trainable.every((n) => n.includes('lora_'))).toBe(true);
    expect(model.numParameters({ trainableOnly: true })).toBe(2 * (2 * 16 + 48 * 2));
    const ids = torch.tensor([[1, 2, 3]], { dtype: 'int64' });
    torch.tidy(() => model.forward(ids).logits.sum().backward());
    for (const [n, p] of model.namedParameters()) expect(p.grad !== null, n).toBe(n.includes('lora_'));
    torch.dispose([model, ids]);
  });

  it('all-linear leaves the output heads alone; targets are checked', () => {
    const rm = new RewardModel(llama);
    const a = applyLora(rm, { targetModules: 'all-linear', modulesToSave: ['score'] });
    expect([...a.layers.keys()].some((p) => p.startsWith('score') || p.startsWith('lm_head'))).toBe(false);
    expect(a.targetModules).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    expect(rm.score.weight.requiresGrad && rm.score.bias!.requiresGrad).toBe(true);
    expect(
      adapterParameters(rm)
        .map(([n]) => n)
        .slice(-2),
    ).toEqual(['score.weight', 'score.bias']);
    expect(() => applyLora(rm, {})).toThrow('already has a LoRA adapter');
    rm.dispose();
    const m = GPT.create(gpt2);
    expect(() => applyLora(m, { targetModules: ['q_proj'] })).toThrow(
      'match no linear layer of the GPT (its linear layers: c_attn, c_proj, c_fc)',
    );
    expect(() => applyLora(m, { targetModules: ['ln_1'] })).toThrow('is a LayerNorm; LoRA adapts linear layers only');
    expect(() => applyLora(m, { r: 0 })).toThrow("LoraConfig: field 'r' must be a positive integer, got 0");
    const typo: Record<string, unknown> = { rank: 4 };
    expect(() => applyLora(m, typo)).toThrow("LoraConfig: unknown field 'rank'");
    expect(() => applyLora(m, { modulesToSave: ['score'] })).toThrow('modulesToSave ["score"] are not modules of the GPT');
    const allBiases: Record<string, unknown> = { bias: 'all' };
    expect(() => resolveLoraConfig(allBiases)).toThrow(/field 'bias' must be 'none'/);
    // A regular expression over the whole path (PEFT's string form).
    const b = applyLora(m, { targetModules: String.raw`transformer\.h\.1\.mlp\.c_\w+` });
    expect([...b.layers.keys()]).toEqual(['transformer.h.1.mlp.c_fc', 'transformer.h.1.mlp.c_proj']);
    m.dispose();
  });

  it('adapter files: what PEFT features we lack and broken files are named', async () => {
    const bad = join(tmp, 'bad-adapter');
    cpSync(fixture('peft-gpt2-tiny'), bad, { recursive: true });
    const cfgPath = join(bad, 'adapter_config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    const opts = { baseModel: fixture('gpt2-tiny') };
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, use_dora: true }));
    await expect(GPT.load(bad, opts)).rejects.toThrow("adapter_config.json: field 'use_dora' is true; DoRA is not supported");
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, peft_type: 'IA3' }));
    await expect(GPT.load(bad, opts)).rejects.toThrow(/field 'peft_type' is "IA3"; only LoRA/);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, lora_alpha: -1 }));
    await expect(GPT.load(bad, opts)).rejects.toThrow("field 'lora_alpha' must be a positive number, got -1");
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, r: 8 }));
    await expect(GPT.load(bad, opts)).rejects.toThrow(
      new RegExp(
        String.raw`adapter_model.safetensors: tensor 'base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight' ` +
          String.raw`has shape \[4,32\], the model's adapter \[8,32\]`,
      ),
    );
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, target_modules: ['c_attn'] }));
    await expect(GPT.load(bad, opts)).rejects.toThrow(
      /unexpected tensor 'base_model\.model\.transformer\.h\.0\.attn\.c_proj\.lora_A\.weight'/,
    );
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, target_modules: ['c_attn', 'c_proj', 'c_fc', 'wte'] }));
    await expect(GPT.load(bad, opts)).rejects.toThrow(/is a Embedding; LoRA adapts linear layers only/);
    rmSync(join(bad, 'adapter_model.safetensors'));
    writeFileSync(cfgPath, JSON.stringify(cfg));
    await expect(GPT.load(bad, opts)).rejects.toThrow('no adapter_model.safetensors beside adapter_config.json');
  });

  it('memory: applying, merging, generating and unloading leave no tensors behind', async () => {
    const start = torch.memory().tensors;
    const model = GPT.create(llama);
    applyLora(model, { r: 2 });
    randomizeAdapter(model, 1);
    const withAdapter = torch.memory().tensors;
    const ids = torch.tensor([[1, 2, 3, 4]], { dtype: 'int64' });
    for (let i = 0; i < 3; i++) {
      torch.dispose(await model.generate([[1, 2]], { maxNewTokens: 4 }));
      torch.dispose(torch.noGrad(() => model.forward(ids, { path: 'native' })));
      torch.tidy(() => model.forward(ids).logits.sum().backward());
      model.zeroGrad();
      mergeAdapter(model);
      unmergeAdapter(model);
    }
    ids.dispose();
    expect(torch.memory().tensors).toBe(withAdapter);
    mergeAndUnload(model);
    model.dispose();
    expect(torch.memory().tensors).toBe(start);
  });
});
