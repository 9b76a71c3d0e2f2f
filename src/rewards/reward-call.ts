// Calling a user's reward function, which is code the library cannot vouch for: each call runs
// in an async context that carries the reward's name, so an error it throws later from a timer
// or a promise it leaves unhandled can still be traced to it (rewardInContext, read by the
// `rlhf` command's last-resort handlers), and each call must settle within `rewardTimeout`
// seconds, as requests to a vLLM-style reward server time out: a reward that never settles
// fails the run with an error naming it instead of stalling training forever.
import { AsyncLocalStorage } from 'node:async_hooks';

/** The seconds a reward function may take to score one batch when no config says (the online configs' rewardTimeout). */
export const DEFAULT_REWARD_TIMEOUT = 300;

const context = new AsyncLocalStorage<string>();
const pending = new Map<number, string>();
let calls = 0;

/** The reward whose code (or a timer, callback or promise it started) is running now, if any. */
export function rewardInContext(): string | undefined {
  return context.getStore();
}

/** The rewards whose calls have not settled yet, by name. */
export function pendingRewards(): string[] {
  return [...new Set(pending.values())];
}

/** The error of a reward call that did not settle within its time limit. */
export class RewardTimeoutError extends Error {
  override name = 'RewardTimeoutError';
}

/**
 * `call()` as reward `name`: in its own async context, and rejected with a RewardTimeoutError
 * after `timeoutSeconds` (0: no limit). The limit's timer keeps the process alive while it waits.
 */
export async function callReward<T>(name: string, timeoutSeconds: number, call: () => T | Promise<T>): Promise<T> {
  const id = ++calls;
  pending.set(id, name);
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = context.run(name, async () => call());
    if (!(timeoutSeconds > 0)) return await result;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RewardTimeoutError(
              `reward function '${name}' did not return its scores within ${timeoutSeconds} s (rewardTimeout: raise it, or 0 for no ` +
                'limit, if the reward is slow rather than stuck)',
            ),
          ),
        timeoutSeconds * 1000,
      );
    });
    return await Promise.race([result, limit]);
  } finally {
    clearTimeout(timer);
    pending.delete(id);
  }
}
