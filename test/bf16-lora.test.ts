// LoRA on a frozen base held in bf16, against transformers + PEFT doing the same: the adapters in
// test/fixtures/bf16-lora/ were made by PEFT on bf16 bases (scripts/fixtures/make_bf16_lora_fixtures.py),
// float32 as PEFT's autocast_adapter_dtype makes them, with the logits, the loss and the adapter's
// gradients of one training forward and the logits after merge_and_unload. We load them with
// dtype 'auto' (the checkpoint's bf16) or 'bfloat16' and must compute those to bf16's precision,
// with the adapter, its gradients and its AdamW state in float32. Then the loaded base's memory
// (half of float32's), the reward and value heads (float32 on a bf16 trunk), and a LoRA SFT run
// on a bf16 base that learns and saves an adapter PEFT opens.
import { cpuHasBf16Arithmetic } from '../src/tensor/cpu-features.js';
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  torch,
  GPT,
  RewardModel,
  ActorCritic,
  SFTTrainer,
  RewardTrainer,
  DPOTrainer,
  GRPOTrainer,
  PPOTrainer,
  applyLora,
  adapterParameters,
  loraAdapter,
  mergeAndUnload,
  loadTokenizer,
  type Tensor,
} from '../src/index.js';
import * as F from '../src/nn/functional.js';
import { tempDir, words } from './helpers.js';
import { rlhfIn } from './cli-helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => join(root, 'test', 'fixtures', name);
const tmp = tempDir('bf16-lora');
const python = join(root, '.venv', 'bin', 'python3');

interface Golden {
  inputIds: number[][];
  attentionMask: number[][];
  positionIds: number[][];
  logits: number[][][];
  loss: number;
  grads: Record<string, number[][]>;
  adapterDtypes: Record<string, string>;
  mergedLogits: number[][][];
}
const golden = (dir: string): Golden => JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));

/** max |a − b| / max |b|: the error relative to the values' scale (bf16 keeps 8 bits, about 0.4 %). */
function relErr(a: Tensor, b: number[] | number[][] | number[][][]): number {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const want = torch.tensor(b as number[][]);
      return (a.float().sub(want).abs().max().item() as number) / (want.abs().max().item() as number);
    }),
  );
}

/** The golden's loss: cross entropy of token t+1 from position t, where both are real tokens. */
function causalLoss(logits: Tensor, ids: Tensor, mask: Tensor): Tensor {
  return torch.tidy(() => {
    const [B, T, V] = logits.shape as [number, number, number];
    const bothReal = mask.slice(1, 1).logicalAnd(mask.slice(1, 0, T - 1));
    const labels = ids.slice(1, 1).maskedFill(bothReal.logicalNot(), -100);
    return F.crossEntropy(logits.slice(1, 0, T - 1).reshape(B * (T - 1), V), labels.reshape(-1), { ignoreIndex: -100 });
  });
}

