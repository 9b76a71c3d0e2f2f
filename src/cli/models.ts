// What `--model` can name for `rlhf sft`: a preset, a config.json, or a model directory
// (GPT-2 or the Llama family, by its config.json's model_type).
import type { Device } from '../tensor/types.js';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GPT, type ModelConfigInput } from '../models/gpt.js';
import { modelConfigFromHF, readJsonFile, type LoadDType } from '../models/gpt-checkpoint.js';
import { ByteTokenizer } from '../tokenizers/byte-tokenizer.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { hasLora } from '../lora/adapter.js';
import { tokenizerOf } from './lora.js';

type Preset = ModelConfigInput extends infer T ? (T extends unknown ? Omit<T, 'vocabSize'> : never) : never;
/** Fresh models with the byte tokenizer, for training from scratch: GPT-2 sizes, and a Llama-style one (GQA, SwiGLU, RoPE). */
export const MODEL_PRESETS: Record<string, Preset> = {
  tiny: { blockSize: 128, nLayer: 2, nHead: 2, nEmbd: 64 },
  small: { blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 128 },
  medium: { blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384 },
  'llama-tiny': { arch: 'llama', blockSize: 128, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 64, intermediateSize: 172 },
};

/**
 * `baseModel`: the base of a directory that holds a PEFT adapter (--base-model); `dtype`: what a
 * model directory loads in (a preset or a config file starts from random float32 weights).
 */
export async function modelFromSpec(
  spec: string,
  device: Device,
  baseModel?: string,
  dtype: LoadDType = 'float32',
): Promise<{ model: GPT; tokenizer: Tokenizer; source: string }> {
  const preset = MODEL_PRESETS[spec];
  if (preset) {
    const tokenizer = new ByteTokenizer();
    return {
      model: GPT.create({ vocabSize: tokenizer.vocabSize, ...preset } as ModelConfigInput, { device }),
      tokenizer,
      source: `preset '${spec}'`,
    };
  }
  if (!existsSync(spec))
    throw new Error(`--model: '${spec}' is not a preset (${Object.keys(MODEL_PRESETS).join(', ')}), a config.json or a model directory`);
  if (statSync(spec).isDirectory()) {
    const model = await GPT.load(spec, { device, baseModel, dtype });
    const tokenizer = await tokenizerOf(spec, model);
    // GPT-2's tokenizer has no pad token; ours adds one after the vocabulary (PAD ≠ EOS).
    if (tokenizer.vocabSize > model.config.vocabSize) {
      model.resizeTokenEmbeddings(tokenizer.vocabSize);
      // Under an adapter the base stays frozen, the grown embedding too.
      if (hasLora(model)) model.tokenEmbedding.requiresGrad_(false);
    }
    return { model, tokenizer, source: `${spec} (${model.tokenEmbedding.dtype})` };
  }
  // A config file: ours (camelCase, GPTConfig or LlamaConfig) or Hugging Face's (config.json keys).
  const cfg = readJsonFile(spec);
  const tokenizer = new ByteTokenizer();
  const isHF = ['model_type', 'n_embd', 'hidden_size'].some((k) => k in cfg);
  const config = isHF ? modelConfigFromHF(cfg, spec) : { vocabSize: tokenizer.vocabSize, ...(cfg as Partial<ModelConfigInput>) };
  try {
    return { model: GPT.create(config as ModelConfigInput, { device }), tokenizer, source: spec };
  } catch (err) {
    throw new Error(`${spec}: ${(err as Error).message}`);
  }
}

export const hasWeights = (dir: string): boolean => existsSync(join(dir, 'model.safetensors'));
