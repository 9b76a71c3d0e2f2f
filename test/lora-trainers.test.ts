// Every trainer with a LoRA adapter (TRL's peft_config): only the adapter (and a reward or value
// head) changes, the optimizer holds state for those alone, the KL / DPO reference is the policy
// with its adapter off (no second copy of the weights in memory), the run saves PEFT's adapter
// files, and an adapter checkpoint resumes exactly.
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  torch,
  GPT,
  ByteTokenizer,
  RewardModel,
  ActorCritic,
  SFTTrainer,
  RewardTrainer,
  DPOTrainer,
  PPOTrainer,
  GRPOTrainer,
  RLOOTrainer,
  hasLora,
  loraAdapter,
  adapterParameters,
  applyLora,
  mergeAndUnload,
  readAdapterConfig,
  loadTokenizer,
  type Tensor,
  type Module,
  type OptimizerStateDict,
  type LoraConfigInput,
} from '../src/index.js';
import { tempDir, expectSameParameters, expectExactResume } from './helpers.js';

const tmp = tempDir('lora-trainers');
const tok = new ByteTokenizer();
const baseDir = join(tmp, 'base');
const quiet = { progressBar: false, loggingSteps: 1 } as const;
const lora: LoraConfigInput = { r: 4, loraAlpha: 16, targetModules: 'all-linear' };
const sftRows = Array.from({ length: 16 }, (_, i) => ({ prompt: `q${i % 4}:`, completion: ['abc', 'bca', 'cab', 'aab'][i % 4]! }));
const pairRows = Array.from({ length: 16 }, (_, i) => ({
  prompt: `q${i % 4}:`,
  chosen: 'aaa',
  rejected: ['bbb', 'cc', 'bcb', 'c'][i % 4]!,
}));
const prompts = Array.from({ length: 8 }, (_, i) => ({ prompt: `p${i}:` }));
/** A reward with spread even for an untrained model's random bytes. */
const firstCharCode = (s: string) => (s.length ? s.charCodeAt(0) / 255 : 0);
const shareOfA = (answers: string[]) => answers.map((s) => (s.length ? [...s].filter((c) => c === 'a').length / s.length : 0));

beforeAll(async () => {
  torch.manualSeed(0);
  const base = GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32 });
  await base.save(baseDir);
  base.dispose();
});

const snapshot = (m: Module) => new Map(m.namedParameters().map(([n, p]) => [n, torch.noGrad(() => p.clone())]));
/** Names of the parameters that moved since the snapshot (and frees it). */
function changed(m: Module, snap: Map<string, Tensor>): string[] {
  const out = m
    .namedParameters()
    .filter(([n, p]) => !torch.noGrad(() => p.equal(snap.get(n)!)))
    .map(([n]) => n);
  torch.dispose([...snap.values()]);
  return out;
}
/** Bytes of the optimizer's tensors (AdamW's moments). */
function stateBytes(o: { stateDict(): OptimizerStateDict }): number {
  const sd = o.stateDict();
  let n = 0;
  for (const s of Object.values(sd.state)) for (const v of Object.values(s)) if (v instanceof torch.Tensor) n += v.numel() * 4;
  return n;
}
const paramBytes = (ps: [string, Tensor][]) => ps.reduce((n, [, p]) => n + p.numel() * 4, 0);

/** What every LoRA run must show: the base frozen, the adapter (and the heads) trained, state for those only, PEFT's files saved. */
function expectOnlyAdapterTrained(
  model: Module,
  moved: string[],
  heads: string[],
  optimizer: { stateDict(): OptimizerStateDict },
  outputDir: string,
): void {
  const adapter = adapterParameters(model).map(([n]) => n);
  expect(moved.length).toBeGreaterThan(0);
  for (const n of moved) expect(adapter, `${n} moved but is not the adapter's`).toContain(n);
  expect(moved.filter((n) => n.includes('lora_B')).length).toBe(loraAdapter(model)!.layers.size);
  for (const h of heads)
    expect(
      moved.some((n) => n.startsWith(`${h}.`)),
      `${h} trains in full`,
    ).toBe(true);
  // AdamW keeps two moments per trained parameter: for the adapter, not for the base.
  expect(stateBytes(optimizer)).toBe(2 * paramBytes(adapterParameters(model)));
  expect(existsSync(join(outputDir, 'adapter_config.json')) && existsSync(join(outputDir, 'adapter_model.safetensors'))).toBe(true);
  expect(existsSync(join(outputDir, 'model.safetensors'))).toBe(false);
}

