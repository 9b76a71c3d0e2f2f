// What `--help` says about the model presets (`--model tiny` …): each preset's architecture and
// size, from MODEL_PRESETS itself, so the help cannot drift from what the presets make.
import { MODEL_PRESETS } from './models.js';

/** "tiny (GPT-2: 2 layers, 2 heads, width 64, 128 positions), …" */
export function describePresets(): string {
  return Object.entries(MODEL_PRESETS)
    .map(([name, p]) => {
      const arch =
        p.arch === 'llama'
          ? `Llama: ${p.nLayer} layers, ${p.nHead} query / ${'nKvHead' in p ? p.nKvHead : p.nHead} key-value heads`
          : `GPT-2: ${p.nLayer} layers, ${p.nHead} heads`;
      return `${name} (${arch}, width ${p.nEmbd}, ${p.blockSize} positions)`;
    })
    .join(', ');
}

/** The help text after a command that takes a preset as --model. */
export const presetsHelpText = (): string =>
  `\nModel presets (fresh, randomly initialised models with the byte-level tokenizer, 259 ids):\n  ` +
  `${describePresets()}.\nOtherwise --model names a model directory (Hugging Face layout: GPT-2, Llama, Qwen2, Mistral; or a ` +
  'run directory).';
