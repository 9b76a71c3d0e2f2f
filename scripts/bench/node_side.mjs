// The torch-rlhf side of scripts/bench.mjs: one measurement in a fresh Node process (so its
// peak RSS is that measurement's). Reads one JSON task from stdin, prints one JSON line:
// {"times": [...], ..., "maxRssKiB": n}. Mirrors scripts/bench/train_reference.py.
//   echo '{"task": "sft", ...}' | node scripts/bench/node_side.mjs
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ActorCritic, AdamW, ByteTokenizer, GPT, PPOTrainer, RewardModel, collateRankings, collateSequences, languageModelLoss, rankingLoss, torch,
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
  const decay = [], noDecay = [];
  for (const [name, p] of model.namedParameters()) if (p.requiresGrad) (isNoDecay(name) ? noDecay : decay).push(p);
  const groups = [{ params: decay, weightDecay: 0 }, { params: noDecay, weightDecay: 0 }].filter((g) => g.params.length > 0);
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
    const a = torch.randn([cfg.matmul.n, cfg.matmul.n]), b = torch.randn([cfg.matmul.n, cfg.matmul.n]);
    return { times, matmulTimes: await timed(() => a.matmul(b).dispose(), cfg.matmul.warmup, cfg.matmul.repeats) };
  },

  async rm() {
    torch.manualSeed(0);
    const model = new RewardModel(cfg.size).train();
    const opt = adamw(model, 1e-5);
    const batch = collateRankings(cfg.data.pairs.map((p) => ({ sequences: p })), cfg.data.pad, 'cpu');
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
      model, refModel, rewardModel, tokenizer: new ByteTokenizer(), prompts: cfg.data.prompts.map((prompt) => ({ prompt })),
      config: { ...c, outputDir: join(tmpdir(), 'torch-rlhf-bench-ppo'), microBatchSize: c.miniBatchSize, device: 'cpu', progressBar: false, sampleEvery: 0 },
    });
    const times = [], rolloutTimes = [];
    for (let it = 0; it < cfg.warmup + cfg.repeats; it++) {
      const t0 = performance.now();
      const r = await trainer.rollout();
      const t1 = performance.now();
      trainer['update'](r); // private in TypeScript; the step PPOTrainer.train() runs after rollout()
      const t2 = performance.now();
      torch.dispose(r);
      trainer.iteration++;
      if (it >= cfg.warmup) {
        times.push((t2 - t0) / 1000);
        rolloutTimes.push((t1 - t0) / 1000);
      }
    }
    return { times, rolloutTimes };
  },

  // scripts/bench-generate.mjs's jsSide.
  async generate() {
    const w = cfg.gen;
    torch.manualSeed(0);
    const model = GPT.create(cfg.size).eval();
    const prompts = Array.from({ length: w.batch }, () => Array.from({ length: w.promptLen }, () => Math.floor(Math.random() * cfg.size.vocabSize)));
    let r = 0;
    const times = await timed(async () => torch.dispose(await model.generate(prompts, { maxNewTokens: w.newTokens, useCache: cfg.useCache, seed: r++ })), cfg.warmup, cfg.repeats);
    return { times };
  },
};

const out = await tasks[cfg.task]();
out.maxRssKiB = process.resourceUsage().maxRSS; // KiB
out.threads = torch.getNumThreads();
console.log(JSON.stringify(out));
