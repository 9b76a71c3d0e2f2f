// Writes the bundled demo task's data (src/demo/task.ts, seed 1234) as TRL JSONL files:
// data/demo/{sft,preferences,prompts,eval_prompts}.jsonl. The files are committed; running this
// again must give identical bytes (test/demo-task.test.ts checks). Needs dist/ (npm run build:ts).
// Usage: node scripts/make-demo-data.mjs [outDir]   (default: data/demo in the repository)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// The module itself, not dist/index.js: generating data should not need the native addon.
import { demoTaskFiles, makeDemoTask } from '../dist/demo/task.js';

const SEED = 1234;
const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = resolve(process.argv[2] ?? join(root, 'data', 'demo'));

mkdirSync(outDir, { recursive: true });
const task = makeDemoTask(SEED);
for (const [name, text] of Object.entries(demoTaskFiles(task))) writeFileSync(join(outDir, name), text);
console.log(
  `wrote ${outDir}: ${task.sft.length} demonstrations, ${task.preferences.length} rankings, ` +
    `${task.prompts.length} PPO prompts, ${task.evalPrompts.length} eval prompts (seed ${SEED})`,
);