describe.each([
  // Stored in bf16: 'auto' holds it in bf16 (transformers' dtype="auto").
  ['llama', 'auto'],
  // Stored in float32, held in bf16 on request.
  ['gpt2', 'bfloat16'],
] as const)('a PEFT adapter on a bf16 %s base (dtype %s)', (name, dtype) => {
  const dir = fixture(join('bf16-lora', name));
  const g = golden(dir);

  it("holds the base in bf16 and the adapter in float32; a training forward gives PEFT's logits, loss and adapter gradients", async () => {
    const model = await GPT.load(dir, { dtype });
    expect(model.tokenEmbedding.dtype).toBe('bfloat16');
    const params = adapterParameters(model);
    expect(Object.fromEntries(params.map(([n, p]) => [n, p.dtype]))).toEqual(g.adapterDtypes);
    const frozen = model.namedParameters().filter(([, p]) => !p.requiresGrad);
    expect(frozen.length).toBeGreaterThan(0);
    for (const [n, p] of frozen) expect(p.dtype, n).toBe('bfloat16');

    model.train();
    const ids = torch.tensor(g.inputIds, { dtype: 'int64' });
    const mask = torch.tensor(g.attentionMask, { dtype: 'bool' });
    const positionIds = torch.tensor(g.positionIds, { dtype: 'int64' });
    const logits = torch.tidy(() => model.forward(ids, { attentionMask: mask, positionIds }).logits);
    // Losses are float32: the logits of a bf16 model come out upcast, as transformers' losses do.
    expect(logits.dtype).toBe('float32');
    // The padded row's pad positions are nobody's business (their keys are masked for real queries).
    const real = mask.unsqueeze(-1);
    const ours = torch.noGrad(() => torch.tidy(() => logits.maskedFill(real.logicalNot(), 0)));
    const theirs = torch.tidy(() => torch.tensor(g.logits).maskedFill(real.logicalNot(), 0));
    expect(relErr(ours, theirs.tolist() as number[][][])).toBeLessThan(0.02);
    const loss = causalLoss(logits, ids, mask);
    expect(Math.abs((loss.item() as number) - g.loss) / g.loss).toBeLessThan(2e-3);
    loss.backward();
    // bf16's precision: transformers + PEFT's own float32 run on the same bf16 weights is 1 % off
    // these logits and up to 4 % off these gradients (Llama's forward here equals theirs bit for bit).
    for (const [n, p] of params) {
      expect(p.grad?.dtype, n).toBe('float32');
      expect(relErr(p.grad!, g.grads[n]!), n).toBeLessThan(0.04);
    }
    // The frozen bf16 base gets no gradient at all.
    for (const [n, p] of frozen) expect(p.grad, n).toBeNull();
    torch.dispose([ids, mask, positionIds, logits, real, ours, theirs, loss]);
    model.dispose();
  });

  it("merges into the bf16 base as PEFT's merge_and_unload does; natively the adapter is added unmerged, as PEFT's forward", async () => {
    const model = (await GPT.load(dir, { dtype })).eval();
    const ids = torch.tensor(g.inputIds, { dtype: 'int64' });
    const mask = torch.tensor(g.attentionMask, { dtype: 'bool' });
    const positionIds = torch.tensor(g.positionIds, { dtype: 'int64' });
    const real = mask.unsqueeze(-1);
    const run = (path: 'modules' | 'native') =>
      torch.noGrad(() =>
        torch.tidy(() => model.forward(ids, { attentionMask: mask, positionIds, path }).logits.maskedFill(real.logicalNot(), 0)),
      );
    const want = torch.tidy(() => torch.tensor(g.mergedLogits).maskedFill(real.logicalNot(), 0));
    const wantList = want.tolist() as number[][][];
    // The native path adds the float32 adapter beside the bf16 base, as PEFT's unmerged forward
    // does (W + s·B·A is never made): PEFT's unmerged logits, not the merged model's.
    const native = run('native');
    const unmerged = torch.tidy(() => torch.tensor(g.logits).maskedFill(real.logicalNot(), 0));
    expect(relErr(native, unmerged.tolist() as number[][][])).toBeLessThan(0.02);
    unmerged.dispose();
    mergeAndUnload(model);
    for (const [n, p] of model.namedParameters()) expect(p.dtype, n).toBe('bfloat16');
    const merged = run('modules');
    expect(relErr(merged, wantList)).toBeLessThan(0.02);
    torch.dispose([ids, mask, positionIds, real, want, native, merged]);
    model.dispose();
  });
});

