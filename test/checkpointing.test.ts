// Gradient (activation) checkpointing and the native layers that take LoRA adapters beside their
// base weights. Checkpointing must not change the numbers: loss and every gradient equal those of
// the modules' path (float64, dropout on under a fixed seed, with padding), for GPT-2 and a Llama
// with grouped-query attention and qkv biases, plain and with LoRA. The native forward and
// generation with an adapter must equal the merged weights' and never make a merged copy.
import { describe, it, expect, vi, afterEach } from 'vitest';
import {
  torch,
  GPT,
  RewardModel,
  ActorCritic,
  applyLora,
  mergeAdapter,
  SFTTrainer,
  RewardTrainer,
  DPOTrainer,
  GRPOTrainer,
  RLOOTrainer,
  PPOTrainer,
  ByteTokenizer,
  type Tensor,
  type TrainerCallback,
} from '../src/index.js';
import { LoRALinear } from '../src/lora/lora-linear.js';
import { N } from '../src/native.js';
import { tempDir } from './helpers.js';

type Arch = 'gpt2' | 'llama';
const configs: Record<Arch, Parameters<typeof GPT.create>[0]> = {
  gpt2: { vocabSize: 40, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0.1 },
  llama: {
    arch: 'llama',
    vocabSize: 40,
    blockSize: 16,
    nLayer: 2,
    nHead: 4,
    nKvHead: 2,
    nEmbd: 32,
    intermediateSize: 48,
    qkvBias: true,
    dropout: 0.1,
    tieWordEmbeddings: false,
  },
};

// Left padding (a mask for the attention kernel) and right padding only (plain causal attention).
const ids = (): Tensor =>
  torch.tensor(
    [
      [0, 0, 5, 6, 7, 8, 9],
      [1, 2, 3, 4, 5, 0, 0],
    ],
    { dtype: 'int64' },
  );
const masks: Record<string, () => Tensor> = {
  'left padding': () =>
    torch.tensor(
      [
        [0, 0, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1, 1],
      ],
      { dtype: 'int64' },
    ),
  'right padding': () =>
    torch.tensor(
      [
        [1, 1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 0, 0],
      ],
      { dtype: 'int64' },
    ),
};

function makeModel(arch: Arch, lora: boolean): GPT {
  torch.manualSeed(1);
  const model = GPT.create(configs[arch], { dtype: 'float64' });
  if (lora) {
    applyLora(model, { r: 4, loraAlpha: 8, loraDropout: 0.2, targetModules: 'all-linear' });
    // B starts at zero: give it values so that the adapter (and its gradient into A) counts.
    torch.noGrad(() => {
      for (const [name, p] of model.namedParameters()) if (name.endsWith('lora_B.weight')) p.normal_(0, 0.1);
    });
  }
  model.train();
  return model;
}

/** A loss over every position's logits (weights fixed per position) and each trainable parameter's gradient. */
function lossAndGrads(model: GPT, checkpoint: boolean, mask: Tensor, seed = 7): { loss: number; grads: Map<string, Tensor> } {
  model.gradientCheckpointing = checkpoint;
  model.zeroGrad();
  torch.manualSeed(seed);
  const loss = torch.tidy(() => {
    const { logits } = model.forward(ids(), { attentionMask: mask });
    const w = torch.noGrad(() =>
      torch
        .arange(logits.numel(), { dtype: 'float64' })
        .view(...logits.shape)
        .mul(0.37)
        .sin(),
    );
    const l = logits.logSoftmax(-1).mul(w).mul(mask.unsqueeze(-1)).sum();
    l.backward();
    return l.item();
  });
  const grads = new Map<string, Tensor>();
  for (const [name, p] of model.namedParameters()) if (p.requiresGrad && p.grad) grads.set(name, torch.keep(p.grad.clone()));
  return { loss, grads };
}

afterEach(() => vi.restoreAllMocks());

