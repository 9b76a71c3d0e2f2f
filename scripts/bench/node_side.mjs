// The torch-rlhf side of scripts/bench.mjs: one measurement in a fresh Node process (so its
// peak RSS is that measurement's). Reads one JSON task from stdin, prints one JSON line:
// {"times": [...], ..., "maxRssKiB": n}. Mirrors scripts/bench/train_reference.py, and for the
// sftTrainer, dpo, grpo and generate tasks of scripts/bench-trl.mjs and scripts/bench-realsize.mjs,
// TRL's trainers and transformers' generate in scripts/bench/trl_reference.py. Those tasks run on
// bench-trl's tiny GPT-2 (cfg.size) or on a Hugging Face checkpoint directory (cfg.model: {dir,
// dtype}), with a LoRA adapter when cfg.peft is given and the trainer settings cfg.settings
// (fields such as gradientCheckpointing or mixedPrecision, only those the library accepts).
//   echo '{"task": "sft", ...}' | node scripts/bench/node_side.mjs
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ActorCritic,
  AdamW,
  ByteTokenizer,
  DPOTrainer,
  GPT,
  GRPOTrainer,
  PPOTrainer,
  RewardModel,
  SFTTrainer,
  collateRankings,
  collateSequences,
  languageModelLoss,
  loadTokenizer,
  rankingLoss,
  torch,
} from '../../dist/index.js';

const cfg = JSON.parse(readFileSync(0, 'utf8'));
torch.setNumThreads(cfg.threads);

async function timed(step, warmup, repeats) {
  const times = [];
  for (let r = 0; r < warmup + repeats; r++) {
    const t0 = performance.now();
    await step();
    if (r >= warmup) times.push((performance.now() - t0) / 1000);
  }
  return times;
}

