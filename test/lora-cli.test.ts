// LoRA on the command line: --lora-* on the trainers writes PEFT adapter directories, which
// every command that takes a model directory reads as base + adapter (generate, score, the
// next stage), and `rlhf merge` turns into a full model with the same outputs. Bad flags and
// missing bases are one-line errors.
import { describe, it, expect, beforeAll } from 'vitest';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ByteTokenizer, GPT, RewardModel, hasLora, torch } from '../src/index.js';
import { tempDir, words } from './helpers.js';
import { expectOneLineError, rlhfIn } from './cli-helpers.js';

const tmp = tempDir('lora-cli');
const at = (name: string) => join(tmp, name);

const rlhf = rlhfIn(tmp, { timeoutMs: 300_000 });
const quick = ['--max-steps', '2', '--batch-size', '4', '--progress-bar', 'false', '--learning-rate', '0.01'];

beforeAll(async () => {
  writeFileSync(
    at('sft.jsonl'),
    Array.from({ length: 16 }, (_, i) => JSON.stringify({ prompt: `Q${i % 4}:`, completion: ` answer ${i % 4}!` })).join('\n'),
  );
  writeFileSync(
    at('pairs.jsonl'),
    Array.from({ length: 16 }, (_, i) => JSON.stringify({ prompt: `Q${i % 4}:`, chosen: ' good!', rejected: ' bad.' })).join('\n'),
  );
  writeFileSync(at('prompts.jsonl'), Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `Q${i % 4}:` })).join('\n'));
  // A base model directory with its tokenizer (what a pretrained checkpoint looks like).
  torch.manualSeed(0);
  const tok = new ByteTokenizer();
  const base = GPT.create({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 32 });
  await base.save(at('base'));
  await tok.save(at('base'));
  base.dispose();
});

