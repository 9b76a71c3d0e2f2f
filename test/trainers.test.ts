// Stages 1 and 2: the SFT and reward-model trainers and the loop they share.
import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  torch,
  GPT,
  ByteTokenizer,
  SFTTrainer,
  RewardModel,
  RewardTrainer,
  collateSequences,
  lmLossFromLogits,
  sftSequence,
  pack,
  truncateKeepingAnswer,
  rankingLoss,
  collateRankings,
  lrFactor,
  loadSFTDataset,
  loadTokenizer,
  type SFTExample,
  type PreferenceExample,
  type Tensor,
} from '../src/index.js';
import { tempDir, expectExactResume } from './helpers.js';

const tmp = tempDir('trainers');
const tok = new ByteTokenizer();
const tiny = () => GPT.create({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 2, nHead: 2, nEmbd: 32 });
const quiet = { progressBar: false } as const;
const pc = (prompt: string, completion: string): SFTExample => ({ kind: 'prompt-completion', prompt, completion });

describe('SFT data handling', () => {
  it('masks the prompt, ends the answer with EOS, and truncation keeps the answer', () => {
    const s = sftSequence(pc('Hi:', ' yo'), tok, 48, true);
    const bos = tok.bosTokenId!;
    expect(s.ids).toEqual([bos, ...Buffer.from('Hi:'), ...Buffer.from(' yo'), tok.eosTokenId]);
    expect(s.labels).toEqual([-100, -100, -100, -100, ...Buffer.from(' yo'), tok.eosTokenId]);
    expect(sftSequence(pc('Hi:', ' yo'), tok, 48, false).labels).toEqual(s.ids);
    const long = truncateKeepingAnswer({ prompt: [1, 2, 3, 4, 5, 6], answer: [7, 8, 9] }, 5);
    expect(long).toEqual({ prompt: [5, 6], answer: [7, 8, 9] });
    const huge = truncateKeepingAnswer({ prompt: [1, 2], answer: [3, 4, 5, 6, 7, 8] }, 4);
    expect(huge).toEqual({ prompt: [2], answer: [3, 4, 5] });
  });

  it('conversations go through the chat template; the last assistant turn is the answer', () => {
    const s = sftSequence(
      {
        kind: 'messages',
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Yo' },
        ],
      },
      tok,
      48,
      true,
    );
    const answer = s.ids.filter((_, i) => s.labels[i] !== -100);
    expect(tok.decode(answer, { skipSpecialTokens: true })).toBe('Yo');
    expect(answer[answer.length - 1]).toBe(tok.eosTokenId);
  });

  it("with a model's own chat template, SFT trains every assistant turn and saves the tokenizer files beside the model", async () => {
    const hf = await loadTokenizer(join(import.meta.dirname, 'fixtures', 'qwen2-tiny'));
    const messages = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Bye' },
      { role: 'assistant', content: 'Bye now.' },
    ] as const;
    const data: SFTExample[] = [{ kind: 'messages', messages: messages.map((m) => ({ ...m })) }];
    const model = GPT.create({ vocabSize: hf.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 });
    const dir = join(tmp, 'sft-chat-template');
    const t = new SFTTrainer({
      model,
      tokenizer: hf,
      trainDataset: data,
      evalDataset: data,
      config: { outputDir: dir, maxSteps: 1, ...quiet },
    });
    const [seq] = t.trainData;
    expect(hf.decode(seq!.ids.filter((_, i) => seq!.labels[i] !== -100))).toBe('Hello.<|im_end|>Bye now.<|im_end|>');
    await t.train();
    t.dispose();
    expect(readdirSync(dir)).toEqual(
      expect.arrayContaining(['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'model.safetensors']),
    );
    expect((await loadTokenizer(dir)).encode('<|im_start|>Hi', { allowSpecialTokens: true })).toEqual(
      hf.encode('<|im_start|>Hi', { allowSpecialTokens: true }),
    );
    model.dispose();
  });

  it('packing fills blocks of exactly maxLength', () => {
    const seqs = Array.from({ length: 10 }, (_, i) => ({ ids: [1, 2, 3, i], labels: [-100, 2, 3, i] }));
    const blocks = pack(seqs, 16);
    expect(blocks.length).toBe(2);
    expect(blocks.every((b) => b.ids.length === 16 && b.labels.length === 16)).toBe(true);
  });

  it('prompt tokens contribute nothing to the gradient when masked (and do when not)', () => {
    torch.manualSeed(0);
    const m = tiny();
    for (const completionOnly of [true, false]) {
      const seq = sftSequence(pc('The prompt', ' answer'), tok, 48, completionOnly);
      const promptLen = 1 + 'The prompt'.length;
      const batch = collateSequences([seq], tok.padTokenId, 'cpu');
      torch.tidy(() => {
        const { logits } = m.forward(batch.inputIds, { attentionMask: batch.attentionMask });
        logits.retainGrad();
        lmLossFromLogits(logits, batch.labels).backward();
        // Position j predicts token j+1: positions 0..promptLen-2 predict prompt tokens.
        const g = logits.grad!.abs().sum(2).squeeze(0);
        const promptGrad = g
          .narrow(0, 0, promptLen - 1)
          .sum()
          .item();
        const answerGrad = g
          .narrow(0, promptLen - 1, seq.ids.length - promptLen)
          .sum()
          .item();
        if (completionOnly) expect(promptGrad).toBe(0);
        else expect(promptGrad).toBeGreaterThan(0);
        expect(answerGrad).toBeGreaterThan(0);
      });
      torch.dispose(batch);
      m.zeroGrad();
    }
    m.dispose();
  });
});