describe.each(['gpt2', 'llama'] as const)('%s: gradient checkpointing', (arch) => {
  describe.each([false, true])('LoRA %s', (lora) => {
    it.each(Object.keys(masks))('with dropout, under %s: loss and every gradient equal the modules path', (maskName) => {
      const model = makeModel(arch, lora);
      const mask = masks[maskName]!();
      const before = torch.memory().tensors;
      const plain = lossAndGrads(model, false, mask);
      const layerCalls = vi.spyOn(N, arch === 'gpt2' ? 'gptBlock' : 'llamaLayer');
      const ckpt = lossAndGrads(model, true, mask);
      // Every layer went through the native checkpointed one.
      expect(layerCalls).toHaveBeenCalledTimes(2);
      expect(layerCalls.mock.calls.every(([, input]) => input.checkpoint === true && input.training === true)).toBe(true);
      expect(Math.abs(ckpt.loss - plain.loss)).toBeLessThan(1e-9 * Math.max(1, Math.abs(plain.loss)));
      expect([...ckpt.grads.keys()].sort()).toEqual([...plain.grads.keys()].sort());
      expect(plain.grads.size).toBeGreaterThan(lora ? 4 : 10);
      for (const [name, g] of plain.grads) {
        const diff = torch.tidy(() => g.sub(ckpt.grads.get(name)!).abs().max().item());
        expect(diff, name).toBeLessThan(1e-10);
      }
      // Dropout was in effect: another seed draws other masks, another loss.
      const reseeded = lossAndGrads(model, true, mask, 8);
      expect(Math.abs(reseeded.loss - plain.loss)).toBeGreaterThan(1e-6);
      torch.dispose([...plain.grads.values(), ...ckpt.grads.values(), ...reseeded.grads.values()]);
      model.zeroGrad();
      expect(torch.memory().tensors).toBe(before);
      mask.dispose();
      model.dispose();
    });
  });

  it('HF-style switches: gradientCheckpointingEnable / Disable / isGradientCheckpointing; no-grad and eval forwards are unchanged', () => {
    const model = makeModel(arch, false);
    expect(model.isGradientCheckpointing).toBe(false);
    model.gradientCheckpointingEnable();
    expect(model.isGradientCheckpointing).toBe(true);
    model.eval();
    torch.tidy(() => {
      const m = masks['left padding']!();
      const withGrad = model.forward(ids(), { attentionMask: m });
      expect(withGrad.logits.requiresGrad).toBe(true);
      const modules = model.forward(ids(), { attentionMask: m, path: 'modules', useCache: true });
      expect(withGrad.logits.sub(modules.logits).abs().max().item()).toBeLessThan(1e-12);
    });
    model.gradientCheckpointingDisable();
    expect(model.isGradientCheckpointing).toBe(false);
    model.dispose();
  });

  it('the native forward with adapters beside the base weights equals the merged weights', () => {
    const model = makeModel(arch, true);
    model.eval();
    const spy = vi.spyOn(LoRALinear.prototype, 'effectiveWeight');
    torch.tidy(() => {
      const m = masks['left padding']!();
      const adapters = torch.noGrad(() => model.forward(ids(), { attentionMask: m, path: 'native' }).logits);
      const modules = torch.noGrad(() => model.forward(ids(), { attentionMask: m, path: 'modules' }).logits);
      mergeAdapter(model);
      const merged = torch.noGrad(() => model.forward(ids(), { attentionMask: m, path: 'native' }).logits);
      expect(adapters.sub(merged).abs().max().item()).toBeLessThan(1e-12);
      expect(adapters.sub(modules).abs().max().item()).toBeLessThan(1e-12);
    });
    expect(spy).not.toHaveBeenCalled();
    model.dispose();
  });

  it('a float32 adapter on a bfloat16 base (PEFT: x cast to the adapter, the sum back to the base dtype), natively', () => {
    const model = makeModel(arch, true);
    model.eval();
    torch.tidy(() => {
      const m = masks['left padding']!();
      const reference = torch.noGrad(() => model.forward(ids(), { attentionMask: m, path: 'native' }).logits);
      model.to('bfloat16');
      const adapted = [...model.namedModules()].map(([, l]) => l).filter((l) => l instanceof LoRALinear);
      for (const layer of adapted) [layer.lora_A, layer.lora_B].forEach((l) => l.to('float32'));
      expect(adapted.every((l) => l.weight.dtype === 'bfloat16' && l.lora_B.weight.dtype === 'float32')).toBe(true);
      const mixed = torch.noGrad(() => model.forward(ids(), { attentionMask: m, path: 'native' }).logits);
      // The trunk runs in bf16; a half-precision model's logits come out float32, as transformers' losses take them.
      expect(mixed.dtype).toBe('float32');
      // bf16's precision (8 bits of mantissa) over two layers, against the float64 model.
      const scale = reference.abs().max().item();
      expect(mixed.double().sub(reference).abs().max().item()).toBeLessThan(0.05 * scale);
    });
    model.dispose();
  });

  it('generation with an adapter equals the merged model, and makes no merged copy of any weight', async () => {
    const model = makeModel(arch, true);
    model.eval();
    const spy = vi.spyOn(LoRALinear.prototype, 'effectiveWeight');
    const before = torch.memory();
    const prompts = [
      [1, 2, 3],
      [4, 5],
    ];
    const run = async () => {
      const out = await model.generate(prompts, { maxNewTokens: 6, greedy: true });
      const r = { sequences: out.sequences, logprobs: out.logprobs.tolist() as number[][] };
      torch.dispose([out.tokens, out.responseMask, out.logprobs, out.promptIds, out.promptMask]);
      return r;
    };
    const withAdapter = await run();
    expect(spy).not.toHaveBeenCalled();
    expect(torch.memory()).toEqual(before);
    mergeAdapter(model);
    const merged = await run();
    expect(withAdapter.sequences).toEqual(merged.sequences);
    withAdapter.logprobs.flat().forEach((lp, i) => expect(lp).toBeCloseTo(merged.logprobs.flat()[i]!, 6));
    model.dispose();
  });
});

