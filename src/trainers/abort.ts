// Cancelling a run: train({ signal }) takes an AbortSignal, as fetch does. The run checks it
// before every step and after every micro-batch (whose forward and backward are awaited, so an
// abort from a server's request handler is seen within one micro-batch), and then rejects with
// a DOMException named 'AbortError'. A checkpoint is never interrupted (it is written into a
// temporary folder and renamed), so the last complete one stays, and the optimizer step of the
// interrupted step is not taken: the model holds the weights of the last finished step.

/** The options of every trainer's train(). */
export interface TrainOptions {
  /** Stops the run within one micro-batch when aborted; train() then rejects with an AbortError. */
  signal?: AbortSignal | null;
}

/** The signal of train()'s options, checked. */
export function trainSignal(options: TrainOptions | undefined, who: string): AbortSignal | null {
  if (options === undefined || options === null) return null;
  if (typeof options !== 'object') throw new TypeError(`${who}.train: options must be an object such as { signal }`);
  const { signal } = options;
  if (signal === undefined || signal === null) return null;
  if (!(signal instanceof AbortSignal)) throw new TypeError(`${who}.train: signal must be an AbortSignal (from an AbortController)`);
  return signal;
}

/** Throws the run's AbortError when the signal is aborted: its reason if that is one, else a new one caused by the reason. */
export function throwIfAborted(signal: AbortSignal | null): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof DOMException && reason.name === 'AbortError') throw reason;
  const err = new DOMException(`The training run was aborted${reason instanceof Error ? `: ${reason.message}` : ''}`, 'AbortError');
  Object.defineProperty(err, 'cause', { value: reason, configurable: true, writable: true });
  throw err;
}