describe('SFTTrainer', () => {
  const data = Array.from({ length: 48 }, (_, i) => pc(`Q${i % 6}:`, ` A${(i % 6) * 7}`));

  it('the loss falls on a small dataset, eval reports loss and perplexity, the run directory is complete', async () => {
    torch.manualSeed(0);
    const model = tiny();
    const dir = join(tmp, 'sft');
    const t = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: data,
      config: {
        outputDir: dir,
        learningRate: 3e-3,
        numTrainEpochs: 8,
        batchSize: 8,
        loggingSteps: 5,
        warmupSteps: 3,
        lrSchedulerType: 'cosine',
        ...quiet,
      },
    });
    const base = torch.memory().tensors;
    const r = await t.train();
    t.dispose(); // the optimizer state is the only thing training leaves behind
    expect(torch.memory().tensors).toBe(base);
    const log = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const losses = log.filter((l) => 'loss' in l).map((l) => l.loss as number);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.6);
    expect(r.metrics['eval/perplexity']).toBeCloseTo(Math.exp(r.metrics['eval/loss']!), 6);
    expect(readdirSync(dir).sort()).toEqual(
      expect.arrayContaining(['byte-tokenizer.json', 'config.json', 'metrics.jsonl', 'model.safetensors', 'sft_config.json']),
    );
    const reloaded = await GPT.load(dir);
    torch.tidy(() => {
      const ids = torch.tensor([[tok.bosTokenId!, 81, 49, 58]]);
      expect(reloaded.forward(ids).logits.allclose(model.forward(ids).logits, 1e-5, 1e-6)).toBe(true);
    });
    reloaded.dispose();
    model.dispose();
  });

  it('gradient accumulation of 2×4 matches one batch of 8 (same data, same update)', async () => {
    const run = async (batchSize: number, accum: number) => {
      torch.manualSeed(1);
      const model = tiny();
      const t = new SFTTrainer({
        model,
        tokenizer: tok,
        trainDataset: data.slice(0, 8),
        evalDataset: data.slice(0, 2),
        config: {
          outputDir: join(tmp, `acc-${batchSize}`),
          learningRate: 1e-3,
          maxSteps: 1,
          batchSize,
          gradientAccumulationSteps: accum,
          maxGradNorm: 0,
          ...quiet,
        },
      });
      await t.train();
      const p = model.parameters().map((x) => x.clone());
      t.dispose();
      model.dispose();
      return p;
    };
    // Same sequence lengths in every example, so micro-batch means average to the batch mean.
    const a = await run(8, 1);
    const b = await run(4, 2);
    a.forEach((x, i) => expect(x.allclose(b[i]!, 1e-4, 1e-6)).toBe(true));
    torch.dispose([a, b]);
  });

  it('resume after an interruption gives the same parameters as an uninterrupted run', async () => {
    const config = (dir: string, extra = {}) => ({
      outputDir: dir,
      learningRate: 2e-3,
      maxSteps: 12,
      batchSize: 4,
      saveSteps: 5,
      warmupSteps: 2,
      ...quiet,
      ...extra,
    });
    // Interrupted: a run that stops at step 7, after its checkpoint-5; then a fresh process resumes.
    await expectExactResume({
      make: (run) => {
        torch.manualSeed(7);
        const model = GPT.create({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0.1 });
        const dir = join(tmp, run === 'full' ? 'full' : 'part');
        const trainer = new SFTTrainer({
          model,
          tokenizer: tok,
          trainDataset: data,
          config: config(dir, { resumeFromCheckpoint: run === 'resumed' }),
        });
        return { model, trainer };
      },
      cut: ['computeLoss', 7],
      checkpoint: join(tmp, 'part', 'checkpoint-5'),
    });
  });

  it('the event loop gets a turn every step, with no saving or evaluating to wait for', async () => {
    torch.manualSeed(0);
    const model = tiny();
    const t = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: data,
      config: {
        outputDir: join(tmp, 'yield'),
        learningRate: 1e-3,
        maxSteps: 20,
        batchSize: 4,
        saveSteps: 0,
        evalSteps: 0,
        loggingSteps: 1000,
        ...quiet,
      },
    });
    // A chain of immediates counts the event loop's turns; each optimizer step notes the count.
    let turns = 0;
    let stop = false;
    const turn = () => {
      turns++;
      if (!stop) setImmediate(turn);
    };
    setImmediate(turn);
    const seen: number[] = [];
    const step = t.optimizer.stepAsync.bind(t.optimizer);
    t.optimizer.stepAsync = () => {
      seen.push(turns);
      return step();
    };
    await t.train();
    stop = true;
    expect(seen).toHaveLength(20);
    // Before, all 20 steps ran in one turn (the same count for every step).
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
    t.dispose();
    model.dispose();
  });

  it('a non-finite loss stops the run with a clear error and keeps the last good checkpoint', async () => {
    torch.manualSeed(0);
    const model = tiny();
    const dir = join(tmp, 'nan');
    const t = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: data,
      config: { outputDir: dir, learningRate: 1e-3, maxSteps: 10, batchSize: 4, saveSteps: 3, ...quiet },
    });
    let calls = 0;
    const orig = (t as unknown as { computeLoss: (b: unknown) => Promise<{ loss: Tensor }> }).computeLoss.bind(t);
    (t as unknown as { computeLoss: unknown }).computeLoss = async (b: unknown) => {
      const out = await orig(b);
      if (++calls !== 5) return out;
      const loss = out.loss.mul(NaN);
      out.loss.dispose();
      return { ...out, loss };
    };
    await expect(t.train()).rejects.toThrow(/the loss became NaN at step 5\. The last good checkpoint is .*checkpoint-3/);
    expect(readdirSync(dir).filter((d) => d.startsWith('checkpoint-'))).toEqual(['checkpoint-3']);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
    t.dispose();
    model.dispose();
  });

  it("mixedPrecision 'bf16' trains under autocast with float32 master weights", async () => {
    torch.manualSeed(0);
    const model = tiny();
    const t = new SFTTrainer({
      model,
      tokenizer: tok,
      trainDataset: data,
      config: {
        outputDir: join(tmp, 'bf16'),
        learningRate: 3e-3,
        numTrainEpochs: 6,
        batchSize: 8,
        loggingSteps: 5,
        mixedPrecision: 'bf16',
        ...quiet,
      },
    });
    const seen: string[] = [];
    const orig = (t as unknown as { computeLoss: (b: never) => { loss: Tensor } }).computeLoss.bind(t);
    (t as unknown as { computeLoss: unknown }).computeLoss = (b: never) => {
      // The LM head runs in bf16 under autocast; its logits come out upcast to float32 (as transformers' losses
      // take them), so they are float32 holding bf16 values.
      seen.push(
        torch.tidy(() => {
          const { logits } = model.forward((b as { inputIds: Tensor }).inputIds);
          return `${logits.dtype} ${logits.equal(logits.bfloat16().float()) ? 'bf16 values' : 'float32 values'}`;
        }),
      );
      return orig(b);
    };
    await t.train();
    expect(new Set(seen)).toEqual(new Set(['float32 bf16 values']));
    expect(model.parameters().every((p) => p.dtype === 'float32')).toBe(true);
    const log = readFileSync(join(tmp, 'bf16', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => 'loss' in l);
    expect(log[log.length - 1].loss).toBeLessThan(log[0].loss * 0.7);
    torch.tidy(() => expect(model.forward(torch.tensor([[1, 2]])).logits.dtype).toBe('float32')); // only inside the step
    t.dispose();
    model.dispose();
  });

  it('out of memory on a micro-batch: retried in halves, same update as without the split', async () => {
    const run = async (oomAbove: number | null) => {
      torch.manualSeed(5);
      const model = tiny();
      const t = new SFTTrainer({
        model,
        tokenizer: tok,
        trainDataset: data.slice(0, 8),
        evalDataset: data.slice(0, 2),
        config: { outputDir: join(tmp, `oom-${oomAbove}`), learningRate: 1e-3, maxSteps: 2, batchSize: 8, maxGradNorm: 0, ...quiet },
      });
      if (oomAbove !== null) {
        const orig = (t as unknown as { computeLoss: (b: { inputIds: Tensor }) => unknown }).computeLoss.bind(t);
        (t as unknown as { computeLoss: unknown }).computeLoss = (b: { inputIds: Tensor }) => {
          if (b.inputIds.shape[0]! > oomAbove)
            throw new Error('CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 80.00 GiB total capacity)');
          return orig(b);
        };
      }
      // Compare the gradients of the first step (Adam would magnify float noise in ~0 gradients).
      let grads: Tensor[] = [];
      const step = t.optimizer.stepAsync.bind(t.optimizer);
      t.optimizer.stepAsync = () => {
        if (grads.length === 0) grads = torch.keep(model.parameters().map((p) => (p.grad ? p.grad.clone() : torch.zerosLike(p))));
        return step();
      };
      await t.train();
      const retries = t.oomRetries;
      t.dispose();
      model.dispose();
      return { grads, retries };
    };
    const plain = await run(null);
    const split = await run(2);
    expect(plain.retries).toBe(0);
    expect(split.retries).toBeGreaterThan(0);
    plain.grads.forEach((g, i) => expect(g.allclose(split.grads[i]!, 1e-4, 1e-6)).toBe(true));
    torch.dispose([plain.grads, split.grads]);
  });

  it('rejects bad configs naming the field', () => {
    const model = tiny();
    const mk = (config: Record<string, unknown>) => () =>
      new SFTTrainer({ model, tokenizer: tok, trainDataset: data, config: { outputDir: tmp, ...config } });
    expect(mk({ learningRate: -1 })).toThrow(/SFTConfig: field 'learningRate' must be a non-negative number, got -1/);
    expect(mk({ batchSize: 2.5 })).toThrow(/field 'batchSize' must be a positive integer/);
    expect(mk({ lrScheduler: 'cosine' })).toThrow(/SFTConfig: unknown field 'lrScheduler'/);
    expect(mk({ maxLength: 4096 })).toThrow(/exceeds the model's blockSize \(48\)/);
    expect(mk({ device: 'tpu' })).toThrow(/field 'device'/);
    expect(mk({ mixedPrecision: 'fp8' })).toThrow(/field 'mixedPrecision' must be 'no' or 'bf16'/);
    model.dispose();
  });

  it('reads the data from JSONL files on disk', async () => {
    const file = join(tmp, 'sft.jsonl');
    writeFileSync(
      file,
      data
        .map((d) => JSON.stringify({ prompt: (d as { prompt: string }).prompt, completion: (d as { completion: string }).completion }))
        .join('\n'),
    );
    const { examples } = await loadSFTDataset(file);
    expect(examples.length).toBe(48);
  });
});