// The Trainer's two AdamW groups (src/trainers/trainer.ts): no decay on biases, LayerNorms, wpe.
const isNoDecay = (name) => name.endsWith('.bias') || /(^|\.)(ln_\w+|ln_f|layernorm|norm)\./i.test(name) || /\.wpe\./.test(name);
function adamw(model, lr) {
  const decay = [],
    noDecay = [];
  for (const [name, p] of model.namedParameters()) if (p.requiresGrad) (isNoDecay(name) ? noDecay : decay).push(p);
  const groups = [
    { params: decay, weightDecay: 0 },
    { params: noDecay, weightDecay: 0 },
  ].filter((g) => g.params.length > 0);
  return new AdamW(groups, { lr, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
}

// One optimizer step as Trainer.train() does it (one micro-batch, no accumulation).
function trainStep(model, opt, lossOf) {
  opt.zeroGrad();
  torch.tidy(() => {
    const loss = lossOf();
    loss.item();
    loss.div(1).backward();
  });
  torch.nn.utils.clipGradNorm(model.parameters(), 1);
  opt.step();
}

// Per-step times of a trainer's own train() with maxSteps = 1 + warmup + repeats, as
// trl_reference.py takes TRL's: the gaps between consecutive steps' ends, here the `time` that
// train() writes with each step's metrics.jsonl line (loggingSteps 1), setup and the final save
// excluded. The run directory is a fresh temporary one, removed afterwards.
async function trainerStepTimes(make, instrument = () => {}) {
  const outputDir = mkdtempSync(join(tmpdir(), 'torch-rlhf-bench-trl-'));
  try {
    const trainer = make({
      outputDir,
      maxSteps: 1 + cfg.warmup + cfg.repeats,
      loggingSteps: 1,
      progressBar: false,
      device: 'cpu',
      seed: 42,
    });
    instrument(trainer);
    await trainer.train();
    trainer.dispose();
    const ends = readFileSync(join(outputDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.step !== undefined && r.loss !== undefined)
      .map((r) => r.time);
    return ends
      .slice(1)
      .map((t, i) => t - ends[i])
      .slice(cfg.warmup);
  } finally {
    rmSync(outputDir, { recursive: true, force: true });
  }
}

// The task's model and tokenizer: a checkpoint directory loaded as users load one (in the task's
// dtype), or bench-trl's tiny GPT-2 with the ByteTokenizer.
async function modelAndTokenizer() {
  if (!cfg.model) return { model: GPT.create(cfg.size), tokenizer: new ByteTokenizer() };
  const model = await GPT.load(cfg.model.dir, { dtype: cfg.model.dtype });
  return { model, tokenizer: await loadTokenizer(cfg.model.dir) };
}

// What a trainer's run actually held: the dtypes of its trained and frozen parameters and their sizes.
function heldDtypes(model) {
  const count = { trainable: 0, frozen: 0, trainableDtype: new Set(), frozenDtype: new Set() };
  for (const [, p] of model.namedParameters()) {
    const k = p.requiresGrad ? 'trainable' : 'frozen';
    count[k] += p.numel();
    count[`${k}Dtype`].add(p.dtype);
  }
  return {
    trainable: count.trainable,
    trainableDtype: [...count.trainableDtype].join('+'),
    frozenDtype: [...count.frozenDtype].join('+') || 'none',
  };
}

const tasks = {
  async matmul() {
    const a = torch.randn([cfg.n, cfg.n]);
    const b = torch.randn([cfg.n, cfg.n]);
    return { times: await timed(() => a.matmul(b).dispose(), cfg.warmup, cfg.repeats) };
  },

  async sft() {
    torch.manualSeed(0);
    const model = GPT.create(cfg.size).train();
    const opt = adamw(model, 2e-5);
    const batch = collateSequences(cfg.data.seqs, cfg.data.pad, 'cpu');
    const times = await timed(() => trainStep(model, opt, () => languageModelLoss(model, batch)), cfg.warmup, cfg.repeats);
    // The matmul ceiling in this same process, right after: the machine's speed drifts.
    const a = torch.randn([cfg.matmul.n, cfg.matmul.n]),
      b = torch.randn([cfg.matmul.n, cfg.matmul.n]);
    return { times, matmulTimes: await timed(() => a.matmul(b).dispose(), cfg.matmul.warmup, cfg.matmul.repeats) };
  },

  async rm() {
    torch.manualSeed(0);
    const model = new RewardModel(cfg.size).train();
    const opt = adamw(model, 1e-5);
    const batch = collateRankings(
      cfg.data.pairs.map((p) => ({ sequences: p })),
      cfg.data.pad,
      'cpu',
    );
    const step = () =>
      trainStep(model, opt, () => {
        const { loss, accuracy, meanMargin } = rankingLoss(model.rewards(batch.inputIds, batch.attentionMask), batch, 0);
        accuracy.item();
        meanMargin.item();
        return loss;
      });
    return { times: await timed(step, cfg.warmup, cfg.repeats) };
  },

  async ppo() {
    torch.manualSeed(0);
    const c = cfg.ppo;
    const model = new ActorCritic(cfg.size);
    const refModel = GPT.create(cfg.size);
    const rewardModel = new RewardModel(cfg.size);
    const trainer = new PPOTrainer({
      model,
      refModel,
      rewardModel,
      tokenizer: new ByteTokenizer(),
      prompts: cfg.data.prompts.map((prompt) => ({ prompt })),
      config: {
        ...c,
        outputDir: join(tmpdir(), 'torch-rlhf-bench-ppo'),
        microBatchSize: c.miniBatchSize,
        device: 'cpu',
        progressBar: false,
        sampleEvery: 0,
      },
    });
    const times = [],
      rolloutTimes = [];
    for (let it = 0; it < cfg.warmup + cfg.repeats; it++) {
      const t0 = performance.now();
      const r = await trainer.rollout();
      const t1 = performance.now();
      await trainer['update'](r); // private in TypeScript; the step PPOTrainer.train() runs after rollout()
      const t2 = performance.now();
      torch.dispose(r);
      trainer.step++; // the run loop's count of iterations done, as train() advances it
      if (it >= cfg.warmup) {
        times.push((t2 - t0) / 1000);
        rolloutTimes.push((t1 - t0) / 1000);
      }
    }
    return { times, rolloutTimes };
  },

  // SFTTrainer on prompt-completion rows (completion-only loss), one batch of cfg.sft.batchSize rows per step.
  async sftTrainer() {
    torch.manualSeed(0);
    const s = cfg.sft;
    const { model, tokenizer } = await modelAndTokenizer();
    const config = { batchSize: s.batchSize, learningRate: s.learningRate, maxLength: s.maxLength, maxGradNorm: 1 };
    let held;
    const times = await trainerStepTimes(
      (run) =>
        new SFTTrainer({
          model,
          tokenizer,
          trainDataset: cfg.data.examples,
          evalDataset: [],
          peftConfig: cfg.peft,
          config: { ...config, ...cfg.settings, ...run },
        }),
      () => (held = heldDtypes(model)),
    );
    return { times, ...held };
  },

  // DPOTrainer on the pairs (a frozen copy of the policy as reference), one batch of all pairs per step.
  async dpo() {
    torch.manualSeed(0);
    const d = cfg.dpo;
    const { model, tokenizer } = await modelAndTokenizer();
    const pairs = cfg.data.pairs.map((p) => ({ kind: 'text', ...p }));
    const config = { batchSize: d.batchSize, learningRate: d.learningRate, beta: d.beta, lossType: 'sigmoid', maxGradNorm: 1 };
    if (d.maxLength) config.maxLength = d.maxLength;
    let held;
    const times = await trainerStepTimes(
      (run) =>
        new DPOTrainer({
          model,
          tokenizer,
          trainDataset: pairs,
          evalDataset: [],
          peftConfig: cfg.peft,
          config: { ...config, ...cfg.settings, ...run },
        }),
      () => (held = heldDtypes(model)),
    );
    return { times, ...held };
  },

  // GRPOTrainer: numGenerations completions of batchSize / numGenerations prompts, the byte-share reward, then the update.
  async grpo() {
    torch.manualSeed(0);
    const g = cfg.grpo;
    const { model, tokenizer } = await modelAndTokenizer();
    const lengths = [];
    const byteShare = ({ completionIds }) => {
      lengths.push(...completionIds.map((ids) => ids.length));
      return completionIds.map((ids) => ids.filter((id) => id === g.rewardByte).length / Math.max(ids.length, 1));
    };
    const config = {
      batchSize: g.batchSize,
      numGenerations: g.numGenerations,
      maxCompletionLength: g.maxCompletionLength,
      temperature: g.temperature,
      beta: g.beta,
      learningRate: g.learningRate,
      lossType: g.lossType,
      scaleRewards: g.scaleRewards,
      epsilon: g.epsilon,
      numIterations: 1,
      maxGradNorm: 1,
      sampleEvery: 0,
    };
    // Generation and scoring (the rollout) of each step, timed around the method train() calls for it.
    const rollouts = [];
    let held;
    const timeRollouts = (trainer) => {
      held = heldDtypes(model);
      const generate = trainer.generate.bind(trainer);
      trainer.generate = async () => {
        const t0 = performance.now();
        const out = await generate();
        rollouts.push((performance.now() - t0) / 1000);
        return out;
      };
    };
    const make = (run) =>
      new GRPOTrainer({
        model,
        rewards: byteShare,
        tokenizer,
        prompts: cfg.data.prompts.map((prompt) => ({ prompt })),
        peftConfig: cfg.peft,
        config: { ...config, ...cfg.settings, ...run },
      });
    const times = await trainerStepTimes(make, timeRollouts);
    return {
      times,
      ...held,
      rolloutTimes: rollouts.slice(1 + cfg.warmup),
      meanCompletionLength: lengths.reduce((a, b) => a + b, 0) / Math.max(lengths.length, 1),
    };
  },

  // scripts/bench-generate.mjs's jsSide, and bench-realsize's generation rows: the given prompts of a
  // checkpoint (w.prompts), sampled at temperature 1 for exactly w.newTokens tokens (no EOS), with
  // w.numReturnSequences samples of each prompt. Where GPT.generate does not take numReturnSequences
  // (its first, untimed call returns one row per prompt), the prompts are repeated instead: the same
  // sampling work, said in the output (`samples`).
  async generate() {
    const w = cfg.gen;
    torch.manualSeed(0);
    const { model } = cfg.model ? await modelAndTokenizer() : { model: GPT.create(cfg.size) };
    model.eval();
    let prompts =
      w.prompts ??
      Array.from({ length: w.batch }, () => Array.from({ length: w.promptLen }, () => Math.floor(Math.random() * cfg.size.vocabSize)));
    const n = w.numReturnSequences ?? 1;
    if (n > 1 && cfg.warmup < 1)
      throw new Error('generate: numReturnSequences needs a warm-up call (it tells whether GPT.generate takes it)');
    let samples = n > 1 ? 'numReturnSequences' : 'one per prompt';
    let r = 0;
    let shape;
    const times = await timed(
      async () => {
        const options = { maxNewTokens: w.newTokens, useCache: cfg.useCache ?? true, seed: r++ };
        const out = await model.generate(prompts, samples === 'numReturnSequences' ? { ...options, numReturnSequences: n } : options);
        shape = out.tokens.shape;
        torch.dispose(out);
        if (samples === 'numReturnSequences' && shape[0] !== prompts.length * n) {
          if (r > 1) throw new Error(`generate: ${shape[0]} rows for ${prompts.length} prompts × ${n}`);
          prompts = prompts.flatMap((p) => Array.from({ length: n }, () => p));
          samples = 'repeated prompts';
        }
      },
      cfg.warmup,
      cfg.repeats,
    );
    return { times, outShape: shape, samples };
  },
};

const out = await tasks[cfg.task]();
out.maxRssKiB = process.resourceUsage().maxRSS; // KiB
out.threads = torch.getNumThreads();
console.log(JSON.stringify(out));
