// What one person's judgement of one prompt becomes in the output file of `rlhf label`, in each
// mode, and the checks on what the page sends. Every line carries `annotator` and `timestamp`,
// which the loaders ignore:
//   rank   {prompt, completions: [best, …, worst], ties?, unacceptable?}: the K-wise rows that
//          `rlhf rm` reads. `ties` lists groups of positions in `completions` the person judged
//          equal, `unacceptable` the positions marked unacceptable (always ranked last); the reward
//          model trains on the order and ignores both (they are kept for filtering and statistics).
//   pairs  {prompt, chosen, rejected, unacceptable?}: TRL's preference rows for DPO and `rlhf rm`;
//          `unacceptable` holds 'chosen' and/or 'rejected'.
//   binary {prompt, completion, label}: one line per answer, TRL's unpaired (KTO) rows.

export const LABEL_MODES = ['rank', 'pairs', 'binary'] as const;
export type LabelMode = (typeof LABEL_MODES)[number];

/** A judgement as the page sends it, answer indices into the item's `answers`. */
export interface Submission {
  /** rank and pairs: every answer index, best first. */
  order?: number[];
  /** rank: groups of answer indices judged equal. */
  ties?: number[][];
  /** rank and pairs: answer indices marked unacceptable. */
  unacceptable?: number[];
  /** binary: a thumbs up (true) or down (false) per answer, in the item's order. */
  labels?: boolean[];
}

const isIndexList = (x: unknown, n: number): x is number[] =>
  Array.isArray(x) && x.every((i) => Number.isInteger(i) && i >= 0 && i < n) && new Set(x).size === x.length;

/** Checks a submission for an item with `n` answers; throws a message for the page otherwise. */
export function parseSubmission(mode: LabelMode, n: number, body: unknown): Submission {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('expected a JSON object');
  const b = body as Record<string, unknown>;
  if (mode === 'binary') {
    if (!Array.isArray(b.labels) || b.labels.length !== n || !b.labels.every((l) => typeof l === 'boolean'))
      throw new Error(`'labels' must hold true or false for each of the ${n} answers`);
    return { labels: b.labels as boolean[] };
  }
  if (!isIndexList(b.order, n) || b.order.length !== n) throw new Error(`'order' must list each of the ${n} answers once, best first`);
  const unacceptable = b.unacceptable ?? [];
  if (!isIndexList(unacceptable, n)) throw new Error("'unacceptable' must list answer indices");
  const ties = b.ties ?? [];
  if (!Array.isArray(ties) || !ties.every((g) => isIndexList(g, n) && g.length >= 2))
    throw new Error("'ties' must be a list of groups of at least 2 answer indices");
  if (mode === 'pairs' && ties.length) throw new Error('pairs cannot hold a tie: skip the prompt instead');
  return { order: b.order, unacceptable, ties: ties as number[][] };
}

/** The output lines (objects) for one judgement. */
export function recordsFor(
  mode: LabelMode,
  item: { prompt: string; answers: readonly string[] },
  s: Submission,
  annotator: string,
  timestamp: string,
): Record<string, unknown>[] {
  const who = { annotator, timestamp };
  if (mode === 'binary') return item.answers.map((completion, i) => ({ prompt: item.prompt, completion, label: s.labels![i], ...who }));
  const order = s.order!;
  const pos = (i: number): number => order.indexOf(i);
  const unacceptable = (s.unacceptable ?? []).map(pos).sort((a, b) => a - b);
  if (mode === 'pairs') {
    const names = unacceptable.map((p) => (p === 0 ? 'chosen' : 'rejected'));
    return [
      {
        prompt: item.prompt,
        chosen: item.answers[order[0]!],
        rejected: item.answers[order[1]!],
        ...(names.length ? { unacceptable: names } : {}),
        ...who,
      },
    ];
  }
  const ties = (s.ties ?? []).map((g) => g.map(pos).sort((a, b) => a - b));
  return [
    {
      prompt: item.prompt,
      completions: order.map((i) => item.answers[i]),
      ...(ties.length ? { ties } : {}),
      ...(unacceptable.length ? { unacceptable } : {}),
      ...who,
    },
  ];
}

/** The prompt and annotator of an output line (any mode), or throws naming the field. */
export function labelOf(value: unknown): { prompt: string; annotator: string; mode: LabelMode } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('expected a JSON object');
  const v = value as Record<string, unknown>;
  if (typeof v.prompt !== 'string') throw new Error("field 'prompt' must be a string");
  if (typeof v.annotator !== 'string') throw new Error("field 'annotator' must be a string");
  const mode: LabelMode | null = Array.isArray(v.completions) ? 'rank' : 'chosen' in v ? 'pairs' : 'label' in v ? 'binary' : null;
  if (!mode) throw new Error("expected 'completions', 'chosen' and 'rejected', or 'completion' and 'label'");
  return { prompt: v.prompt, annotator: v.annotator, mode };
}
