// Records in code: the trainers take TRL's plain row shapes (the same ones the JSONL files hold)
// through the same parsers, with `index N: field …` errors; empty answers are accepted and
// counted; a GPT passed as PPO's model gets an error that says what is expected; an unknown
// config field gets a "did you mean".
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import {
  ByteTokenizer,
  GPT,
  RewardModel,
  SFTTrainer,
  RewardTrainer,
  DPOTrainer,
  GRPOTrainer,
  PPOTrainer,
  type ActorCritic,
  hasEmptyAnswer,
  parseSFTRecords,
  parsePreferencePairRecords,
  parsePromptRecords,
  type SFTRecord,
  type PreferenceRecord,
  type PreferencePairRecord,
  type RewardFunction,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('records');
const tok = new ByteTokenizer();
const small = { vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 };
const config = (name: string) => ({ outputDir: join(tmp, name), maxSteps: 1, batchSize: 2, progressBar: false, evalFraction: 0 });
const user = (content: string) => ({ role: 'user' as const, content });
const assistant = (content: string) => ({ role: 'assistant' as const, content });

describe('records in code', () => {
  it('SFT takes {prompt, completion} and {messages} rows, empty completions included, and trains', async () => {
    const rows: SFTRecord[] = [
      { prompt: 'Q:', completion: ' A' },
      { messages: [user('Hi'), assistant('Yo')] },
      { prompt: 'Stop:', completion: '' },
    ];
    const model = GPT.create(small);
    const t = new SFTTrainer({ model, tokenizer: tok, config: config('sft'), trainDataset: rows });
    const r = await t.train();
    expect(r.globalStep).toBe(1);
    t.dispose();
    model.dispose();
  });

  it('the reward model and DPO take {prompt, chosen, rejected} rows', async () => {
    const pairs: PreferenceRecord[] = [
      { prompt: 'Q:', chosen: ' good', rejected: ' bad' },
      { prompt: 'R:', completions: [' a', ' b', ''] },
    ];
    const rm = new RewardModel(small);
    const rt = new RewardTrainer({ model: rm, tokenizer: tok, config: config('rm'), trainDataset: pairs });
    expect((await rt.train()).globalStep).toBe(1);
    rt.dispose();
    rm.dispose();
    const dpoRows: PreferencePairRecord[] = [
      { prompt: 'Q:', chosen: ' good', rejected: '' },
      { prompt: [user('Hi')], chosen: [assistant('Yo')], rejected: [assistant('No')] },
      { chosen: [user('Hi'), assistant('Yo')], rejected: [user('Hi'), assistant('')] },
    ];
    const policy = GPT.create(small);
    const dt = new DPOTrainer({ model: policy, tokenizer: tok, config: config('dpo'), trainDataset: dpoRows });
    expect((await dt.train()).globalStep).toBe(1);
    dt.dispose();
    policy.dispose();
  });

  it('online trainers take {prompt, ...columns} rows; the columns reach reward functions', async () => {
    const seen: unknown[] = [];
    const reward: RewardFunction = ({ completions, answer }) => {
      seen.push(...(answer as unknown[]));
      return completions.map(() => 1);
    };
    const model = GPT.create(small);
    const t = new GRPOTrainer({
      model,
      tokenizer: tok,
      rewards: reward,
      prompts: [
        { prompt: 'What is 1+1?', answer: 2 },
        { prompt: 'What is 2+2?', answer: 4 },
      ],
      config: {
        outputDir: join(tmp, 'grpo'),
        maxSteps: 1,
        progressBar: false,
        batchSize: 4,
        numGenerations: 2,
        maxCompletionLength: 4,
        sampleEvery: 0,
      },
    });
    await t.train();
    expect(new Set(seen)).toEqual(new Set([2, 4]));
    t.dispose();
    model.dispose();
  });

  it('a bad record in code fails with the option, index N and the field, as a file line does with file:line', () => {
    const model = GPT.create(small);
    const bad = (trainDataset: unknown) => () =>
      new SFTTrainer({ model, tokenizer: tok, config: config('bad'), trainDataset: trainDataset as SFTRecord[] });
    expect(bad([{ prompt: 'Q', completion: 'A' }, { prompt: 'Q' }])).toThrow(
      "SFTTrainer trainDataset: index 1: field 'completion' must be a string (missing)",
    );
    expect(bad([{ messages: 'Hi' }])).toThrow(
      "SFTTrainer trainDataset: index 0: field 'messages' must be a non-empty array of {role, content} (got string)",
    );
    expect(bad('rows')).toThrow('SFTTrainer trainDataset: expected an array of records (got string)');
    expect(
      () =>
        new DPOTrainer({
          model,
          tokenizer: tok,
          config: config('bad'),
          trainDataset: [{ prompt: 'Q', chosen: 'a' } as unknown as PreferencePairRecord],
        }),
    ).toThrow("DPOTrainer trainDataset: index 0: field 'rejected' must be a string (missing)");
    expect(() => parsePromptRecords([{ prompt: '' }], 'prompts')).toThrow(
      "prompts: index 0: field 'prompt' must be a non-empty string (got an empty string)",
    );
    model.dispose();
  });

  it('loaded examples pass through the same parsers unchanged', () => {
    const sft = parseSFTRecords([{ kind: 'messages', messages: [user('a'), assistant('b')] }], 'x');
    expect(parseSFTRecords(sft, 'x')).toEqual(sft);
    const pairs = parsePreferencePairRecords([{ prompt: [user('Hi')], chosen: [assistant('Yo')], rejected: [assistant('No')] }], 'x');
    expect(parsePreferencePairRecords(pairs, 'x')).toEqual(pairs);
    const prompts = parsePromptRecords([{ prompt: 'p', answer: 3 }], 'x');
    expect(prompts).toEqual([{ prompt: 'p', columns: { answer: 3 } }]);
    expect(parsePromptRecords(prompts, 'x')).toEqual(prompts);
  });

  it('empty answers are flagged for the summaries', () => {
    expect(
      parseSFTRecords(
        [
          { prompt: 'a', completion: ' ' },
          { prompt: 'a', completion: 'b' },
        ],
        'x',
      ).map(hasEmptyAnswer),
    ).toEqual([true, false]);
    expect(
      parsePreferencePairRecords([{ chosen: [user('Hi'), assistant('')], rejected: [user('Hi'), assistant('x')] }], 'x').map(
        hasEmptyAnswer,
      ),
    ).toEqual([true]);
  });

  it('an unknown config field says what was meant (output_dir → outputDir)', () => {
    const model = GPT.create(small);
    const mk = (extra: Record<string, unknown>) => () =>
      new SFTTrainer({ model, tokenizer: tok, config: { ...config('cfg'), ...extra }, trainDataset: [{ prompt: 'Q', completion: 'A' }] });
    expect(mk({ output_dir: 'x' })).toThrow("SFTConfig: unknown field 'output_dir' (did you mean 'outputDir'?)");
    expect(mk({ learningRat: 1e-3 })).toThrow("SFTConfig: unknown field 'learningRat' (did you mean 'learningRate'?)");
    expect(mk({ klCoef: 1 })).toThrow(/^SFTConfig: unknown field 'klCoef'$/);
    // TRL's names for what is spelt otherwise here point to our field.
    expect(mk({ bf16: true })).toThrow(
      /^SFTConfig: unknown field 'bf16' \(TRL's bf16: write mixedPrecision: 'bf16' \(autocast in bfloat16/,
    );
    for (const name of ['assistantOnlyLoss', 'assistant_only_loss'])
      expect(mk({ [name]: true })).toThrow(
        new RegExp(`^SFTConfig: unknown field '${name}' \\(TRL's ${name}: write completionOnlyLoss: true \\(the default\\)`),
      );
    expect(mk({ per_device_train_batch_size: 8 })).toThrow(/TRL's per_device_train_batch_size: write batchSize/);
    model.dispose();
  });

  it('a vocabulary mismatch says how to grow the embedding (resizeTokenEmbeddings)', () => {
    const model = GPT.create({ ...small, vocabSize: 100 });
    expect(
      () => new SFTTrainer({ model, tokenizer: tok, config: config('vocab'), trainDataset: [{ prompt: 'Q', completion: 'A' }] }),
    ).toThrow(
      `SFTTrainer: the tokenizer has ${tok.vocabSize} ids but the model's embedding only 100 (grow it first: ` +
        'model.resizeTokenEmbeddings(tokenizer.vocabSize)',
    );
    model.resizeTokenEmbeddings(tok.vocabSize);
    expect(() =>
      new SFTTrainer({ model, tokenizer: tok, config: config('vocab'), trainDataset: [{ prompt: 'Q', completion: 'A' }] }).dispose(),
    ).not.toThrow();
    model.dispose();
  });

  it('a GPT passed as the PPO model says that an ActorCritic is expected', () => {
    const gpt = GPT.create(small);
    expect(
      () =>
        new PPOTrainer({
          model: gpt as unknown as ActorCritic,
          refModel: gpt,
          rewardFn: (ps) => ps.map(() => 0),
          tokenizer: tok,
          prompts: [{ prompt: 'p' }],
          config: config('ppo'),
        }),
    ).toThrow(
      "PPOTrainer: 'model' must be an ActorCritic (the policy with a value head), got a GPT (load the policy with " +
        'ActorCritic.fromTrunk(dir), which adds the value head)',
    );
    gpt.dispose();
  });
});
