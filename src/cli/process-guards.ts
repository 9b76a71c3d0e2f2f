// What the `rlhf` process does when something escapes the command itself, so that the user sees
// one line, never a raw Node stack trace, and never a silent exit 0 with the work undone:
// - a closed stdout (`rlhf dpo --help | head -3`): the reader took what it wanted, so the command
//   ends quietly with exit 0, as Node CLIs do (epipebomb, exit-on-epipe); except while a command
//   has output it has not delivered yet (`rlhf generate`'s answers), which is then an error;
// - an exception thrown from a timer or a promise left rejected, typically by a user's reward
//   function: one line naming the reward when the error comes from its code (reward-call.ts);
// - the event loop running dry while the command still awaits something that can no longer
//   settle (a reward's promise that nothing will resolve): a non-zero exit that says so.
import { fstatSync, readFileSync, statSync } from 'node:fs';
import { pendingRewards, rewardInContext } from '../rewards/reward-call.js';

/** Set while a command's output has not reached stdout: a closed stdout is then this error, not a quiet end. */
let undelivered: string | null = null;

/** Marks a command's output as not yet delivered (a message says what is lost) or, with null, as delivered. */
export function setUndeliveredOutput(message: string | null): void {
  undelivered = message;
}

const fail = (line: string, err?: unknown): never => {
  process.stderr.write(`rlhf: ${line}\n`);
  if (process.env.RLHF_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
};

const isClosedPipe = (err: unknown): boolean => (err as NodeJS.ErrnoException | null)?.code === 'EPIPE';

/** The exit code set so far (a failure keeps its code when the output is cut short), else 0. */
const exitCodeSoFar = (): number => (typeof process.exitCode === 'number' ? process.exitCode : 0);

/** The end of a command whose stdout was closed by its reader. */
export function stdoutClosed(): never {
  if (undelivered) fail(undelivered);
  process.exit(exitCodeSoFar());
}

/** The first line of an error's message. */
export const firstLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

function escaped(err: unknown): void {
  if (isClosedPipe(err)) stdoutClosed();
  const reward = rewardInContext();
  fail(reward ? `reward function '${reward}' failed: ${firstLine(err)}` : `uncaught error: ${firstLine(err)}`, err);
}

/**
 * Whether stdout is closed (`rlhf generate >&-`): Node then opens /dev/null read-write in its
 * place, where a shell's `> /dev/null` opens it write-only. Linux only; elsewhere false.
 */
export function stdoutIsClosed(): boolean {
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/fdinfo/1', 'utf8'));
    const out = fstatSync(1);
    return !!flags && (Number.parseInt(flags[1]!, 8) & 3) === 2 && out.isCharacterDevice() && out.rdev === statSync('/dev/null').rdev;
  } catch {
    return false;
  }
}

/** Runs the command (`run`) as the `rlhf` process, with the guards installed first. */
export function guardProcess<T>(run: () => Promise<T>): Promise<T> {
  let settled = false;
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (err) => {
      if (!isClosedPipe(err)) throw err;
      if (stream === process.stdout) stdoutClosed();
      process.exit(exitCodeSoFar()); // stderr is gone: nothing is left to say anything on
    });
  process.on('uncaughtException', escaped);
  process.on('unhandledRejection', escaped);
  process.on('beforeExit', () => {
    if (settled) return;
    const rewards = pendingRewards();
    fail(
      rewards.length
        ? `reward function ${rewards.map((r) => `'${r}'`).join(', ')} never returned its scores and nothing else was left to run ` +
            '(its promise can no longer settle); the run stopped unfinished'
        : 'the command stopped unfinished: it awaited a promise that nothing was left to settle (a reward function or callback?)',
    );
  });
  return run().finally(() => {
    settled = true;
  });
}
