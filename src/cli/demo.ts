// `rlhf demo`: the three stages on the bundled task with a small model, then a before/after
// comparison judged by the simulated labeler on held-out prompts.
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPreferenceDataset, loadPromptDataset, loadSFTDataset } from '../data/datasets.js';
import { labelerScore, describeLabeler } from '../demo/labeler.js';
import { ActorCritic } from '../models/actor-critic.js';
import { GPT, type GPTConfig } from '../models/gpt.js';
import { RewardModel } from '../models/reward-model.js';
import { packageRoot } from '../native.js';
import { dispose, tidy } from '../tensor/scope.js';
import { cat } from '../tensor/join.js';
import { getNumThreads, manualSeed, noGrad } from '../tensor/runtime.js';
import { ByteTokenizer } from '../tokenizers/byte-tokenizer.js';
import { promptText } from '../tokenizers/prompt.js';
import { PPOTrainer } from '../trainers/ppo.js';
import type { PPOConfig } from '../trainers/ppo-config.js';
import { RewardTrainer } from '../trainers/reward.js';
import type { RewardConfig } from '../trainers/reward-config.js';
import { SFTTrainer } from '../trainers/sft.js';
import type { SFTConfig } from '../trainers/sft-config.js';
import { pickDevice, type TrainResult } from '../trainers/trainer.js';
import type { SFTExample } from '../data/formats.js';
import type { Device } from '../tensor/types.js';

export interface DemoOptions {
  quick?: boolean;
  device?: Device | 'auto';
  out?: string;
  seed?: number;
  progressBar?: boolean;
  log?: (line: string) => void;
}

export interface DemoResult {
  /** The labeler's mean score of each policy's answers to the held-out prompts. */
  sftScore: number;
  ppoScore: number;
  /** The reward model's mean score of the same answers (the proxy PPO optimises). */
  sftReward: number;
  ppoReward: number;
  winRate: number;
  rmAccuracy: number;
  finalKl: number;
  seconds: { sft: number; rm: number; ppo: number; total: number };
  outputDir: string;
}

/** The demo's model and budgets: small enough for a 2-core CPU in a few minutes. */
export function demoPlan(quick: boolean) {
  const model: Partial<GPTConfig> = quick
    ? { blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 96 }
    : { blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 };
  const sft: Partial<SFTConfig> = {
    learningRate: 2e-3,
    numTrainEpochs: quick ? 20 : 24,
    batchSize: 32,
    warmupSteps: 10,
    lrSchedulerType: 'cosine',
    loggingSteps: 5,
    evalFraction: 0.05,
  };
  const rm: Partial<RewardConfig> = {
    learningRate: 5e-4,
    numTrainEpochs: 2,
    batchSize: 16,
    warmupSteps: 5,
    loggingSteps: 5,
    evalFraction: 0.1,
  };
  // Conservative PPO: the reward model is a small, imperfect proxy, and a policy pushed far
  // from the SFT model finds its blind spots (reward hacking). The missing-EOS penalty is in
  // reward-model units (scores are normalised to mean 0 on the demonstrations, spread ~2).
  // The quick run's smaller reward model is easier to game: a stronger KL penalty holds it.
  const ppo: Partial<PPOConfig> = {
    numIterations: quick ? 40 : 100,
    batchSize: 32,
    miniBatchSize: 16,
    ppoEpochs: 4,
    learningRate: 3e-5,
    maxNewTokens: 24,
    temperature: 0.7,
    klCoef: quick ? 0.2 : 0.1,
    missingEosPenalty: 5,
    sampleEvery: 5,
    loggingSteps: 1,
  };
  return { model, sft, rm, ppo, evalSamples: 3 };
}

/** A policy's answers to prompts (temperature 0.7, fixed seeds), scored by the labeler and the reward model. */
async function judge(
  policy: GPT,
  reward: RewardModel,
  tok: ByteTokenizer,
  prompts: string[],
  samples: number,
): Promise<{ answers: string[]; scores: number[]; rewards: number[] }> {
  const ids = prompts.map((p) => tok.encode(p, { addSpecialTokens: true }));
  const answers: string[] = [];
  const scores: number[] = new Array(prompts.length).fill(0);
  const rewards: number[] = new Array(prompts.length).fill(0);
  for (let s = 0; s < samples; s++) {
    const out = await policy.generate(ids, {
      maxNewTokens: 24,
      temperature: 0.7,
      eosTokenId: tok.eosTokenId,
      padTokenId: tok.padTokenId,
      seed: 1000 + s,
    });
    const r = tidy(
      () =>
        noGrad(() =>
          reward.rewards(
            cat([out.promptIds, out.tokens.where(out.responseMask, tok.eosTokenId)], 1),
            cat([out.promptMask, out.responseMask], 1),
            { path: 'native' },
          ),
        ).tolist() as number[],
    );
    out.sequences.forEach((seq, i) => {
      const a = tok.decode(seq, { skipSpecialTokens: true });
      if (s === 0) answers.push(a);
      scores[i]! += labelerScore(prompts[i]!, a) / samples;
      rewards[i]! += r[i]! / samples;
    });
    dispose(out);
  }
  return { answers, scores, rewards };
}