describe('rlhf with LoRA', () => {
  it('sft --lora-* writes an adapter; generate reads it; merge writes a full model with the same logits', async () => {
    const r = rlhf(
      ...words(`sft --model base --data sft.jsonl --out sft-lora --lora-r 4 --lora-alpha 8
      --lora-target-modules c_attn,c_fc`),
      ...quick,
    );
    expect(r.code, r.err).toBe(0);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'byte-tokenizer.json'])
      expect(existsSync(at(`sft-lora/${f}`)), f).toBe(true);
    expect(existsSync(at('sft-lora/model.safetensors'))).toBe(false);
    const cfg = JSON.parse(readFileSync(at('sft-lora/adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      r: 4,
      lora_alpha: 8,
      target_modules: ['c_attn', 'c_fc'],
      base_model_name_or_path: at('base'),
      fan_in_fan_out: true,
    });
    const g = rlhf('generate', '--model', 'sft-lora', '--greedy', '--max-new-tokens', '4', 'Q1:');
    expect(g.code, g.err).toBe(0);
    expect(JSON.parse(g.out.trim()).prompt).toBe('Q1:');
    const m = rlhf('merge', '--model', 'sft-lora', '--out', 'sft-merged');
    expect(m.code, m.err).toBe(0);
    expect(JSON.parse(m.out.trim())).toMatchObject({ stage: 'merge', kind: 'causal-lm', layers: 4 });
    for (const f of ['config.json', 'model.safetensors', 'byte-tokenizer.json']) expect(existsSync(at(`sft-merged/${f}`)), f).toBe(true);
    const adapted = (await GPT.load(at('sft-lora'))).eval();
    const merged = (await GPT.load(at('sft-merged'))).eval();
    expect(hasLora(merged)).toBe(false);
    const ids = torch.tensor([[5, 60, 61, 62, 63]], { dtype: 'int64' });
    const a = torch.noGrad(() => adapted.forward(ids).logits);
    const b = torch.noGrad(() => merged.forward(ids).logits);
    expect(a.sub(b).abs().max().item()).toBeLessThan(1e-5);
    torch.dispose([adapted, merged, ids, a, b]);
  });

  it('rm --lora-* trains the adapter and the score head; score and ppo read the adapter; merge keeps the scores', async () => {
    const r = rlhf('rm', '--model', 'base', '--data', 'pairs.jsonl', '--out', 'rm-lora', '--lora-r', '4', ...quick);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(readFileSync(at('rm-lora/adapter_config.json'), 'utf8'))).toMatchObject({
      task_type: 'SEQ_CLS',
      modules_to_save: ['score'],
    });
    const s = rlhf('score', '--reward-model', 'rm-lora', '--data', 'pairs.jsonl');
    expect(s.code, s.err).toBe(0);
    const m = rlhf('merge', '--model', 'rm-lora', '--out', 'rm-merged');
    expect(m.code, m.err).toBe(0);
    expect(JSON.parse(m.out.trim()).kind).toBe('reward-model');
    const s2 = rlhf('score', '--reward-model', 'rm-merged', '--data', 'pairs.jsonl');
    const scores = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).scores as number[]);
    scores(s.out).forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - scores(s2.out)[i]![j]!)).toBeLessThan(1e-4)));
    const rmModel = await RewardModel.load(at('rm-merged'));
    expect(rmModel.score.bias).not.toBeNull();
    rmModel.dispose();
    const p = rlhf(
      ...words(`ppo --policy base --reward-model rm-lora --prompts prompts.jsonl --out ppo-lora --lora-r 4
      --num-iterations 1 --batch-size 4 --mini-batch-size 2 --max-new-tokens 4 --progress-bar false`),
    );
    expect(p.code, p.err).toBe(0);
    expect(existsSync(at('ppo-lora/adapter_model.safetensors'))).toBe(true);
    // A separate critic from the adapter reward model keeps training its adapter.
    const c = rlhf(
      ...words(`ppo --policy base --reward-model rm-lora --separate-critic --prompts prompts.jsonl
      --out ppo-critic-lora --lora-r 4 --num-iterations 1 --batch-size 4 --mini-batch-size 2 --max-new-tokens 4
      --progress-bar false`),
    );
    expect(c.code, c.err).toBe(0);
    expect(existsSync(at('ppo-critic-lora/critic/adapter_model.safetensors'))).toBe(true);
  });

  it('dpo, grpo and rloo take --lora-*; the reference is the base with the adapter off', () => {
    const d = rlhf('dpo', '--model', 'base', '--data', 'pairs.jsonl', '--out', 'dpo-lora', '--use-peft', ...quick);
    expect(d.code, d.err).toBe(0);
    expect(d.err).toMatch(/reference the base \(adapter off\)/);
    expect(existsSync(at('dpo-lora/adapter_model.safetensors'))).toBe(true);
    for (const kind of ['grpo', 'rloo']) {
      const g = rlhf(
        ...words(`${kind} --model base --prompts prompts.jsonl --out`),
        `${kind}-lora`,
        ...words(`--reward length:8
        --lora-r 2 --use-rslora --beta 0.05 --max-steps 1 --batch-size 4 --num-generations 2 --max-completion-length 4
        --progress-bar false`),
      );
      expect(g.code, g.err).toBe(0);
      expect(JSON.parse(readFileSync(at(`${kind}-lora/adapter_config.json`), 'utf8'))).toMatchObject({ r: 2, use_rslora: true });
    }
  });

  it('a moved adapter names its missing base; --base-model finds it', () => {
    cpSync(at('sft-lora'), at('moved/sft-lora'), { recursive: true });
    const cfgPath = at('moved/sft-lora/adapter_config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), base_model_name_or_path: 'nowhere/base' }));
    expectOneLineError(rlhf('generate', '--model', 'moved/sft-lora', 'Q1:'), /base model 'nowhere\/base' was not found .*--base-model/);
    const g = rlhf('generate', '--model', 'moved/sft-lora', '--base-model', 'base', '--greedy', '--max-new-tokens', '2', 'Q1:');
    expect(g.code, g.err).toBe(0);
  });

  it('bad LoRA flags are one-line errors', () => {
    expectOneLineError(
      rlhf('sft', '--model', 'base', '--data', 'sft.jsonl', '--out', 'x', '--lora-r', '0'),
      /^rlhf: --lora-r must be a positive integer, got 0$/,
    );
    expectOneLineError(
      rlhf('sft', '--model', 'base', '--data', 'sft.jsonl', '--out', 'x', '--lora-alpha', 'big'),
      /^rlhf: --lora-alpha expects a number, got 'big'$/,
    );
    expectOneLineError(
      rlhf('sft', '--model', 'base', '--data', 'sft.jsonl', '--out', 'x', '--lora-target-modules', 'q_proj,v_proj'),
      /match no linear layer of the GPT \(its linear layers: c_attn, c_proj, c_fc\)/,
    );
    expectOneLineError(
      rlhf('sft', '--model', 'tiny', '--data', 'sft.jsonl', '--out', 'x', '--use-peft'),
      /a LoRA adapter adapts a pretrained model; give --model a model directory/,
    );
    expectOneLineError(
      rlhf('sft', '--model', 'sft-lora', '--data', 'sft.jsonl', '--out', 'x', '--lora-r', '2'),
      /already has a LoRA adapter; leave out peftConfig to keep training it, or merge it/,
    );
    expectOneLineError(
      rlhf('merge', '--model', 'base', '--out', 'x'),
      /base holds no adapter_config.json \(not a PEFT adapter directory; nothing to merge\)/,
    );
  });
});
