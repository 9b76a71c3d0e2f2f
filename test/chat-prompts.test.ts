// Chat prompts in online training and generation (issue 32): conversational prompts ({prompt:
// [{role, content}]}) in GRPO, RLOO, PPO, generateText and JSONL files, rendered with the model's
// chat template (a Qwen2 model with a ChatML template, test/fixtures/qwen2-tiny) and encoded with
// its special tokens; reward functions get TRL's conversational inputs; a text prompt holding a
// special token's text is warned about; streamed answers join to the generated ones.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ActorCritic,
  ByteTokenizer,
  GPT,
  GRPOTrainer,
  PPOTrainer,
  RLOOTrainer,
  encodeChat,
  generateText,
  generateTextStream,
  loadPromptDataset,
  loadTokenizer,
  renderChat,
  type ChatMessage,
  type GenerateOptions,
  type RewardFunction,
  type Tokenizer,
} from '../src/index.js';
import { tempDir, words } from './helpers.js';
import { rlhfIn } from './cli-helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures', import.meta.url));
const qwenDir = join(fixtures, 'qwen2-tiny');
const tmp = tempDir('chat-prompts');

let tok: Tokenizer;
let imStart: number;
let imEnd: number;
beforeAll(async () => {
  tok = await loadTokenizer(qwenDir);
  [imStart, imEnd] = ['<|im_start|>', '<|im_end|>'].map((t) => {
    const ids = tok.encode(t, { allowSpecialTokens: true });
    expect(ids).toHaveLength(1);
    return ids[0]!;
  }) as [number, number];
});

afterEach(() => {
  vi.restoreAllMocks();
});

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You answer in one word.' },
  { role: 'user', content: 'Say hi' },
];
const chatRows = [
  { prompt: conversation, answer: 'hi' },
  { prompt: [{ role: 'user' as const, content: 'Count to three' }], answer: '3' },
];

/** The prompt ids that `model` is asked to continue, per generate call. */
function spyPrompts(model: GPT): number[][] {
  const seen: number[][] = [];
  const generate = model.generate.bind(model);
  vi.spyOn(model, 'generate').mockImplementation((prompts: number[][], options?: GenerateOptions) => {
    seen.push(...prompts);
    return generate(prompts, options);
  });
  return seen;
}

/** The ids of a conversation rendered with the template and its generation prompt, special tokens kept. */
const templated = (messages: ChatMessage[]): number[] => encodeChat(tok, renderChat(tok, messages, true));