describe('gradient checkpointing in a trainer', () => {
  const tok = new ByteTokenizer();
  const rows = Array.from({ length: 12 }, (_, i) => ({ prompt: `Q${i % 4}:`, completion: ` A${i % 4}` }));
  const losses = async (
    arch: Arch,
    gradientCheckpointing: boolean | undefined,
    peft: boolean,
  ): Promise<{ loss: number[]; on: boolean }> => {
    torch.manualSeed(0);
    const base = { ...configs[arch], vocabSize: tok.vocabSize, blockSize: 32, dropout: 0 };
    const model = GPT.create(base);
    const loss: number[] = [];
    const cb: TrainerCallback = { onStep: (_, m) => void loss.push(m.loss!) };
    const t = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: rows,
      callbacks: [cb],
      ...(peft ? { peftConfig: { r: 4, targetModules: 'all-linear' } } : {}),
      config: {
        outputDir: tempDir('ckpt-trainer'),
        batchSize: 4,
        maxSteps: 3,
        learningRate: 1e-2,
        evalFraction: 0,
        progressBar: false,
        ...(gradientCheckpointing === undefined ? {} : { gradientCheckpointing }),
      },
    });
    await t.train();
    const on = model.isGradientCheckpointing;
    t.dispose();
    model.dispose();
    return { loss, on };
  };

  it.each([
    ['gpt2', false],
    ['llama', true],
  ] as const)('%s (LoRA %s): the same loss trajectory with gradientCheckpointing as without', async (arch, peft) => {
    const off = await losses(arch, false, peft);
    const on = await losses(arch, true, peft);
    expect(off.on).toBe(false);
    expect(on.on).toBe(true);
    expect(on.loss).toHaveLength(3);
    on.loss.forEach((l, i) => expect(Math.abs(l - off.loss[i]!)).toBeLessThan(1e-5));
    // A model built here has random weights: checkpointing is off unless asked for.
    expect((await losses(arch, undefined, peft)).on).toBe(false);
  });
});

