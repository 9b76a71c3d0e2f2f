// A small seeded PRNG, so that data splits and data order are reproducible from a seed
// (Math.random cannot be seeded). Not for anything security-related.

/** A generator of uniform floats in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a 32-bit-state generator, fast and good enough for shuffling data. The seed must
 * be a safe integer; it is reduced to 32 bits (seeds equal modulo 2^32 give the same stream).
 */
export function mulberry32(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new TypeError(`mulberry32: seed must be a safe integer, got ${seed}`);
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of `array` in place (every order equally likely); returns `array`. */
export function shuffle<T>(array: T[], rng: Rng): T[] {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = array[i] as T;
    array[i] = array[j] as T;
    array[j] = tmp;
  }
  return array;
}
