// The test tiers. `npm test` (CI) runs every test file. `npm run test:unit` runs the files below:
// the ones that test the library in-process in a few seconds each and need no Chromium, no Python,
// no npm or tsc, no end-to-end `rlhf` training run and no GPU (the CUDA file skips without one). A
// few start a short Node child on dist/, as the full suite does, so dist/ must be built
// (`npm run build:ts`). vitest.config.ts makes them its 'unit' project and every other test file
// its 'integration' project, so a new file runs in `npm test` whether or not it is listed here;
// test/tiers.test.ts checks that the names are real and that none of these needs what the tier
// goes without.

/** The unit tier: file names under test/. Measured at 35 s in all on the 2-core development machine. */
export const UNIT_TESTS: readonly string[] = [
  // Tensors, ops, autograd and modules.
  'ops.test.ts',
  'attention.test.ts',
  'gradcheck.test.ts',
  'modules.test.ts',
  'optim.test.ts',
  'memory.test.ts',
  'robustness.test.ts',
  'errors.test.ts',
  'fuzz.test.ts',
  'device-names.test.ts',
  'cuda.test.ts',
  'libtorch.test.ts',
  // Files, data and tokenizers.
  'safetensors.test.ts',
  'data.test.ts',
  'records.test.ts',
  'tokenizers.test.ts',
  'hf-tokenizer.test.ts',
  // Models and text generation.
  'gpt.test.ts',
  'gpt-checkpoint.test.ts',
  'forward-paths.test.ts',
  'text.test.ts',
  // Trainers on tiny models, their math and rewards.
  'trainers.test.ts',
  'checkpoints.test.ts',
  'starting-point.test.ts',
  'held-out.test.ts',
  'ppo.test.ts',
  'ppo-math.test.ts',
  'dpo.test.ts',
  'grpo.test.ts',
  'grpo-trl.test.ts',
  'rewards-builtin.test.ts',
  'ranking-accuracy.test.ts',
  'lora-trainers.test.ts',
  // The bundled tasks and the report's data.
  'demo-task.test.ts',
  'arithmetic-task.test.ts',
  'report-runs.test.ts',
  // The config field tables, and this list itself.
  'config-fields.test.ts',
  'tiers.test.ts',
];