describe('a bf16 base', () => {
  const base = fixture('llama-tiny-bf16-sharded');

  it("dtype 'auto' reads the checkpoint's dtype; held in bf16 the loaded weights take half the bytes of float32", async () => {
    const bytes = async (dtype: 'float32' | 'auto') => {
      const before = torch.memory().bytes;
      const m = await GPT.load(base, { dtype });
      const used = torch.memory().bytes - before;
      const d = m.tokenEmbedding.dtype;
      m.dispose();
      expect(torch.memory().bytes).toBe(before);
      return { used, d };
    };
    const f32 = await bytes('float32');
    const bf16 = await bytes('auto');
    expect([f32.d, bf16.d]).toEqual(['float32', 'bfloat16']);
    expect(bf16.used * 2).toBe(f32.used);
    await expect(GPT.load(base, { dtype: 'int8' as never })).rejects.toThrow(/LoadGPTOptions\.dtype must be one of 'auto'/);
  });

  it('the reward head and the value head are float32 on a bf16 trunk, and so are their outputs and gradients', async () => {
    const rm = await RewardModel.fromTrunk(base, { dtype: 'auto' });
    const ac = await ActorCritic.fromTrunk(base, { dtype: 'auto' });
    expect([rm.tokenEmbedding.dtype, rm.score.weight.dtype]).toEqual(['bfloat16', 'float32']);
    expect([ac.tokenEmbedding.dtype, ac.v_head!.summary.weight.dtype]).toEqual(['bfloat16', 'float32']);
    applyLora(rm, { r: 4, modulesToSave: ['score'] });
    applyLora(ac, { r: 4, modulesToSave: ['v_head'] });
    const ids = torch.tensor([[5, 17, 42, 7]], { dtype: 'int64' });
    const mask = torch.tensor([[1, 1, 1, 1]], { dtype: 'bool' });
    const r = rm.rewards(ids, mask);
    const out = ac.policyAndValues(ids, mask);
    expect([r.dtype, out.logits.dtype, out.values.dtype]).toEqual(['float32', 'float32', 'float32']);
    const loss = torch.tidy(() => r.sum().add(out.values.sum()).add(out.logits.mean()));
    loss.backward();
    expect(rm.score.weight.grad?.dtype).toBe('float32');
    expect(ac.v_head!.summary.weight.grad?.dtype).toBe('float32');
    torch.dispose([ids, mask, r, out.logits, out.values, loss]);
    rm.dispose();
    ac.dispose();
  });

  it('LoRA SFT on it learns, with float32 adapter and AdamW state, and saves an adapter PEFT opens on the bf16 base', async () => {
    const model = await GPT.load(base, { dtype: 'auto' });
    const tokenizer = await loadTokenizer(base);
    const rows = Array.from({ length: 16 }, (_, i) => ({ prompt: `q${i % 4}:`, completion: ['abc', 'bca', 'cab', 'aab'][i % 4]! }));
    const outputDir = join(tmp, 'sft');
    const t = new SFTTrainer({
      model,
      tokenizer,
      trainDataset: rows,
      peftConfig: { r: 8, loraAlpha: 16 },
      config: { outputDir, learningRate: 2e-2, maxSteps: 8, batchSize: 8, evalFraction: 0, progressBar: false, loggingSteps: 1 },
    });
    await t.train();
    const losses = t.history.filter((h) => 'loss' in h).map((h) => h.loss!);
    expect(losses.length).toBeGreaterThan(4);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.8);
    const state = t.optimizer.stateDict().state;
    const tensors = Object.values(state).flatMap((s) => Object.values(s).filter((v): v is Tensor => v instanceof torch.Tensor));
    expect(tensors.length).toBeGreaterThan(0);
    for (const s of tensors) expect(s.dtype).toBe('float32');
    for (const [n, p] of adapterParameters(model)) expect(p.dtype, n).toBe('float32');
    expect(model.tokenEmbedding.dtype).toBe('bfloat16');
    expect(loraAdapter(model)!.layers.size).toBe(14);

    // PEFT on transformers' bf16 base must compute our logits from what we saved.
    model.eval();
    const inputIds = [[5, 17, 42, 7, 99]];
    const ids = torch.tensor(inputIds, { dtype: 'int64' });
    const logits = torch.noGrad(() => torch.tidy(() => model.forward(ids, { path: 'modules' }).logits));
    const probe = existsSync(python) ? spawnSync(python, ['-c', 'import peft, transformers'], { encoding: 'utf8' }) : null;
    if (probe?.status === 0) {
      const goldenPath = join(tmp, 'sft-golden.json');
      writeFileSync(goldenPath, JSON.stringify({ cases: [{ name: 'sft', inputIds, logits: logits.tolist() }] }));
      const script = join(root, 'scripts', 'fixtures', 'make_peft_fixtures.py');
      // bf16's precision: 2 % of the largest logit.
      const tol = String(0.02 * (torch.noGrad(() => logits.abs().max().item()) as number));
      const r = spawnSync(python, [script, 'check', outputDir, goldenPath, '--dtype', 'bfloat16', '--tol', tol], {
        encoding: 'utf8',
        timeout: 240_000,
        env: { ...process.env, HF_HUB_OFFLINE: '1' },
      });
      const verdict = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(r.status, `${JSON.stringify(verdict)}\n${r.stderr.slice(-2000)}`).toBe(0);
      expect(verdict).toMatchObject({ ok: true, kind: 'peft CAUSAL_LM' });
    } else console.warn('skipping the PEFT check: no .venv with peft and transformers');
    torch.dispose([ids, logits]);
    t.dispose();
    model.dispose();
  }, 300_000);
});

