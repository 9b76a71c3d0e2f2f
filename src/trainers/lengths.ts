// Default generation lengths that fit the model: TRL's defaults (PPO's 53 new tokens, GRPO's 256
// completion tokens, the CLI's 64) assume models of 1,024 positions or more. When the caller
// leaves the length unset, it is capped at half the model's positions, so that a small model
// keeps room for its prompt; a length given explicitly is kept and checked as given.

/** `given`, or else `fallback` capped at half of `blockSize` (at least 1). */
export function newTokensFor(given: number | undefined, fallback: number, blockSize: number): number {
  return given ?? Math.max(1, Math.min(fallback, Math.floor(blockSize / 2)));
}