describe('every trainer honours gradientCheckpointing', () => {
  const tok = new ByteTokenizer();
  const small = { vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 };
  const prefs = Array.from({ length: 8 }, (_, i) => ({ prompt: `Q${i}:`, chosen: ' yes', rejected: ' no' }));
  const prompts = Array.from({ length: 4 }, (_, i) => ({ prompt: `Q${i}:` }));
  const base = { progressBar: false, maxSteps: 1 };
  const online = { ...base, batchSize: 4, numGenerations: 2, maxCompletionLength: 4, sampleEvery: 0 };

  it.each([true, false])('gradientCheckpointing %s: reward, DPO, GRPO, RLOO and PPO (policy and separate critic)', (on) => {
    const config = (name: string) => ({ outputDir: tempDir(`ckpt-${name}`), gradientCheckpointing: on });
    const rm = new RewardModel(small);
    const rt = new RewardTrainer({ model: rm, tokenizer: tok, trainDataset: prefs, config: { ...config('rm'), ...base } });
    const policy = GPT.create(small);
    const dt = new DPOTrainer({ model: policy, refModel: GPT.create(small), tokenizer: tok, trainDataset: prefs, config: config('dpo') });
    const g = GPT.create(small);
    const gt = new GRPOTrainer({
      model: g,
      tokenizer: tok,
      prompts,
      rewards: ({ completions }) => completions.map(() => 1),
      config: { ...config('grpo'), ...online },
    });
    const r = GPT.create(small);
    const lt = new RLOOTrainer({
      model: r,
      tokenizer: tok,
      prompts,
      rewards: ({ completions }) => completions.map(() => 1),
      config: { ...config('rloo'), ...online },
    });
    const critic = new RewardModel(small);
    const ac = new ActorCritic(small, { critic });
    const ref = GPT.create(small);
    const pt = new PPOTrainer({
      model: ac,
      refModel: ref,
      rewardFn: (ps) => ps.map(() => 1),
      tokenizer: tok,
      prompts,
      config: { ...config('ppo'), numIterations: 1, batchSize: 2, miniBatchSize: 2, maxNewTokens: 4, sampleEvery: 0, progressBar: false },
    });
    for (const m of [rm, policy, g, r, ac, critic]) expect(m.isGradientCheckpointing).toBe(on);
    for (const t of [rt, dt, gt, lt, pt]) t.dispose();
    for (const m of [rm, policy, g, r, ac, ref]) m.dispose();
  });

  it('PPO with a separate critic: the same run with checkpointing as without', async () => {
    const run = async (gradientCheckpointing: boolean) => {
      torch.manualSeed(0);
      const critic = new RewardModel(small);
      const ac = new ActorCritic(small, { critic });
      const ref = GPT.create(small);
      const pt = new PPOTrainer({
        model: ac,
        refModel: ref,
        rewardFn: (ps) => ps.map((p) => p.length / 10),
        tokenizer: tok,
        prompts,
        config: {
          outputDir: tempDir('ckpt-ppo-run'),
          gradientCheckpointing,
          numIterations: 2,
          batchSize: 2,
          miniBatchSize: 2,
          maxNewTokens: 4,
          sampleEvery: 0,
          progressBar: false,
        },
      });
      await pt.train();
      const history = pt.history.map((h) => ({ ...h }));
      pt.dispose();
      ac.dispose();
      ref.dispose();
      return history;
    };
    const off = await run(false);
    const on = await run(true);
    expect(on).toHaveLength(2);
    for (const [i, row] of off.entries())
      for (const [k, v] of Object.entries(row))
        if (typeof v === 'number' && !/time|per_second|tokens_per/.test(k)) expect(on[i]![k], k).toBeCloseTo(v, 5);
  });
});