describe('every trainer with LoRA on a bf16 base', () => {
  const base = fixture('llama-tiny-bf16-sharded');
  const quiet = { progressBar: false, loggingSteps: 1, learningRate: 1e-2 } as const;
  const lora = { r: 4, loraAlpha: 8 };
  const pairs = Array.from({ length: 8 }, (_, i) => ({ prompt: `q${i % 4}:`, chosen: 'aaa', rejected: ['bbb', 'cc'][i % 2]! }));
  const prompts = Array.from({ length: 4 }, (_, i) => ({ prompt: `p${i}:` }));
  const shareOfA = (answers: string[]) => answers.map((s) => (s.length ? [...s].filter((c) => c === 'a').length / s.length : 0));

  it.each(['reward', 'dpo', 'grpo', 'ppo'] as const)(
    '%s trains: finite metrics, the base stays bf16 and untouched, everything that trains is float32',
    async (kind) => {
      const tokenizer = await loadTokenizer(base);
      const outputDir = join(tmp, `trainer-${kind}`);
      const model =
        kind === 'reward'
          ? await RewardModel.fromTrunk(base, { dtype: 'auto' })
          : kind === 'ppo'
            ? await ActorCritic.fromTrunk(base, { dtype: 'auto' })
            : await GPT.load(base, { dtype: 'auto' });
      const embed = torch.noGrad(() => model.tokenEmbedding.clone());
      const trainer =
        kind === 'reward'
          ? new RewardTrainer({
              model: model as RewardModel,
              tokenizer,
              trainDataset: pairs,
              peftConfig: lora,
              config: { outputDir, maxSteps: 2, batchSize: 4, ...quiet },
            })
          : kind === 'dpo'
            ? new DPOTrainer({
                model,
                tokenizer,
                trainDataset: pairs,
                peftConfig: lora,
                config: { outputDir, maxSteps: 2, batchSize: 4, ...quiet },
              })
            : kind === 'grpo'
              ? new GRPOTrainer({
                  model,
                  tokenizer,
                  prompts,
                  rewards: (o: { completions: string[] }) => shareOfA(o.completions),
                  peftConfig: lora,
                  config: { outputDir, maxSteps: 2, batchSize: 4, numGenerations: 2, maxCompletionLength: 4, beta: 0.1, ...quiet },
                })
              : new PPOTrainer({
                  model: model as ActorCritic,
                  tokenizer,
                  prompts,
                  rewardFn: (_p: string[], answers: string[]) => shareOfA(answers),
                  peftConfig: lora,
                  config: { outputDir, numIterations: 2, batchSize: 4, miniBatchSize: 2, maxNewTokens: 4, klCoef: 0.1, ...quiet },
                });
      await trainer.train();
      expect(trainer.history.length).toBeGreaterThan(0);
      for (const row of trainer.history) for (const [k, v] of Object.entries(row)) expect(Number.isFinite(v), `${k} = ${v}`).toBe(true);
      const trained = model.namedParameters().filter(([, p]) => p.requiresGrad);
      expect(trained.length).toBeGreaterThan(0);
      for (const [n, p] of trained) expect(p.dtype, n).toBe('float32');
      expect(model.tokenEmbedding.dtype).toBe('bfloat16');
      expect(torch.noGrad(() => model.tokenEmbedding.equal(embed))).toBe(true);
      embed.dispose();
      trainer.dispose();
      model.dispose();
    },
    300_000,
  );
});

describe('rlhf sft --dtype', () => {
  const rlhf = rlhfIn(tmp, { timeoutMs: 300_000 });

  // 'auto' holds the base in bf16 only where bf16 is computed in hardware (CUDA, AVX512-BF16, AMX):
  // elsewhere a bf16 forward is several times slower than float32, and the base stays float32.
  const autoBase = cpuHasBf16Arithmetic() ? 'bfloat16' : 'float32';
  it(`by default ('auto') holds a bf16 checkpoint in ${autoBase} under LoRA on this CPU, a full fine-tune in float32`, () => {
    cpSync(fixture('llama-tiny-bf16-sharded'), join(tmp, 'base'), { recursive: true });
    writeFileSync(
      join(tmp, 'sft.jsonl'),
      Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `Q${i % 4}:`, completion: ` answer ${i % 4}!` })).join('\n'),
    );
    const quick = words('--data sft.jsonl --max-steps 1 --batch-size 4 --progress-bar false');
    const lora = rlhf(...words('sft --model base --out lora --use-peft'), ...quick);
    expect(lora.code, lora.err).toBe(0);
    expect(lora.err).toMatch(new RegExp(`rlhf sft: base \\(${autoBase}\\)`));
    const named = rlhf(...words('sft --model base --out named --use-peft --dtype bfloat16'), ...quick);
    expect(named.code, named.err).toBe(0);
    expect(named.err).toMatch(/rlhf sft: base \(bfloat16\)/);
    expect(JSON.parse(readFileSync(join(tmp, 'lora', 'adapter_config.json'), 'utf8')).r).toBe(8);
    const full = rlhf(...words('sft --model base --out full'), ...quick);
    expect(full.code, full.err).toBe(0);
    expect(full.err).toMatch(/rlhf sft: base \(float32\)/);
    const bad = rlhf(...words('sft --model base --out bad --dtype int8'), ...quick);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--dtype must be 'auto', 'float32', 'bfloat16' or 'float16', got "int8"/);
  }, 600_000);
});
