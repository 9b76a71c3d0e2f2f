// Who labels what next in `rlhf label`. Each prompt needs `perPrompt` judgements from different
// people (1 by default; more to measure agreement). A person asking for work gets a lease on the
// first prompt that still needs one and that they have neither done nor skipped; a lease expires
// after `leaseMs`, so a closed tab does not hold a prompt forever. Asking again while holding a
// lease returns the same one (a reloaded page). What is done comes from the output file, so a
// restart resumes where the last one stopped.
import { randomBytes } from 'node:crypto';

export interface LabelItem {
  prompt: string;
  /** The answers to judge, distinct, in a fixed order (the page shows them shuffled per lease). */
  answers: string[];
}

export interface Lease {
  id: string;
  item: number;
  annotator: string;
  expires: number;
  /** The order the page shows the answers in (indices into the item's answers). */
  shown: number[];
}

export class LabelQueue {
  private readonly doneBy: Set<string>[];
  private readonly leases = new Map<string, Lease>();
  private readonly skipped = new Map<string, Set<number>>();
  private readonly byPrompt: Map<string, number>;

  constructor(
    readonly items: readonly LabelItem[],
    readonly perPrompt = 1,
    readonly leaseMs = 600_000,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.doneBy = items.map(() => new Set());
    this.byPrompt = new Map(items.map((it, i) => [it.prompt, i]));
  }

  /** Records a judgement already in the output file (a restart). Prompts no longer in the list are ignored. */
  markDone(prompt: string, annotator: string): void {
    const i = this.byPrompt.get(prompt);
    if (i !== undefined) this.doneBy[i]!.add(annotator);
  }

  private isDone(i: number): boolean {
    return this.doneBy[i]!.size >= this.perPrompt;
  }

  /** The lease of the next prompt for `annotator`, or null when nothing is left for them. */
  next(annotator: string): Lease | null {
    const t = this.now();
    for (const l of this.leases.values()) {
      if (l.annotator !== annotator) continue;
      if (this.isDone(l.item) || this.doneBy[l.item]!.has(annotator)) this.leases.delete(l.id);
      else {
        l.expires = t + this.leaseMs;
        return l;
      }
    }
    const skipped = this.skipped.get(annotator);
    for (let i = 0; i < this.items.length; i++) {
      if (this.isDone(i) || this.doneBy[i]!.has(annotator) || skipped?.has(i)) continue;
      const leased = [...this.leases.values()].filter((l) => l.item === i && l.expires > t).length;
      if (this.doneBy[i]!.size + leased >= this.perPrompt) continue;
      const shown = this.items[i]!.answers.map((_, k) => k);
      for (let k = shown.length - 1; k > 0; k--) {
        const j = Math.floor(this.random() * (k + 1));
        [shown[k], shown[j]] = [shown[j]!, shown[k]!];
      }
      const lease = { id: randomBytes(9).toString('hex'), item: i, annotator, expires: t + this.leaseMs, shown };
      this.leases.set(lease.id, lease);
      return lease;
    }
    return null;
  }

  /** The lease `id` held by `annotator`, to submit it; an expired lease still counts while its prompt needs the judgement. */
  take(id: string, annotator: string): Lease {
    const l = this.leases.get(id);
    if (!l || l.annotator !== annotator) throw new Error('unknown lease: reload the page');
    if (this.doneBy[l.item]!.has(annotator)) throw new Error('you have already labelled this prompt');
    return l;
  }

  /** Marks a lease's prompt as done by its holder and ends the lease. */
  complete(l: Lease): void {
    this.doneBy[l.item]!.add(l.annotator);
    this.leases.delete(l.id);
  }

  /** Ends a lease without a judgement; its holder is not offered that prompt again in this session. */
  skip(id: string, annotator: string): void {
    const l = this.take(id, annotator);
    this.leases.delete(id);
    const s = this.skipped.get(annotator) ?? new Set<number>();
    s.add(l.item);
    this.skipped.set(annotator, s);
  }

  progress(): { done: number; left: number; total: number } {
    const done = this.items.filter((_, i) => this.isDone(i)).length;
    return { done, left: this.items.length - done, total: this.items.length };
  }
}
