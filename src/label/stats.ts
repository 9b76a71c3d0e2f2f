// `rlhf label --stats`: how many judgements each annotator made, and how far annotators agree on
// the prompts that more than one of them judged: Kendall's tau between their rankings (over the
// answers both ranked; 1 = the same order, -1 = reversed), and for pairs and binary labels the
// share of annotator pairs that agree.
import { readFileSync } from 'node:fs';
import { labelOf, type LabelMode } from './records.js';

export interface LabelStats {
  lines: number;
  byAnnotator: Record<string, number>;
  /** Per mode present in the file: the annotator pairs compared and their mean agreement. */
  agreement: Partial<Record<LabelMode, { comparisons: number; value: number }>>;
}

/** Kendall's tau-a between two rankings (best first) over the items both hold; null with fewer than 2 in common. */
export function kendallTau(a: readonly string[], b: readonly string[]): number | null {
  const rankB = new Map(b.map((x, i) => [x, i]));
  const common = a.filter((x) => rankB.has(x));
  if (common.length < 2) return null;
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < common.length; i++)
    for (let j = i + 1; j < common.length; j++) {
      sum += Math.sign(rankB.get(common[j]!)! - rankB.get(common[i]!)!);
      pairs++;
    }
  return sum / pairs;
}

export function labelStats(path: string): LabelStats {
  const byAnnotator: Record<string, number> = {};
  // Per mode: the judgements grouped by what was judged, each as [annotator, value].
  const groups: Record<LabelMode, Map<string, [string, unknown][]>> = { rank: new Map(), pairs: new Map(), binary: new Map() };
  const lines = readFileSync(path, 'utf8').split('\n');
  let n = 0;
  lines.forEach((text, i) => {
    if (text.trim() === '') return;
    let v: Record<string, unknown>;
    let l: ReturnType<typeof labelOf>;
    try {
      v = JSON.parse(text);
      l = labelOf(v);
    } catch (e) {
      throw new Error(`${path}:${i + 1}: ${(e as Error).message}`);
    }
    n++;
    byAnnotator[l.annotator] = (byAnnotator[l.annotator] ?? 0) + 1;
    const [key, value] =
      l.mode === 'rank'
        ? [l.prompt, v.completions]
        : l.mode === 'pairs'
          ? [JSON.stringify([l.prompt, [v.chosen, v.rejected].sort()]), v.chosen]
          : [JSON.stringify([l.prompt, v.completion]), v.label];
    const g = groups[l.mode].get(key) ?? [];
    g.push([l.annotator, value]);
    groups[l.mode].set(key, g);
  });
  const agreement: LabelStats['agreement'] = {};
  for (const mode of ['rank', 'pairs', 'binary'] as const) {
    if (groups[mode].size === 0) continue;
    let sum = 0;
    let comparisons = 0;
    for (const g of groups[mode].values())
      for (let i = 0; i < g.length; i++)
        for (let j = i + 1; j < g.length; j++) {
          if (g[i]![0] === g[j]![0]) continue;
          const s = mode === 'rank' ? kendallTau(g[i]![1] as string[], g[j]![1] as string[]) : g[i]![1] === g[j]![1] ? 1 : 0;
          if (s === null) continue;
          sum += s;
          comparisons++;
        }
    agreement[mode] = { comparisons, value: comparisons ? sum / comparisons : Number.NaN };
  }
  return { lines: n, byAnnotator, agreement };
}

/** The stats as the command prints them. */
export function formatLabelStats(path: string, s: LabelStats): string {
  const out = [`${path}: ${s.lines} judgement(s)`];
  for (const [who, count] of Object.entries(s.byAnnotator).sort((a, b) => b[1] - a[1])) out.push(`  ${who}: ${count}`);
  const names = { rank: "Kendall's tau between rankings", pairs: 'agreement rate on pairs', binary: 'agreement rate on labels' };
  for (const [mode, a] of Object.entries(s.agreement) as [LabelMode, { comparisons: number; value: number }][])
    out.push(
      a.comparisons
        ? `${names[mode]}: ${a.value.toFixed(3)} over ${a.comparisons} pair(s) of annotators on the same prompt`
        : `${names[mode]}: no prompt was judged by more than one annotator`,
    );
  return out.join('\n');
}
