// DPO: preference pairs ({prompt, chosen, rejected}) straight into the policy, no reward model;
// the reference is a frozen copy of the starting policy. The rows can be given in code, in the
// same shapes as the JSONL files.
//
//   npx tsc -p examples && node examples/dist/dpo.js   (TINY=1 for a seconds-long run)
import { join } from 'node:path';
import { ByteTokenizer, DPOTrainer, GPT, loadPreferencePairDataset, textLogprobs, type PreferencePairRecord } from 'torch-rlhf';

const tiny = process.env.TINY === '1';
const out = process.env.OUT ?? 'runs/example-dpo';
// The task's files ship with the package: data/arith/ beside its dist/.
const data = new URL('../data/arith/', import.meta.resolve('torch-rlhf')).pathname;

const fromFile = (await loadPreferencePairDataset(join(data, 'prefs.jsonl'))).examples.slice(0, tiny ? 16 : 1000);
const inCode: PreferencePairRecord[] = [
  { prompt: 'What is 2+2? Answer as n', chosen: ' 4', rejected: ' 5' },
  {
    prompt: [{ role: 'user', content: 'What is 3+3?' }],
    chosen: [{ role: 'assistant', content: '6' }],
    rejected: [{ role: 'assistant', content: '7' }],
  },
];

const tokenizer = new ByteTokenizer();
const model = process.env.POLICY
  ? await GPT.load(process.env.POLICY)
  : GPT.create({ vocabSize: tokenizer.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 32 });
const before = textLogprobs(model, tokenizer, ['What is 2+2? Answer as n'], [' 4'])[0]!.logprob;
const trainer = new DPOTrainer({
  model,
  tokenizer,
  trainDataset: [...fromFile, ...inCode],
  config: {
    outputDir: out,
    beta: 0.1,
    lossType: 'sigmoid',
    learningRate: 5e-4,
    batchSize: 8,
    maxSteps: tiny ? 2 : 200,
    progressBar: !tiny,
  },
});
const r = await trainer.train();
const after = textLogprobs(model, tokenizer, ['What is 2+2? Answer as n'], [' 4'])[0]!.logprob;
console.log(
  `DPO: ${r.globalStep} steps, reward accuracy ${r.metrics['rewards/accuracies']}, ` +
    `log p(" 4") ${before.toFixed(2)} → ${after.toFixed(2)}`,
);
trainer.dispose();
model.dispose();