describe('learning-rate schedules', () => {
  it('warmup then linear/cosine decay, as Hugging Face', () => {
    expect(lrFactor('linear', 0, 10, 110)).toBe(0);
    expect(lrFactor('linear', 5, 10, 110)).toBe(0.5);
    expect(lrFactor('linear', 60, 10, 110)).toBeCloseTo(0.5);
    expect(lrFactor('cosine', 60, 10, 110)).toBeCloseTo(0.5);
    expect(lrFactor('cosine', 35, 10, 110)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.25)));
    expect(lrFactor('constant', 0, 10, 110)).toBe(1);
    expect(lrFactor('constant_with_warmup', 5, 10, 110)).toBe(0.5);
  });
});

describe('ranking loss', () => {
  const logsig = (x: number) => -Math.log1p(Math.exp(-x));
  it('a K-wise ranking equals the hand-computed InstructGPT loss', () => {
    // One ranking of 3 answers (rewards 2, 0.5, -1) and one pair (rewards 0.3, 0.9: wrong order).
    const r = torch.tensor([2, 0.5, -1, 0.3, 0.9]);
    const batch = torch.tidy(() => {
      const b = collateRankings([{ sequences: [[1], [2], [3]] }, { sequences: [[4], [5]] }], 0, 'cpu');
      return b;
    });
    const { loss, accuracy, meanMargin } = rankingLoss(r, batch);
    const ranking = -(logsig(1.5) + logsig(3) + logsig(1.5)) / 3;
    const pair = -logsig(-0.6);
    expect(loss.item()).toBeCloseTo((ranking + pair) / 2, 5);
    expect(accuracy.item()).toBeCloseTo((1 + 0) / 2, 6);
    expect(meanMargin.item()).toBeCloseTo(((1.5 + 3 + 1.5) / 3 + -0.6) / 2, 5);
    const withMargin = rankingLoss(r, batch, 1).loss.item();
    expect(withMargin).toBeCloseTo((-(logsig(0.5) + logsig(2) + logsig(0.5)) / 3 - logsig(-1.6)) / 2, 5);
    torch.dispose([r, batch, loss, accuracy, meanMargin]);
  });
  it('K = 2 reduces to the pairwise loss −log σ(r_chosen − r_rejected)', () => {
    const r = torch.tensor([1.2, -0.4, 0.1, 0.7]);
    const batch = collateRankings([{ sequences: [[1], [2]] }, { sequences: [[3], [4]] }], 0, 'cpu');
    const { loss } = rankingLoss(r, batch);
    expect(loss.item()).toBeCloseTo(-(logsig(1.6) + logsig(-0.6)) / 2, 5);
    torch.dispose([r, batch, loss]);
  });
});

