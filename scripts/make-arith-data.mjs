// Writes the bundled arithmetic task (src/demo/arithmetic.ts, seed 1234) as TRL JSONL files:
// data/arith/{sft,prompts,eval,prefs}.jsonl. The files are committed; running this again must
// give identical bytes (test/arithmetic-task.test.ts checks). Needs dist/ (npm run build:ts).
// Usage: node scripts/make-arith-data.mjs [outDir]   (default: data/arith in the repository)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// The module itself, not dist/index.js: generating data should not need the native addon.
import { arithmeticTaskFiles, makeArithmeticTask } from '../dist/demo/arithmetic.js';

const SEED = 1234;
const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = resolve(process.argv[2] ?? join(root, 'data', 'arith'));

mkdirSync(outDir, { recursive: true });
const task = makeArithmeticTask(SEED);
for (const [name, text] of Object.entries(arithmeticTaskFiles(task))) writeFileSync(join(outDir, name), text);
console.log(
  `wrote ${outDir}: ${task.sft.length} demonstrations, ${task.prompts.length} training prompts, ` +
    `${task.eval.length} held-out prompts, ${task.preferences.length} preference pairs (seed ${SEED})`,
);