describe('trainers with a LoRA adapter', () => {
  it('SFT: only the adapter trains; the output directory loads back as base + adapter with the same logits', async () => {
    const model = await GPT.load(baseDir);
    const outputDir = join(tmp, 'sft');
    const t = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: sftRows,
      peftConfig: lora,
      config: { outputDir, learningRate: 1e-2, maxSteps: 4, batchSize: 4, ...quiet },
    });
    const snap = snapshot(model); // after the trainer put the adapter on
    expect(hasLora(model)).toBe(true);
    await t.train();
    const moved = changed(model, snap);
    expectOnlyAdapterTrained(model, moved, [], t.optimizer, outputDir);
    expect(existsSync(join(outputDir, 'checkpoint-4', 'adapter_model.safetensors'))).toBe(true);
    const back = (await GPT.load(outputDir)).eval();
    expect(loraAdapter(back)!.baseModelNameOrPath).toBe(baseDir);
    const ids = torch.tensor([[3, 5, 7, 9]], { dtype: 'int64' });
    model.eval();
    const a = torch.noGrad(() => model.forward(ids).logits);
    const b = torch.noGrad(() => back.forward(ids).logits);
    expect(a.equal(b)).toBe(true);
    // peftConfig on a model that already has an adapter is an error; without it the adapter keeps training.
    expect(
      () =>
        new SFTTrainer({ model: back, tokenizer: tok, trainDataset: sftRows, peftConfig: lora, config: { outputDir: join(tmp, 'sft2') } }),
    ).toThrow('already has a LoRA adapter; leave out peftConfig');
    const t2 = new SFTTrainer({
      model: back,
      tokenizer: tok,
      trainDataset: sftRows,
      config: { outputDir: join(tmp, 'sft2'), maxSteps: 1, batchSize: 4, learningRate: 1e-2, ...quiet },
    });
    const snap2 = snapshot(back);
    await t2.train();
    expect(changed(back, snap2).every((n) => n.includes('lora_'))).toBe(true);
    torch.dispose([ids, a, b]);
    for (const x of [t, t2, model, back]) x.dispose();
  });

  it('SFT on the Llama fixture with q_proj / v_proj adapters (GQA shapes); the saved adapter loads back', async () => {
    const dir = fileURLToPath(new URL('./fixtures/llama-tiny', import.meta.url));
    const model = await GPT.load(dir);
    const tokenizer = await loadTokenizer(dir);
    const outputDir = join(tmp, 'llama-sft');
    const t = new SFTTrainer({
      model,
      tokenizer,
      trainDataset: sftRows,
      peftConfig: { r: 2, loraAlpha: 4, targetModules: ['q_proj', 'v_proj'] },
      config: { outputDir, learningRate: 1e-2, maxSteps: 2, batchSize: 4, ...quiet },
    });
    const snap = snapshot(model); // after the trainer put the adapter on
    expect([...loraAdapter(model)!.layers.keys()]).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.v_proj',
    ]);
    await t.train();
    expectOnlyAdapterTrained(model, changed(model, snap), [], t.optimizer, outputDir);
    const back = (await GPT.load(outputDir)).eval();
    model.eval();
    const ids = torch.tensor([[3, 5, 7, 9]], { dtype: 'int64' });
    const a = torch.noGrad(() => model.forward(ids, { path: 'native' })).logits;
    const b = torch.noGrad(() => back.forward(ids, { path: 'native' })).logits;
    expect(a.equal(b)).toBe(true);
    torch.dispose([ids, a, b]);
    for (const x of [t, model, back]) x.dispose();
  });

  it('SFT: an adapter checkpoint resumes to the parameters of an uninterrupted run', async () => {
    const config = (dir: string, extra = {}) => ({
      outputDir: dir,
      learningRate: 5e-3,
      maxSteps: 6,
      batchSize: 4,
      saveSteps: 3,
      ...quiet,
      ...extra,
    });
    await expectExactResume({
      make: async (run) => {
        torch.manualSeed(5);
        const model = await GPT.load(baseDir);
        const outputDir = join(tmp, run === 'full' ? 'resume-full' : 'resume-part');
        const trainer = new SFTTrainer({
          model,
          tokenizer: tok,
          trainDataset: sftRows,
          peftConfig: lora,
          config: config(outputDir, { resumeFromCheckpoint: run === 'resumed' }),
        });
        return { model, trainer };
      },
      cut: ['computeLoss', 5],
      checkpoint: join(tmp, 'resume-part', 'checkpoint-3'),
    });
  });

  it('RewardTrainer: the adapter and the score head train; the saved adapter loads as a reward model', async () => {
    const rm = await RewardModel.fromTrunk(baseDir);
    const outputDir = join(tmp, 'rm');
    const t = new RewardTrainer({
      model: rm,
      tokenizer: tok,
      trainDataset: pairRows,
      peftConfig: lora,
      config: { outputDir, learningRate: 1e-2, maxSteps: 4, batchSize: 4, ...quiet },
    });
    const snap = snapshot(rm); // after the trainer put the adapter on
    await t.train();
    expectOnlyAdapterTrained(rm, changed(rm, snap), ['score'], t.optimizer, outputDir);
    const back = (await RewardModel.load(outputDir)).eval();
    rm.eval();
    const ids = torch.tensor([[3, 5, 7, 9]], { dtype: 'int64' });
    const a = torch.noGrad(() => rm.rewards(ids));
    const b = torch.noGrad(() => back.rewards(ids));
    expect(a.equal(b)).toBe(true);
    torch.dispose([ids, a, b]);
    for (const x of [t, rm, back]) x.dispose();
  });

  it('DPO: the reference is the policy with its adapter off, without a copy of the weights', async () => {
    const full = await GPT.load(baseDir);
    const before = torch.memory().bytes;
    const withCopy = new DPOTrainer({
      model: full,
      tokenizer: tok,
      trainDataset: pairRows,
      config: { outputDir: join(tmp, 'dpo-full'), maxSteps: 1, batchSize: 4, ...quiet },
    });
    const copyBytes = torch.memory().bytes - before;
    expect(withCopy.refModel).not.toBeNull();
    withCopy.dispose();
    full.dispose();

    const model = await GPT.load(baseDir);
    const start = torch.memory().bytes;
    const outputDir = join(tmp, 'dpo');
    const t = new DPOTrainer({
      model,
      tokenizer: tok,
      trainDataset: pairRows,
      peftConfig: lora,
      config: { outputDir, learningRate: 1e-2, maxSteps: 4, batchSize: 4, ...quiet },
    });
    const loraBytes = torch.memory().bytes - start;
    const snap = snapshot(model); // after the trainer put the adapter on
    expect(t.refModel).toBeNull();
    // The frozen copy costs the whole model; the adapter costs a few percent of it.
    expect(copyBytes).toBeGreaterThanOrEqual(paramBytes(model.namedParameters().filter(([n]) => !n.includes('lora_'))));
    expect(loraBytes).toBeLessThan(copyBytes / 5);
    const r = await t.train();
    // Starting at the base, the first step's reference equals the policy: rewards start at 0.
    expect(
      Math.abs(
        JSON.parse((await import('node:fs')).readFileSync(join(outputDir, 'metrics.jsonl'), 'utf8').split('\n')[0]!)['rewards/chosen'],
      ),
    ).toBeLessThan(1e-6);
    expect(r.metrics['rewards/margins']).toBeGreaterThan(0);
    expectOnlyAdapterTrained(model, changed(model, snap), [], t.optimizer, outputDir);
    t.dispose();
    model.dispose();
  });

  it.each([
    ['GRPO', GRPOTrainer],
    ['RLOO', RLOOTrainer],
  ] as const)('%s: beta > 0 keeps no reference copy; only the adapter trains; no tensor is left behind', async (name, Trainer) => {
    const live = torch.memory().tensors;
    const model = await GPT.load(baseDir);
    const start = torch.memory().bytes;
    const outputDir = join(tmp, name);
    const t = new Trainer({
      model,
      tokenizer: tok,
      prompts,
      rewards: (o: { completions: string[] }) => o.completions.map(firstCharCode),
      peftConfig: lora,
      config: { outputDir, learningRate: 1e-2, maxSteps: 3, batchSize: 8, numGenerations: 4, maxCompletionLength: 6, beta: 0.1, ...quiet },
    });
    expect(t.refModel).toBeNull();
    expect(torch.memory().bytes - start).toBeLessThan(paramBytes(model.namedParameters()) / 5);
    const snap = snapshot(model); // after the trainer put the adapter on
    await t.train();
    const log = t.history;
    expect(log.length).toBe(3);
    // The KL to the base is 0 before the first update and positive after.
    const kl = log.map((r) => r.kl!);
    expect(kl[0]).toBeCloseTo(0, 6);
    expect(kl[2]).toBeGreaterThan(0);
    expectOnlyAdapterTrained(model, changed(model, snap), [], t.optimizer, outputDir);
    t.dispose();
    model.dispose();
    expect(torch.memory().tensors).toBe(live);
  });

  it.each([false, true])(
    "PPO (separate critic: %s): the reference is the base; the value head or the critic's adapter trains",
    async (separateCritic) => {
      const rmDir = join(tmp, 'ppo-rm');
      if (separateCritic && !existsSync(rmDir)) {
        const rm = await RewardModel.fromTrunk(baseDir);
        await rm.save(rmDir);
        rm.dispose();
      }
      const model = await ActorCritic.fromTrunk(baseDir, { separateCritic, rewardModelDir: rmDir });
      const start = torch.memory().bytes;
      const outputDir = join(tmp, `ppo-${separateCritic}`);
      const t = new PPOTrainer({
        model,
        tokenizer: tok,
        prompts,
        rewardFn: (_p, answers) => shareOfA(answers),
        peftConfig: lora,
        config: { outputDir, numIterations: 2, batchSize: 8, miniBatchSize: 4, maxNewTokens: 6, learningRate: 1e-2, klCoef: 0.1, ...quiet },
      });
      expect(t.refModel).toBeNull();
      expect(torch.memory().bytes - start).toBeLessThan(paramBytes(model.namedParameters()) / 5);
      const snap = snapshot(model); // after the trainer put the adapter on
      await t.train();
      expect(t.history[0]!['objective/kl']).toBeCloseTo(0, 5); // the first rollout: policy = base
      const moved = changed(model, snap);
      if (separateCritic) {
        const critic = model.critic!;
        expect(hasLora(critic)).toBe(true);
        const criticAdapter = adapterParameters(critic).map(([n]) => `critic.${n}`);
        const policyAdapter = adapterParameters(model).map(([n]) => n);
        for (const n of moved) expect([...policyAdapter, ...criticAdapter]).toContain(n);
        expect(moved.some((n) => n.startsWith('critic.score.'))).toBe(true);
        expect(existsSync(join(outputDir, 'critic', 'adapter_model.safetensors'))).toBe(true);
      } else {
        expectOnlyAdapterTrained(model, moved, ['v_head'], t.optimizer, outputDir);
      }
      expect(existsSync(join(outputDir, 'adapter_model.safetensors'))).toBe(true);
      const back = await ActorCritic.fromTrunk(outputDir, {
        separateCritic,
        rewardModelDir: separateCritic ? join(outputDir, 'critic') : undefined,
      });
      expectSameParameters(back, model);
      // A policy loaded with its adapter needs no refModel either: its base is the reference.
      new PPOTrainer({ model: back, tokenizer: tok, prompts, rewardFn: (_p, a) => shareOfA(a), config: { outputDir } }).dispose();
      for (const x of [t, model, back]) x.dispose();
      const plain = await ActorCritic.fromTrunk(baseDir);
      expect(
        () => new PPOTrainer({ model: plain, tokenizer: tok, prompts, rewardFn: (_p, a) => shareOfA(a), config: { outputDir } }),
      ).toThrow('give refModel (the frozen SFT policy), or train a LoRA adapter');
      plain.dispose();
    },
  );
});

