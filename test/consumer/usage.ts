// What a user of the package writes (the guide's calls), type-checked by test/types.test.ts under
// strict, exactOptionalPropertyTypes and noUncheckedIndexedAccess. Not run: it only has to check.
import {
  ActorCritic,
  ByteTokenizer,
  DPOTrainer,
  GPT,
  GPT2Tokenizer,
  GRPOTrainer,
  PPOTrainer,
  RewardModel,
  RewardTrainer,
  RLOOTrainer,
  SFTTrainer,
  exactMatch,
  generateText,
  loadSFTDataset,
  loadTokenizer,
  scoreTexts,
  textLogprobs,
  torch,
  type PreferencePairRecord,
  type PreferenceRecord,
  type PromptRecord,
  type RewardFunction,
  type SFTRecord,
  type Tokenizer,
  type TrainerCallback,
} from 'torch-rlhf';

export async function usage(dir: string, maybeEval: SFTRecord[] | undefined): Promise<void> {
  const gpt2: Tokenizer = await GPT2Tokenizer.fromDir(dir);
  const tok: Tokenizer = (await loadTokenizer(dir)) ?? new ByteTokenizer();
  const model = GPT.create({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 32 });

  const sftRows: SFTRecord[] = [
    { prompt: 'Q:', completion: ' A' },
    {
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Yo' },
      ],
    },
  ];
  const sft = new SFTTrainer({
    model,
    tokenizer: tok,
    trainDataset: sftRows,
    evalDataset: maybeEval,
    config: { outputDir: 'runs/sft', numTrainEpochs: 1 },
  });
  const result = await sft.train();
  const steps: number = result.globalStep;
  const loaded = await loadSFTDataset('sft.jsonl');
  new SFTTrainer({ model, tokenizer: gpt2, trainDataset: loaded.examples, config: { outputDir: 'runs/sft2' } });

  const prefs: PreferenceRecord[] = [
    { prompt: 'Q:', chosen: ' good', rejected: ' bad' },
    { prompt: 'Q:', completions: [' a', ' b', ''] },
  ];
  const rm = await RewardModel.fromTrunk('runs/sft');
  await new RewardTrainer({ model: rm, tokenizer: tok, trainDataset: prefs, config: { outputDir: 'runs/rm' } }).train();

  const prompts: PromptRecord[] = [{ prompt: 'What is 2+2?', answer: '4' }];
  const policy = await ActorCritic.fromTrunk('runs/sft');
  const ref = await GPT.load('runs/sft');
  await new PPOTrainer({
    model: policy,
    refModel: ref,
    rewardModel: rm,
    tokenizer: tok,
    prompts,
    config: { outputDir: 'runs/ppo' },
  }).train();

  const pairs: PreferencePairRecord[] = [{ prompt: 'Q:', chosen: ' good', rejected: ' bad' }];
  await new DPOTrainer({ model, tokenizer: tok, trainDataset: pairs, config: { outputDir: 'runs/dpo', beta: 0.1 } }).train();

  const length: RewardFunction = ({ completions }) => completions.map((c) => -c.length);
  const stopAtOne: TrainerCallback = {
    onStep: (_state, m) => ((m.reward ?? 0) > 1 ? { shouldTrainingStop: true } : undefined),
    onLog: (state, logs) => void console.log(state.globalStep, logs.loss),
  };
  await new GRPOTrainer({
    model,
    tokenizer: tok,
    prompts,
    rewards: [exactMatch(), length],
    evalDataset: prompts,
    evalRewards: exactMatch(),
    callbacks: [stopAtOne],
    config: { outputDir: 'runs/grpo', numGenerations: 4, evalSteps: 10, reportTo: 'tensorboard' },
  }).train();
  await new RLOOTrainer({ model, tokenizer: tok, prompts, rewards: rm, config: { outputDir: 'runs/rloo' } }).train();

  const answers: string[] = await generateText(model, tok, ['Hello'], { maxNewTokens: 8, temperature: 0.7, seed: 1 });
  const first: string | undefined = answers[0];
  const scores: number[] = scoreTexts(rm, tok, ['Hello'], [first ?? '']);
  const lp: number | undefined = textLogprobs(model, tok, ['Hello'], [' there'])[0]?.logprob;
  {
    using x = torch.ones([2]);
    void x;
  }
  void steps;
  void scores;
  void lp;
}