/** A demo's settings with their defaults, and its run directory made empty (`name` names the default one in the working directory). */
export function startDemoRun(o: DemoOptions, name: string) {
  const quick = o.quick ?? false;
  const out = o.out ?? join(process.cwd(), quick ? `${name}-quick` : name);
  if (existsSync(out)) rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  return {
    log: o.log ?? ((l: string) => console.log(l)),
    quick,
    device: pickDevice(o.device ?? 'auto'),
    out,
    seed: o.seed ?? 1234,
    progressBar: o.progressBar ?? true,
  };
}

/** A demo's run: its settings with their defaults and its log (startDemoRun's result). */
export type DemoRun = ReturnType<typeof startDemoRun>;

/** Prints where a demo runs (device, threads, run directory) and seeds it; returns the start time. */
export function announceDemoRun(run: DemoRun): number {
  run.log(`device ${run.device}, ${getNumThreads()} thread(s); output in ${run.out}`);
  const t0 = performance.now();
  manualSeed(run.seed);
  return t0;
}

/** Stage 1 of every demo: a new GPT of the plan's size, fine-tuned on the demonstrations into <out>/sft. */
export async function trainDemoSFT(
  run: DemoRun,
  plan: { model: Partial<GPTConfig>; sft: Partial<SFTConfig> },
  examples: SFTExample[],
  tok: ByteTokenizer,
): Promise<{ model: GPT; result: TrainResult }> {
  const model = GPT.create({ vocabSize: tok.vocabSize, ...plan.model });
  const { seed, device, progressBar } = run;
  const sft = new SFTTrainer({
    model,
    tokenizer: tok,
    trainDataset: examples,
    config: { ...plan.sft, outputDir: join(run.out, 'sft'), seed, device, progressBar },
  });
  const result = await sft.train();
  sft.dispose();
  return { model, result };
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const run = startDemoRun(o, 'rlhf-demo');
  const { log, quick, device, out, seed, progressBar } = run;
  const plan = demoPlan(quick);
  const data = join(packageRoot, 'data', 'demo');
  const [sftData, prefs, prompts, evalPrompts] = await Promise.all([
    loadSFTDataset(join(data, 'sft.jsonl')),
    loadPreferenceDataset(join(data, 'preferences.jsonl')),
    loadPromptDataset(join(data, 'prompts.jsonl')),
    loadPromptDataset(join(data, 'eval_prompts.jsonl')),
  ]);
  const tok = new ByteTokenizer();
  log(`torch-rlhf demo${quick ? ' (quick)' : ''}: SFT → reward model → PPO on a task judged by a simulated labeler`);
  log(`The labeler: ${describeLabeler()}`);
  const t0 = announceDemoRun(run);

  // 1. SFT on demonstrations of mixed quality.
  log(`\n[1/3] SFT on ${sftData.examples.length} demonstrations`);
  const { model: gpt, result: sftRes } = await trainDemoSFT(run, plan, sftData.examples, tok);
  gpt.dispose();
  const t1 = performance.now();
  log(`      eval loss ${sftRes.metrics['eval/loss']?.toFixed(3)}, ${((t1 - t0) / 1000).toFixed(1)} s`);

  // 2. The reward model on the labeler's rankings.
  log(`[2/3] reward model on ${prefs.examples.length} rankings of ${prefs.examples[0]?.completions.length} answers`);
  const rm = await RewardModel.fromTrunk(join(out, 'sft'), { device });
  const rmTrainer = new RewardTrainer({
    model: rm,
    tokenizer: tok,
    trainDataset: prefs.examples,
    normalizationDataset: sftData.examples,
    config: { ...plan.rm, outputDir: join(out, 'rm'), seed, device, progressBar },
  });
  const rmRes = await rmTrainer.train();
  rmTrainer.dispose();
  rm.dispose();
  const t2 = performance.now();
  const rmAccuracy = rmRes.metrics['eval/accuracy'] ?? Number.NaN;
  log(`      held-out accuracy ${(rmAccuracy * 100).toFixed(1)} %, ${((t2 - t1) / 1000).toFixed(1)} s`);

  // 3. PPO against the reward model, KL-penalised towards the SFT policy.
  log(`[3/3] PPO on ${prompts.examples.length} prompts`);
  const policy = await ActorCritic.fromTrunk(join(out, 'sft'), { device });
  const ref = await GPT.load(join(out, 'sft'), { device });
  const reward = await RewardModel.load(join(out, 'rm'), { device });
  const ppo = new PPOTrainer({
    model: policy,
    refModel: ref,
    rewardModel: reward,
    tokenizer: tok,
    prompts: prompts.examples,
    config: { ...plan.ppo, outputDir: join(out, 'ppo'), seed, device, progressBar },
  });
  const ppoRes = await ppo.train();
  ppo.dispose();
  const t3 = performance.now();
  log(
    `      reward ${ppo.history[0]?.['objective/scores']?.toFixed(3)} → ${ppoRes.metrics['objective/scores']?.toFixed(3)}, ` +
      `${((t3 - t2) / 1000).toFixed(1)} s`,
  );

  // Before/after on held-out prompts, judged by the labeler.
  const texts = evalPrompts.examples.map((p) => promptText(tok, p.prompt));
  policy.eval();
  const before = await judge(ref, reward, tok, texts, plan.evalSamples);
  const after = await judge(policy, reward, tok, texts, plan.evalSamples);
  policy.dispose();
  ref.dispose();
  reward.dispose();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const wins = after.scores.map((s, i) => (s > before.scores[i]! + 1e-9 ? 1 : Math.abs(s - before.scores[i]!) <= 1e-9 ? 0.5 : 0));
  const result: DemoResult = {
    sftScore: mean(before.scores),
    ppoScore: mean(after.scores),
    winRate: mean(wins),
    rmAccuracy,
    sftReward: mean(before.rewards),
    ppoReward: mean(after.rewards),
    finalKl: ppoRes.metrics['objective/kl'] ?? Number.NaN,
    seconds: { sft: (t1 - t0) / 1000, rm: (t2 - t1) / 1000, ppo: (t3 - t2) / 1000, total: (performance.now() - t0) / 1000 },
    outputDir: out,
  };
  for (let i = 0; i < texts.length; i++)
    appendFileSync(
      join(out, 'comparison.jsonl'),
      `${JSON.stringify({
        prompt: texts[i],
        sft: before.answers[i],
        ppo: after.answers[i],
        sftScore: before.scores[i],
        ppoScore: after.scores[i],
      })}\n`,
    );
  writeFileSync(join(out, 'summary.json'), `${JSON.stringify(result, null, 2)}\n`);
  printTable(result, texts, before, after, log);
  return result;
}

