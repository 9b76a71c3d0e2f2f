// What `--model` can name for `rlhf sft`: a preset, a config.json, or a model directory.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GPT, type GPTConfig } from '../models/gpt.js';
import { gptConfigFromHF, readJsonFile } from '../models/gpt-checkpoint.js';
import { ByteTokenizer } from '../tokenizers/byte-tokenizer.js';
import { loadTokenizer, type Tokenizer } from '../tokenizers/tokenizer.js';

/** Fresh GPTs with the byte tokenizer, for training from scratch. */
export const MODEL_PRESETS: Record<string, Omit<GPTConfig, 'vocabSize' | 'dropout' | 'bias' | 'layerNormEpsilon'>> = {
  tiny: { blockSize: 128, nLayer: 2, nHead: 2, nEmbd: 64 },
  small: { blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 128 },
  medium: { blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384 },
};

export async function modelFromSpec(spec: string, device: string): Promise<{ model: GPT; tokenizer: Tokenizer; source: string }> {
  const preset = MODEL_PRESETS[spec];
  if (preset) {
    const tokenizer = new ByteTokenizer();
    return { model: GPT.create({ vocabSize: tokenizer.vocabSize, ...preset }, { device: device as never }), tokenizer, source: `preset '${spec}'` };
  }
  if (!existsSync(spec)) throw new Error(`--model: '${spec}' is not a preset (${Object.keys(MODEL_PRESETS).join(', ')}), a config.json or a model directory`);
  if (statSync(spec).isDirectory()) {
    const model = await GPT.load(spec, { device: device as never });
    const tokenizer = await loadTokenizer(spec);
    // GPT-2's tokenizer has no pad token; ours adds one after the vocabulary (PAD ≠ EOS).
    if (tokenizer.vocabSize > model.config.vocabSize) model.resizeTokenEmbeddings(tokenizer.vocabSize);
    return { model, tokenizer, source: spec };
  }
  // A config file: ours (camelCase GPTConfig) or Hugging Face's (config.json keys).
  const cfg = readJsonFile(spec);
  const tokenizer = new ByteTokenizer();
  const config = 'n_embd' in cfg ? gptConfigFromHF(cfg, spec) : { vocabSize: tokenizer.vocabSize, ...(cfg as Partial<GPTConfig>) };
  try {
    return { model: GPT.create(config as GPTConfig, { device: device as never }), tokenizer, source: spec };
  } catch (err) {
    throw new Error(`${spec}: ${(err as Error).message}`);
  }
}

export const hasWeights = (dir: string): boolean => existsSync(join(dir, 'model.safetensors'));
