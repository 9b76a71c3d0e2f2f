// The InstructGPT pipeline in code: SFT on demonstrations, a reward model on rankings, then PPO
// against that reward model with a KL penalty to the SFT policy — the three stages of
// `rlhf sft`, `rlhf rm` and `rlhf ppo`, on the bundled arithmetic task (data/arith/).
//
//   npx tsc -p examples && node examples/dist/sft-rm-ppo.js          (TINY=1 for a seconds-long run)
import { join } from 'node:path';
import {
  ActorCritic,
  ByteTokenizer,
  GPT,
  PPOTrainer,
  RewardModel,
  RewardTrainer,
  SFTTrainer,
  generateText,
  loadPreferenceDataset,
  loadPromptDataset,
  loadSFTDataset,
  scoreTexts,
} from 'torch-rlhf';

const tiny = process.env.TINY === '1';
const out = process.env.OUT ?? 'runs/example-sft-rm-ppo';
// The task's files ship with the package: data/arith/ beside its dist/.
const data = new URL('../data/arith/', import.meta.resolve('torch-rlhf')).pathname;

// 1. SFT: a small byte-level GPT learns to answer from demonstrations ({prompt, completion} rows).
const tokenizer = new ByteTokenizer();
const demos = (await loadSFTDataset(join(data, 'sft.jsonl'))).examples.slice(0, tiny ? 64 : 4000);
const model = GPT.create({ vocabSize: tokenizer.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: tiny ? 32 : 128 });
const sft = new SFTTrainer({
  model,
  tokenizer,
  trainDataset: demos,
  config: { outputDir: join(out, 'sft'), learningRate: 1e-3, numTrainEpochs: tiny ? 1 : 8, batchSize: 32, progressBar: !tiny },
});
console.log('sft', (await sft.train()).metrics);
sft.dispose();
model.dispose();

// 2. The reward model: the SFT trunk with a scalar head, trained on {prompt, chosen, rejected} pairs.
const rm = await RewardModel.fromTrunk(join(out, 'sft'));
const prefs = (await loadPreferenceDataset(join(data, 'prefs.jsonl'))).examples.slice(0, tiny ? 32 : 1000);
const rmTrainer = new RewardTrainer({
  model: rm,
  tokenizer,
  trainDataset: prefs,
  config: { outputDir: join(out, 'rm'), learningRate: 1e-4, batchSize: 16, maxSteps: tiny ? 2 : -1, progressBar: !tiny },
});
console.log('rm', (await rmTrainer.train()).metrics);
rmTrainer.dispose();

// 3. PPO: the SFT policy with a value head, the frozen SFT model as the KL reference, the RM as the reward.
const policy = await ActorCritic.fromTrunk(join(out, 'sft'));
const ref = await GPT.load(join(out, 'sft'));
const prompts = (await loadPromptDataset(join(data, 'prompts.jsonl'))).examples.slice(0, tiny ? 16 : 1000);
const ppo = new PPOTrainer({
  model: policy,
  refModel: ref,
  rewardModel: rm,
  tokenizer,
  prompts,
  config: {
    outputDir: join(out, 'ppo'),
    numIterations: tiny ? 2 : 50,
    batchSize: 16,
    miniBatchSize: 8,
    maxNewTokens: 8,
    klCoef: 0.05,
    progressBar: !tiny,
  },
});
console.log('ppo', (await ppo.train()).metrics['objective/scores']);
ppo.dispose();

// The trained policy, text in and text out, and the reward model's view of its answers.
const trained = await GPT.load(join(out, 'ppo'));
const questions = ['What is 12+30? Answer as n', 'What is 9-4? Answer as n'];
const answers = await generateText(trained, tokenizer, questions, { maxNewTokens: 6, greedy: true });
console.log(answers.map((a, i) => `${questions[i]} →${a}`).join('\n'));
console.log('scores', scoreTexts(rm, tokenizer, questions, answers));
for (const m of [trained, policy, ref, rm]) m.dispose();
