// Long synchronous work done in pieces, with the event loop let in between: the async twins of
// work that copies or fills many tensors (a checkpoint's bytes, the optimizer's moments on the
// first step), so that a server that trains in its process answers meanwhile (docs/guide.md,
// "Training inside a service"). A turn costs tens of microseconds; one every few megabytes
// keeps the longest stall near a millisecond or two of copying.

/** Bytes of work between two turns of the event loop. */
export const BYTES_PER_TURN = 8 << 20;

/**
 * A counter of work done: `await turns.after(bytes)` yields a turn of the event loop
 * (setImmediate) once BYTES_PER_TURN bytes have been done since the last one.
 */
export function eventLoopTurns(bytesPerTurn = BYTES_PER_TURN): { after(bytes: number): Promise<void> | undefined } {
  let done = 0;
  return {
    after(bytes: number) {
      done += bytes;
      if (done < bytesPerTurn) return undefined;
      done = 0;
      return new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}