describe('conversational prompts', () => {
  it('generateText renders them with the chat template and its special tokens, and answers them', async () => {
    const model = await GPT.load(qwenDir);
    const seen = spyPrompts(model);
    const answers = await generateText(model, tok, [conversation, 'plain text'], { maxNewTokens: 4, seed: 1 });
    expect(answers).toHaveLength(2);
    expect(seen[0]).toEqual(templated(conversation));
    expect(seen[0]!.filter((id) => id === imStart)).toHaveLength(3); // system, user, and the assistant header
    expect(seen[0]).toContain(imEnd);
    expect(tok.decode(seen[0]!)).toBe(renderChat(tok, conversation, true));
    await expect(generateText(model, tok, [[{ role: 'assistant', content: 'x' }]])).rejects.toThrow(/must end with the user's turn/);
    model.dispose();
  });

  it("GRPO trains on them; the prompt ids hold the template's special tokens and rewards get TRL's conversational inputs", async () => {
    const model = await GPT.load(qwenDir);
    const seen = spyPrompts(model);
    const got: { prompts: unknown[]; completions: unknown[] }[] = [];
    const reward: RewardFunction<ChatMessage[]> = ({ prompts, completions }) => {
      got.push({ prompts, completions });
      return completions.map((c) => c[0]!.content.length % 3);
    };
    const trainer = new GRPOTrainer({
      model,
      tokenizer: tok,
      prompts: chatRows,
      rewards: reward,
      config: { outputDir: join(tmp, 'grpo'), batchSize: 4, numGenerations: 2, maxCompletionLength: 4, maxSteps: 2, progressBar: false },
    });
    const result = await trainer.train();
    expect(result.globalStep).toBe(2);
    expect(seen.length).toBeGreaterThan(0);
    for (const ids of seen) expect(ids).toContain(imStart);
    expect(seen).toContainEqual(templated(conversation));
    const { prompts, completions } = got[0]!;
    expect(prompts).toHaveLength(4);
    expect(prompts.every((p) => Array.isArray(p) && (p as ChatMessage[]).at(-1)!.role === 'user')).toBe(true);
    expect(prompts).toContainEqual(conversation);
    for (const c of completions) {
      expect(c).toEqual([{ role: 'assistant', content: expect.any(String) }]);
    }
    trainer.dispose();
    model.dispose();
  });

  it('RLOO trains on them with the same prompt ids', async () => {
    const model = await GPT.load(qwenDir);
    const seen = spyPrompts(model);
    const trainer = new RLOOTrainer({
      model,
      tokenizer: tok,
      prompts: chatRows,
      rewards: ({ completions }) => completions.map((c) => (Array.isArray(c) ? c[0].content.length : -1)),
      config: { outputDir: join(tmp, 'rloo'), batchSize: 4, numGenerations: 2, maxCompletionLength: 4, maxSteps: 1, progressBar: false },
    });
    await trainer.train();
    expect(seen).toContainEqual(templated(conversation));
    trainer.dispose();
    model.dispose();
  });

  it('PPO trains on them; its reward function gets the rendered prompt text', async () => {
    const model = await ActorCritic.fromTrunk(qwenDir);
    const refModel = await GPT.load(qwenDir);
    const seen = spyPrompts(model);
    const rendered: string[] = [];
    const trainer = new PPOTrainer({
      model,
      refModel,
      tokenizer: tok,
      prompts: chatRows,
      rewardFn: (prompts, answers) => (rendered.push(...prompts), answers.map((a) => a.length)),
      config: { outputDir: join(tmp, 'ppo'), batchSize: 2, miniBatchSize: 2, maxNewTokens: 4, numIterations: 1, progressBar: false },
    });
    await trainer.train();
    expect(seen).toContainEqual(templated(conversation));
    expect(rendered).toContain(renderChat(tok, conversation, true));
    trainer.dispose();
    model.dispose();
    refModel.dispose();
  });

  it('JSONL files hold them; a prompt ending with an assistant message is refused', async () => {
    const file = join(tmp, 'chat.jsonl');
    writeFileSync(file, `${chatRows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const data = await loadPromptDataset(file);
    expect(data.examples[0]).toEqual({ prompt: conversation, columns: { answer: 'hi' } });
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(
      bad,
      `${JSON.stringify({
        prompt: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
      })}\n`,
    );
    await expect(loadPromptDataset(bad)).rejects.toThrow(/bad\.jsonl:1: field 'prompt' must end with the user's turn/);
  });
});

describe('rlhf grpo on a JSONL file of conversational prompts', () => {
  it("trains, the reward function gets TRL's conversational inputs, and samples.jsonl shows the rendered prompt", () => {
    const dir = join(tmp, 'cli');
    cpSync(qwenDir, join(dir, 'model'), { recursive: true });
    writeFileSync(join(dir, 'chat.jsonl'), `${chatRows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    writeFileSync(
      join(dir, 'reward.mjs'),
      `export default function chatShape({ prompts, completions }) {
        if (!prompts.every((p) => Array.isArray(p) && p.at(-1).role === 'user')) throw new Error('prompts are not messages');
        if (!completions.every((c) => c.length === 1 && c[0].role === 'assistant')) throw new Error('completions are not messages');
        return completions.map((c) => c[0].content.length);
      }\n`,
    );
    const r = rlhfIn(dir)(
      ...words(`grpo --model model --prompts chat.jsonl --reward-fn ./reward.mjs --out run --max-steps 1 --batch-size 2
      --num-generations 2 --max-completion-length 4 --sample-every 1 --num-samples 2`),
    );
    expect(r.code, r.err).toBe(0);
    const sample = JSON.parse(readFileSync(join(dir, 'run', 'samples.jsonl'), 'utf8').split('\n')[0]!) as { prompt: string };
    expect(sample.prompt).toMatch(/^<\|im_start\|>system\n/);
    expect(sample.prompt.endsWith('<|im_start|>assistant\n')).toBe(true);
  });
});

describe('a text prompt holding special-token text', () => {
  it('is encoded as plain text, with one warning for the batch that says to pass messages', async () => {
    const model = await GPT.load(qwenDir);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const byHand = renderChat(tok, conversation, true);
    const seen = spyPrompts(model);
    await generateText(model, tok, [byHand, byHand, 'no tokens here'], { maxNewTokens: 2 });
    expect(seen[0]).not.toContain(imStart);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(
      /2 text prompt\(s\) hold the text of the special token "<\|im_start\|>".*plain text.*messages/,
    );
    warn.mockClear();
    await generateText(model, tok, [conversation, 'no tokens here'], { maxNewTokens: 2 });
    expect(warn).not.toHaveBeenCalled();
    model.dispose();
  });
});

describe('generateTextStream', () => {
  it('yields pieces as tokens come that join to exactly the answer of generateText (same seed; byte-level BPE and Metaspace)', async () => {
    for (const dir of [qwenDir, join(fixtures, 'llama-tiny')]) {
      const model = await GPT.load(dir);
      const t = await loadTokenizer(dir);
      for (const seed of [1, 2, 3]) {
        const options = { maxNewTokens: 24, seed, temperature: 1.5 };
        const [expected] = await generateText(model, t, [conversation], options);
        const pieces: string[] = [];
        for await (const piece of generateTextStream(model, t, conversation, options)) pieces.push(piece);
        expect(pieces.join('')).toBe(expected);
        if (expected!.length > 4) expect(pieces.length).toBeGreaterThan(1);
      }
      model.dispose();
    }
  });

  it('holds back a character split across tokens (random bytes of a byte-level model)', async () => {
    const byteTok = new ByteTokenizer();
    const model = GPT.create({ vocabSize: byteTok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16 });
    for (const seed of [4, 5, 6, 7]) {
      const options = { maxNewTokens: 40, seed, temperature: 3 };
      const [expected] = await generateText(model, byteTok, ['é'], options);
      const pieces: string[] = [];
      for await (const piece of generateTextStream(model, byteTok, 'é', options)) pieces.push(piece);
      expect(pieces.join('')).toBe(expected);
      for (const piece of pieces.slice(0, -1)) expect(piece.endsWith('\uFFFD')).toBe(false);
    }
    model.dispose();
  });

  it('stops yielding when the loop is left, and reports bad input as generateText does', async () => {
    const model = await GPT.load(qwenDir);
    for await (const _ of generateTextStream(model, tok, 'Hello', { maxNewTokens: 8, seed: 1 })) break;
    const stream = generateTextStream(model, tok, 5 as unknown as string);
    await expect(stream.next()).rejects.toThrow(/prompt 0 must be a string or a conversation/);
    model.dispose();
  });

  it("generate's onToken sees every step once, in order, before generate resolves", async () => {
    const model = await GPT.load(qwenDir);
    const steps: number[][] = [];
    const out = await model.generate([[1, 2, 3], [4]], {
      maxNewTokens: 6,
      seed: 3,
      numReturnSequences: 2,
      onToken: (ids) => steps.push(ids),
    });
    const tokens = out.tokens.tolist() as number[][];
    expect(steps).toEqual(tokens[0]!.map((_, j) => tokens.map((row) => row[j]!)));
    await expect(
      model.generate([[1]], {
        maxNewTokens: 2,
        onToken: () => {
          throw new Error('listener failed');
        },
      }),
    ).rejects.toThrow('listener failed');
    out.tokens.dispose();
    out.responseMask.dispose();
    out.logprobs.dispose();
    out.promptIds.dispose();
    out.promptMask.dispose();
    model.dispose();
  });
});
