// `rlhf generate` without prompts, on a terminal: a prompt loop that answers each line typed
// until an empty line or Ctrl-D.
import { createInterface } from 'node:readline/promises';

/** Reads prompts from the terminal one line at a time and prints each answer. */
export async function promptLoop(answer: (prompts: string[]) => Promise<string[]>): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  console.log('Type a prompt (empty line or Ctrl-D to quit).');
  for (;;) {
    const line = await rl.question('> ').catch(() => '');
    if (!line) break;
    console.log((await answer([line]))[0]);
  }
  rl.close();
}
