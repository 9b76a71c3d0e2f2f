// A Hugging Face model directory (config.json + model.safetensors + tokenizer files), here the
// tiny GPT-2 in test/fixtures/gpt2-tiny: load it, generate from text, fine-tune it a little and
// save it back in the layout transformers' from_pretrained reads.
//
//   npx tsc -p examples && node examples/dist/hf-model.js [model-dir]   (TINY=1 for a seconds-long run)
import { join } from 'node:path';
import { GPT, SFTTrainer, generateText, loadTokenizer, type SFTRecord } from 'torch-rlhf';

const tiny = process.env.TINY === '1';
const dir = process.argv[2] ?? new URL('../test/fixtures/gpt2-tiny', import.meta.resolve('torch-rlhf')).pathname;
const out = process.env.OUT ?? 'runs/example-hf';

const model = await GPT.load(dir); // GPT-2 or the Llama family, by config.json's model_type
const tokenizer = await loadTokenizer(dir); // GPT-2's BPE here; any tokenizer.json otherwise
// GPT-2's tokenizer has no pad token; ours adds one after the vocabulary, so the embedding grows by a row.
if (tokenizer.vocabSize > model.config.vocabSize) model.resizeTokenEmbeddings(tokenizer.vocabSize);
console.log('before:', await generateText(model, tokenizer, ['Hello, my name is'], { maxNewTokens: 8, greedy: true }));

const rows: SFTRecord[] = Array.from({ length: 32 }, (_, i) => ({ prompt: `Q${i % 4}:`, completion: ` answer ${i % 4}` }));
const trainer = new SFTTrainer({
  model,
  tokenizer,
  trainDataset: rows,
  config: { outputDir: out, learningRate: 1e-3, maxSteps: tiny ? 2 : 50, batchSize: 8, progressBar: !tiny },
});
await trainer.train(); // writes model.safetensors, config.json and the tokenizer files to `out`
trainer.dispose();
model.dispose();

const reloaded = await GPT.load(out);
console.log(
  'after:',
  await generateText(reloaded, await loadTokenizer(out), ['Q1:'], { maxNewTokens: 8, greedy: true }),
  `(saved in ${join(out)})`,
);
reloaded.dispose();
