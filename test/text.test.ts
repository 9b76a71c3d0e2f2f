// The text-level helpers: generateText (strings in, strings out, with BOS, stop ids, pad and
// disposal done), scoreTexts (reward-model scores of prompt/completion texts) and textLogprobs
// (log p(completion + EOS | prompt), against transformers' own on the llama-tiny fixture); the
// default generation lengths fit small models (the CLI's and PPO's / GRPO's).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  torch,
  GPT,
  ByteTokenizer,
  RewardModel,
  loadTokenizer,
  generateText,
  scoreTexts,
  textLogprobs,
  resolvePPOConfig,
  resolveGRPOConfig,
  resolveRLOOConfig,
} from '../src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/llama-tiny', import.meta.url));
const tok = new ByteTokenizer();

describe('text-level helpers', () => {
  it('textLogprobs matches transformers on the llama-tiny fixture (empty completion included)', async () => {
    const golden = JSON.parse(readFileSync(`${fixture}/text-golden.json`, 'utf8')) as {
      cases: { prompt: string; completion: string; tokens: number[]; logprob: number }[];
    };
    const model = await GPT.load(fixture);
    const tokenizer = await loadTokenizer(fixture);
    const before = torch.memory().tensors;
    const got = textLogprobs(
      model,
      tokenizer,
      golden.cases.map((c) => c.prompt),
      golden.cases.map((c) => c.completion),
      { batchSize: 3 },
    );
    expect(torch.memory().tensors).toBe(before);
    golden.cases.forEach((c, i) => {
      expect(got[i]!.tokens.length).toBe(c.tokens.length);
      got[i]!.tokens.forEach((x, j) => expect(Math.abs(x - c.tokens[j]!)).toBeLessThan(1e-4));
      expect(Math.abs(got[i]!.logprob - c.logprob)).toBeLessThan(1e-3);
    });
    model.dispose();
  });

  it('generateText answers as generate + decode would, frees what it makes, and checks its input', async () => {
    torch.manualSeed(3);
    const model = GPT.create({ vocabSize: tok.vocabSize, blockSize: 24, nLayer: 1, nHead: 2, nEmbd: 16 });
    const before = torch.memory().tensors;
    const texts = await generateText(model, tok, ['Hi', 'Hello there'], { greedy: true, maxNewTokens: 6, batchSize: 1 });
    expect(torch.memory().tensors).toBe(before);
    const out = await model.generate(
      [tok.encode('Hi', { addSpecialTokens: true }), tok.encode('Hello there', { addSpecialTokens: true })],
      {
        greedy: true,
        maxNewTokens: 6,
        eosTokenId: tok.stopTokenIds,
        padTokenId: tok.padTokenId,
      },
    );
    expect(texts).toEqual(out.sequences.map((s) => tok.decode(s, { skipSpecialTokens: true })));
    torch.dispose(out);
    // The default length fits the model's 24 positions (64 would not).
    expect((await generateText(model, tok, ['x'], { seed: 1, temperature: undefined })).length).toBe(1);
    await expect(generateText(model, tok, ['x'], { maxNewTokens: 24 })).rejects.toThrow(
      "maxNewTokens 24 leaves no room for a prompt in the model's 24 positions (use at most 23)",
    );
    await expect(generateText(model, tok, ['x', 3 as unknown as string])).rejects.toThrow(
      'generateText: prompt 1 must be a string or a conversation (an array of {role, content}), got number',
    );
    model.dispose();
  });

  it('scoreTexts scores each completion as the reward model scores the unpadded sequence', () => {
    torch.manualSeed(4);
    const rm = new RewardModel({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16 });
    const prompts = ['Q:', 'A longer question:', 'Q:'];
    const completions = [' yes', '', ' a much longer answer'];
    const before = torch.memory().tensors;
    const scores = scoreTexts(rm, tok, prompts, completions, { batchSize: 2 });
    expect(torch.memory().tensors).toBe(before);
    const one = (p: string, c: string) =>
      torch.tidy(() =>
        torch.noGrad(() =>
          rm
            .rewards(torch.tensor([[...tok.encode(p, { addSpecialTokens: true }), ...tok.encode(c), tok.eosTokenId]], { dtype: 'int64' }))
            .item(),
        ),
      );
    scores.forEach((s, i) => expect(Math.abs(s - one(prompts[i]!, completions[i]!))).toBeLessThan(1e-5));
    expect(() => scoreTexts(rm, tok, ['a'], [])).toThrow('scoreTexts: 1 prompts but 0 completions');
    rm.dispose();
  });

  it("the online trainers' default lengths fit a small model; an explicit one is kept and checked", () => {
    expect(resolvePPOConfig({ outputDir: 'x' }, 32).maxNewTokens).toBe(16);
    expect(resolvePPOConfig({ outputDir: 'x' }, 1024).maxNewTokens).toBe(53);
    expect(resolveGRPOConfig({ outputDir: 'x' }, 32).maxCompletionLength).toBe(16);
    expect(resolveRLOOConfig({ outputDir: 'x' }, 64).maxPromptLength).toBe(32);
    expect(() => resolvePPOConfig({ outputDir: 'x', maxNewTokens: 53 }, 32)).toThrow(/exceed the model's blockSize \(32\)/);
  });
});