describe('adapter bases and initialisation', () => {
  const grpoOn = (model: GPT, outputDir: string, seed?: number) =>
    new GRPOTrainer({
      model,
      tokenizer: tok,
      prompts,
      rewards: (o: { completions: string[] }) => o.completions.map(firstCharCode),
      peftConfig: lora,
      config: { outputDir, learningRate: 1e-2, maxSteps: 2, batchSize: 8, numGenerations: 4, maxCompletionLength: 6, ...quiet, seed },
    });
  const logitsOf = (m: GPT) => {
    m.eval();
    return torch.noGrad(() => m.forward(torch.tensor([[3, 5, 7, 9]], { dtype: 'int64' })).logits);
  };

  it('SFT → mergeAndUnload → GRPO → reload: the new adapter names a base that holds the SFT changes, never the old one', async () => {
    const model = await GPT.load(baseDir);
    const sft = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: sftRows,
      peftConfig: lora,
      config: { outputDir: join(tmp, 'chain-sft'), learningRate: 1e-2, maxSteps: 2, batchSize: 4, ...quiet },
    });
    await sft.train();
    sft.dispose();
    mergeAndUnload(model);
    // Its weights are no directory's now: an adapter on it would name baseDir and load without the SFT changes.
    expect(() => grpoOn(model, join(tmp, 'chain-grpo'))).toThrow(
      /GRPOTrainer: the GPT was changed in memory \(mergeAndUnload\) since it was loaded from .*base.*Save the model first/,
    );
    expect(() => applyLora(model, lora)).toThrow(/changed in memory \(mergeAndUnload\)/);
    expect(hasLora(model)).toBe(false); // nothing was put on
    const merged = join(tmp, 'chain-merged');
    await model.save(merged);
    const outputDir = join(tmp, 'chain-grpo');
    const grpo = grpoOn(model, outputDir);
    await grpo.train();
    expect(readAdapterConfig(outputDir).baseModelNameOrPath).toBe(resolve(merged));
    const back = await GPT.load(outputDir);
    const onOldBase = await GPT.load(outputDir, { baseModel: baseDir });
    const [a, b, c] = [logitsOf(model), logitsOf(back), logitsOf(onOldBase)];
    expect(a.equal(b)).toBe(true);
    expect(a.sub(c).abs().max().item()).toBeGreaterThan(1e-4); // the base matters: the SFT changes are in it
    torch.dispose([a, b, c]);
    for (const x of [grpo, model, back, onOldBase]) x.dispose();
  });

  it('a model trained in full is its run directory afterwards: a later adapter names that; none goes on before the save', async () => {
    const model = await GPT.load(baseDir);
    const outputDir = join(tmp, 'full-sft');
    const sft = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: sftRows,
      config: { outputDir, learningRate: 1e-2, maxSteps: 2, saveSteps: 1, batchSize: 4, ...quiet },
    });
    expect(() => grpoOn(model, join(tmp, 'full-grpo'))).toThrow(/changed in memory \(trained in full by SFTTrainer\)/);
    await sft.train(); // its checkpoints are not the model's directory; the final save is
    sft.dispose();
    expect(applyLora(model, lora).baseModelNameOrPath).toBe(resolve(outputDir));
    model.dispose();
  });

  it("every trainer seeds its adapter's initialisation from config.seed: identical runs, identical step-1 grad_norm", async () => {
    /** lora_A of the first adapted layer after a trainer put the adapter on, under another global seed each time. */
    const initialA = async (make: (seed: number | undefined) => { dispose(): void; model: Module }, globalSeed: number, seed?: number) => {
      torch.manualSeed(globalSeed);
      const t = make(seed);
      const a = torch.noGrad(() =>
        adapterParameters(t.model)
          .find(([n]) => n.endsWith('lora_A.weight'))![1]
          .clone(),
      );
      t.dispose();
      t.model.dispose();
      return a;
    };
    const cfg = (name: string, seed: number | undefined) => ({
      outputDir: join(tmp, `seeded-${name}`),
      maxSteps: 1,
      batchSize: 4,
      ...quiet,
      seed,
    });
    const gpt = () => GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
    const makers: [string, (seed: number | undefined) => { dispose(): void; model: Module }][] = [
      [
        'sft',
        (seed) => new SFTTrainer({ model: gpt(), tokenizer: tok, trainDataset: sftRows, peftConfig: lora, config: cfg('sft', seed) }),
      ],
      [
        'dpo',
        (seed) => new DPOTrainer({ model: gpt(), tokenizer: tok, trainDataset: pairRows, peftConfig: lora, config: cfg('dpo', seed) }),
      ],
      [
        'reward',
        (seed) => {
          torch.manualSeed(7); // the score head is the model's own, made before the trainer
          const model = new RewardModel({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
          return new RewardTrainer({ model, tokenizer: tok, trainDataset: pairRows, peftConfig: lora, config: cfg('rm', seed) });
        },
      ],
      ['grpo', (seed) => grpoOn(gpt(), join(tmp, 'seeded-grpo'), seed)],
      [
        'rloo',
        (seed) =>
          new RLOOTrainer({
            model: gpt(),
            tokenizer: tok,
            prompts,
            rewards: (o: { completions: string[] }) => o.completions.map(firstCharCode),
            peftConfig: lora,
            config: { ...cfg('rloo', seed), batchSize: 8, numGenerations: 4 },
          }),
      ],
      [
        'ppo',
        (seed) =>
          new PPOTrainer({
            model: new ActorCritic({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 }),
            tokenizer: tok,
            prompts,
            rewardFn: (_p, answers) => shareOfA(answers),
            peftConfig: lora,
            config: {
              outputDir: join(tmp, 'seeded-ppo'),
              numIterations: 1,
              batchSize: 8,
              miniBatchSize: 4,
              ...quiet,
              ...(seed === undefined ? {} : { seed }),
            },
          }),
      ],
    ];
    for (const [name, make] of makers) {
      const [a, b, c] = [await initialA(make, 1), await initialA(make, 2), await initialA(make, 2, 7)];
      expect(a.equal(b), `${name}: the same config.seed, the same adapter`).toBe(true);
      expect(a.equal(c), `${name}: another config.seed, another adapter`).toBe(false);
      torch.dispose([a, b, c]);
    }
    // The whole first step then matches too (the run seeds its data order and sampling from the same seed).
    const gradNorms: number[] = [];
    for (const globalSeed of [1, 2]) {
      torch.manualSeed(globalSeed);
      const model = await GPT.load(baseDir);
      const t = new SFTTrainer({ model, tokenizer: tok, trainDataset: sftRows, peftConfig: lora, config: cfg('sft-run', undefined) });
      await t.train();
      gradNorms.push(t.history[0]!.grad_norm!);
      t.dispose();
      model.dispose();
    }
    expect(gradNorms[0]).toBe(gradNorms[1]);
  });
});
