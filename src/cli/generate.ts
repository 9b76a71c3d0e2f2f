// rlhf generate: a trained model's answers to prompts given as arguments, in a --prompts file
// (written as {prompt, completion} lines, as `rlhf score` and `rlhf sft` read them) or typed
// at the terminal.
import { appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadPromptDataset } from '../data/datasets.js';
import { GPT } from '../models/gpt.js';
import { parseDevice } from '../tensor/types.js';
import { generateText } from '../text/generate.js';
import type { Prompt } from '../tokenizers/prompt.js';
import { pickDevice } from '../trainers/trainer.js';
import { loadData, requireFile, str, type Opts } from './inputs.js';
import { tokenizerOf } from './lora.js';
import { setUndeliveredOutput, stdoutIsClosed } from './process-guards.js';
import { promptLoop } from './repl.js';
import { samplingFromFlags } from './sampling.js';

export async function generate(args: string[], o: Opts): Promise<void> {
  const dir = requireFile(str(o, 'model'), '--model');
  const outFile = o.out ? str(o, 'out') : null;
  if (!outFile && stdoutIsClosed())
    throw new Error('stdout is closed, so the answers would be lost: give --out answers.jsonl, or redirect stdout to a file');
  // Bad data fails before the model is loaded.
  const prompts = o.prompts ? [...args, ...(await loadData(loadPromptDataset, o, '--prompts')).map((e) => e.prompt)] : args;
  const device = pickDevice(parseDevice(o.device ?? 'auto', '--device', true));
  const model = await GPT.load(dir, { device, baseModel: o.baseModel as string | undefined });
  const tok = await tokenizerOf(dir, model);
  const sampling = samplingFromFlags(o, model);
  const answer = (batch: Prompt[]): Promise<string[]> => generateText(model, tok, batch, sampling);
  if (outFile) {
    mkdirSync(dirname(outFile), { recursive: true });
    rmSync(outFile, { force: true });
  }
  if (prompts.length === 0) {
    if (!process.stdin.isTTY)
      throw new Error('no prompts: give them as arguments, with --prompts file.jsonl, or run in a terminal for an interactive prompt');
    await promptLoop(answer);
    return;
  }
  const batchSize = Number(o.batchSize ?? 16);
  // A reader that closes the pipe after some answers (`| head`) ends the command quietly; one
  // gone before the first answer reached it loses them all, which is an error.
  if (!outFile)
    setUndeliveredOutput('generate: stdout was closed before any answer was written, so the answers are lost (give --out answers.jsonl)');
  let empty = 0;
  for (let i = 0; i < prompts.length; i += batchSize) {
    const batch = prompts.slice(i, i + batchSize);
    const answers = await answer(batch);
    // TRL's {prompt, completion}: the rows `rlhf score` (and SFT) read.
    const lines = batch.map((p, j) => JSON.stringify({ prompt: p, completion: answers[j] }));
    empty += answers.filter((a) => a.trim() === '').length;
    if (outFile) appendFileSync(outFile, `${lines.join('\n')}\n`);
    else {
      await writeStdout(`${lines.join('\n')}\n`);
      setUndeliveredOutput(null);
    }
  }
  if (outFile) console.error(`rlhf generate: ${prompts.length} answers${empty ? ` (${empty} empty)` : ''} → ${outFile}`);
  model.dispose();
}

/** Writes to stdout and waits until the text is handed over, or the stream fails (a closed pipe: process-guards.ts). */
const writeStdout = (text: string): Promise<void> =>
  new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