function printTable(
  r: DemoResult,
  prompts: string[],
  before: { answers: string[]; scores: number[] },
  after: { answers: string[]; scores: number[] },
  log: (l: string) => void,
): void {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const rel =
    r.sftScore > 0 ? ` (${r.ppoScore >= r.sftScore ? '+' : ''}${(((r.ppoScore - r.sftScore) / r.sftScore) * 100).toFixed(0)} %)` : '';
  log('\n                                   SFT policy    PPO policy');
  log(`  labeler's mean score (held out)   ${r.sftScore.toFixed(3).padStart(10)}    ${r.ppoScore.toFixed(3).padStart(10)}${rel}`);
  log(`  reward model's mean score          ${r.sftReward.toFixed(3).padStart(10)}    ${r.ppoReward.toFixed(3).padStart(10)}`);
  log(`  win rate of PPO over SFT                         ${pct(r.winRate).padStart(10)}`);
  log(`  reward model held-out accuracy    ${pct(r.rmAccuracy).padStart(10)}`);
  log(`  final KL(PPO ‖ SFT) per answer                   ${r.finalKl.toFixed(3).padStart(10)}`);
  log('\n  prompt          SFT answer                    PPO answer');
  const show = (s: string) => JSON.stringify(s).slice(0, 28).padEnd(29);
  for (let i = 0; i < Math.min(6, prompts.length); i++)
    log(
      `  ${prompts[i]!.padEnd(15)} ${show(before.answers[i]!)} ${show(after.answers[i]!)}  ${before.scores[i]!.toFixed(2)} → ` +
        `${after.scores[i]!.toFixed(2)}`,
    );
  log(
    `\n  PPO ${r.ppoScore > r.sftScore ? 'improved' : 'did not improve'} the labeler's score by ` +
      `${(r.ppoScore - r.sftScore).toFixed(3)}; ${r.seconds.total.toFixed(0)} s in all (SFT ${r.seconds.sft.toFixed(0)} s, RM ` +
      `${r.seconds.rm.toFixed(0)} s, PPO ${r.seconds.ppo.toFixed(0)} s).`,
  );
  log(`  Report: rlhf report ${r.outputDir}`);
}
