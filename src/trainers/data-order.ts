// The order a run reads its data in: passes over the data (epochs of examples for SFT, RM and
// DPO; passes over the prompts for PPO, GRPO and RLOO), each pass a seeded shuffle of its own, and
// a position { pass, offset } that a checkpoint saves so that a resumed run reads on exactly
// where the killed one stopped. The supervised stages take a batch within one pass (the last
// batch of an epoch may be short); the online stages take prompts across passes (a batch is
// always full, wrapping into the next pass).
import { mulberry32, shuffle } from '../data/random.js';

/** Where a run stands in its data: passes done, and items of the current pass already consumed. */
export interface DataPosition {
  pass: number;
  offset: number;
}

/** The seeded order of one pass over `size` items (each stage seeds its passes its own way). */
const passOrder = (size: number, seed: number): number[] => shuffle([...Array(size).keys()], mulberry32(seed));

/**
 * The indices of the next batch of at most `n` items of one pass (examples per epoch: SFT, RM,
 * DPO), in an order reshuffled every pass; a pass that is used up starts the next one first.
 */
export function nextInPass(position: DataPosition, size: number, n: number, seed: number): number[] {
  if (position.offset >= size) {
    position.pass++;
    position.offset = 0;
  }
  const ids = passOrder(size, seed * 1000003 + position.pass).slice(position.offset, position.offset + n);
  position.offset += ids.length;
  return ids;
}

/** The indices of the next `n` items, running on into the next pass where one ends (prompts per pass: PPO, GRPO, RLOO). */
export function nextAcrossPasses(position: DataPosition, size: number, n: number, seed: number): number[] {
  const out: number[] = [];
  let order: number[] | null = null;
  while (out.length < n) {
    if (position.offset >= size) {
      position.pass++;
      position.offset = 0;
      order = null;
    }
    order ??= passOrder(size, seed * 7919 + position.pass);
    out.push(order[position.offset++]!);
  }
  return out;
}
