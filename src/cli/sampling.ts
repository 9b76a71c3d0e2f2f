// The sampling flags that the commands which generate share (`rlhf generate`, `rlhf label`):
// declared once, read once, with the length checked against the model before any prompt is read.
import type { Command } from 'commander';
import type { GPT } from '../models/gpt.js';
import { generationLengths, type GenerateTextOptions } from '../text/generate.js';
import type { Opts } from './inputs.js';
import { kebab } from './options.js';

/** --max-new-tokens, --temperature (default `temperature`), --top-k, --top-p, --greedy, --seed. */
export function addSamplingFlags(cmd: Command, temperature = '0.7'): Command {
  return cmd
    .option('--max-new-tokens <n>', "new tokens per answer (default 64, at most half the model's positions)")
    .option('--temperature <t>', 'sampling temperature', temperature)
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', '0')
    .option('--top-p <p>', 'nucleus sampling (1 = off)', '1')
    .option('--greedy', 'pick the most likely token')
    .option('--seed <n>', 'seed for reproducible sampling');
}

/** The sampling options given by the flags, checked (numbers, and the answer length against the model's positions). */
export function samplingFromFlags(o: Opts, model: GPT): GenerateTextOptions {
  const sampling = {
    maxNewTokens: o.maxNewTokens === undefined ? undefined : Number(o.maxNewTokens),
    temperature: Number(o.temperature ?? 0.7),
    topK: Number(o.topK ?? 0),
    topP: Number(o.topP ?? 1),
    greedy: !!o.greedy,
    seed: o.seed === undefined ? undefined : Number(o.seed),
  };
  for (const [k, v] of Object.entries(sampling))
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`--${kebab(k)} expects a number`);
  // Checked before any prompt is read: the default fits the model, a given length must.
  try {
    generationLengths(model, sampling.maxNewTokens);
  } catch (e) {
    throw new Error(`--${(e as Error).message.replace('maxNewTokens', 'max-new-tokens')}`);
  }
  return sampling;
}