describe('RewardModel and RewardTrainer', () => {
  // The hidden preference: answers with more 'a's are better.
  const answers = ['aaaa', 'aaab', 'aabb', 'abbb', 'bbbb', 'aaxa', 'axbb', 'bbxa'];
  const count = (s: string) => [...s].filter((c) => c === 'a').length;
  const prefs = (n: number, seed: number): PreferenceExample[] => {
    let x = seed;
    const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
    return Array.from({ length: n }, () => {
      const k = 2 + Math.floor(rnd() * 3);
      const pick = new Set<string>();
      while (pick.size < k) pick.add(answers[Math.floor(rnd() * answers.length)]!);
      const ranked = [...pick].sort((p, q) => count(q) - count(p) || p.localeCompare(q));
      // ties in the count are not a preference: keep only strictly ordered answers
      const strict = ranked.filter((a, i) => i === 0 || count(a) < count(ranked[i - 1]!));
      return { prompt: 'Pick:', completions: strict.length >= 2 ? strict : ['aaaa', 'bbbb'] };
    });
  };

  it('the head starts N(0, 1/√(d+1)) with bias 0; the score is read at the last real token', () => {
    torch.manualSeed(0);
    const rm = new RewardModel({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 64 });
    expect(rm.score.bias!.item()).toBe(0);
    expect(rm.score.weight.std().item()).toBeGreaterThan(0.08);
    expect(rm.score.weight.std().item()).toBeLessThan(0.16);
    rm.eval();
    torch.tidy(() => {
      const a = rm.rewards(torch.tensor([[1, 2, 3, 0, 0]]), torch.tensor([[1, 1, 1, 0, 0]]));
      const b = rm.rewards(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 1, 1]]));
      const left = rm.rewards(torch.tensor([[0, 0, 1, 2, 3]]), torch.tensor([[0, 0, 1, 1, 1]]));
      expect(a.allclose(b, 1e-5, 1e-6)).toBe(true);
      expect(left.allclose(b, 1e-5, 1e-6)).toBe(true);
      expect(
        torch.noGrad(() => rm.rewards(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 1, 1]]), { path: 'native' })).allclose(b, 1e-5, 1e-6),
      ).toBe(true);
    });
    rm.dispose();
  });

  it('learns a simple preference: held-out accuracy well above chance; rewards normalised; checkpoint round trip', async () => {
    torch.manualSeed(3);
    const sftDir = join(tmp, 'rm-sft');
    const base = tiny();
    await base.save(sftDir);
    base.dispose();
    const rm = await RewardModel.fromTrunk(sftDir);
    const dir = join(tmp, 'rm');
    const demos: SFTExample[] = answers.map((a) => pc('Pick:', a));
    const t = new RewardTrainer({
      model: rm,
      tokenizer: tok,
      trainDataset: prefs(160, 1),
      evalDataset: prefs(60, 2),
      normalizationDataset: demos,
      config: { outputDir: dir, learningRate: 2e-3, numTrainEpochs: 4, batchSize: 8, loggingSteps: 10, ...quiet },
    });
    const r = await t.train();
    expect(r.metrics['eval/accuracy']).toBeGreaterThan(0.85);
    const log = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.some((l) => 'accuracy' in l && 'margin' in l)).toBe(true);
    // Normalised: the demonstrations now score mean 0.
    const scores = t.scoreSequences(answers.map((a) => [tok.bosTokenId!, ...Buffer.from('Pick:'), ...Buffer.from(a), tok.eosTokenId]));
    expect(Math.abs(scores.reduce((x, y) => x + y, 0) / scores.length)).toBeLessThan(1e-4);
    expect(rm.normalization?.source).toBe('demonstrations');
    const back = await RewardModel.load(dir);
    expect(back.normalization?.mean).toBeCloseTo(rm.normalization!.mean, 6);
    rm.eval();
    torch.tidy(() => {
      const ids = torch.tensor([[tok.bosTokenId!, 80, 105, 99, 107, 58, 97, 97, tok.eosTokenId]]);
      const mask = torch.onesLike(ids);
      expect(back.rewards(ids, mask).allclose(rm.rewards(ids, mask), 1e-5, 1e-6)).toBe(true);
    });
    await expect(RewardModel.load(sftDir)).rejects.toThrow(/missing score\.weight, score\.bias/);
    back.dispose();
    t.dispose();
    rm.dispose();
  });
});
